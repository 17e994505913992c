"""Bounded validation in process (serving/validation.py): once the list of problems is full, the
rest is counted exactly without describing it (issue 13: bounded work per request)."""

from __future__ import annotations

from serving.validation import check_request

GOOD = {"gene": "TP53", "variant_classification": "Frame_Shift_Del"}
BAD = {"gene": "TP53", "variant_classification": "bogus"}  # one problem each


def test_bad_mutations_beyond_the_list_are_counted_one_per_item():
    first = {"mutations": [BAD] * 20}  # fills the list
    rest = [{"mutations": [GOOD, BAD, {"gene": 7}, GOOD, "x"] * 30} for _ in range(9)]
    problems = check_request({"patients": [first, *rest]})
    assert len(problems.items) == 20
    assert problems.items[0] == ("patients[0].mutations[0].variant_classification",
                                 problems.items[0][1])
    assert problems.more == 9 * 30 * 3  # BAD, {"gene": 7} and "x": three bad items per 5


def test_a_full_list_mid_patient_counts_the_rest_of_that_patient():
    patient = {"mutations": [GOOD, *[BAD] * 25, GOOD]}
    problems = check_request({"patients": [patient]})
    last = "patients[0].mutations[20].variant_classification"
    assert problems.items[-1][0] == last
    assert problems.more == 5
