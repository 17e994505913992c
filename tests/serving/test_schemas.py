"""The request contract: the input contract (cohorts/contract.py), every field optional, errors per
JSON path; a bad value reads the same in a CSV, a record and a request."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cohorts.contract import error_problems
from cohorts.schema import BASELINE_COLUMNS, NUMERIC_BASELINE
from features import RecordError, raw_inputs_from_records
from serving.guard import rewrite_error
from serving.predictor import json_path
from serving.schemas import Patient, PredictRequest


def problems(body: dict) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        PredictRequest.model_validate(body)
    return {json_path(e["loc"]): e["msg"] for e in info.value.errors()}


def test_fields_come_from_the_cohort_schema():
    fields = set(Patient.model_fields)
    assert set(BASELINE_COLUMNS) <= fields
    assert fields - set(BASELINE_COLUMNS) == {"patient_id", "expression", "mutations", "as_given"}
    assert PredictRequest.model_validate({"patients": [{}]}).patients[0].to_record() == {}


@pytest.mark.parametrize("field", list(NUMERIC_BASELINE))
def test_numeric_ranges_are_the_cohort_ranges(field):
    lo, hi = NUMERIC_BASELINE[field]
    PredictRequest.model_validate({"patients": [{field: lo}, {field: hi}]})
    found = problems({"patients": [{field: hi + 1}, {field: lo - 1}]})
    assert set(found) == {f"patients[0].{field}", f"patients[1].{field}"}


def test_one_message_per_offending_field():
    found = problems({"patients": [
        {"pdl1_tps": 101, "tmb": -1, "age": "60", "sex": "X", "kras_mut": 2, "colour": "red"},
        {"expression": {"CD8A": -1.0},
         "mutations": [{"gene": "KRAS", "variant_classification": "x"}]},
    ]})
    assert set(found) == {
        "patients[0].pdl1_tps", "patients[0].tmb", "patients[0].age", "patients[0].sex",
        "patients[0].kras_mut", "patients[0].colour", "patients[1].expression.CD8A",
        "patients[1].mutations[0].variant_classification",
    }
    assert "100" in found["patients[0].pdl1_tps"]
    assert "Extra inputs" in found["patients[0].colour"]


def test_patient_count_and_unknown_top_level_fields():
    assert "patients" in problems({"patients": []})
    assert "patients" in problems({"patients": [{}] * 1001})
    assert "extra" in problems({"patients": [{}], "extra": 1})


def test_flags_accept_booleans_and_records_keep_modalities():
    patient = Patient.model_validate({
        "kras_mut": True, "stk11_mut": 0, "mutations": [],
        "expression": {"CD8A": 12.5},
    })
    assert patient.to_record() == {"kras_mut": 1, "stk11_mut": 0, "expression": {"CD8A": 12.5},
                                   "mutations": []}


def test_framework_errors_become_the_api_error_document():
    pydantic_body = (b'{"error": "1 validation error", '
                     b'"detail": [{"loc": ["patients", 0, "age"], "msg": "bad"}]}')
    assert rewrite_error(pydantic_body) == {
        "error": "invalid request", "problems": [{"path": "patients[0].age", "message": "bad"}]}
    assert rewrite_error(b'{"error": "invalid request", "problems": []}') is None
    assert rewrite_error(b"<html>")["problems"][0]["path"] == "body"


def test_a_models_own_numeric_fields_are_accepted_only_when_it_uses_them(monkeypatch):
    from serving import schemas

    assert "patients[0].cd4" in problems({"patients": [{"cd4": 250}]})
    monkeypatch.setattr(schemas, "_AS_GIVEN", {"cd4"})
    patient = PredictRequest.model_validate({"patients": [{"cd4": 250, "age": 60}]}).patients[0]
    assert patient.to_record() == {"cd4": 250.0, "age": 60.0}
    found = problems({"patients": [{"cd4": "high", "colour": "red"}]})
    assert found == {"patients[0].colour": "Extra inputs are not permitted",
                     "patients[0].cd4": "Input should be a valid number"}
    with pytest.raises(RecordError) as info:  # a record read for the same model: the same words
        raw_inputs_from_records([{"cd4": "high", "colour": "red"}], extra_numeric=["cd4"])
    assert dict(info.value.problems) == found


# The same bad value on the three paths into the model: (field, JSON value, CSV cell, message).
# A CSV cell is text (50 is read as a number), so the not-a-number case is "50%" there.
SAME_PROBLEM = [
    ("ecog", 2.5, "2.5", "Input should be a whole number"),
    ("pdl1_tps", "50", "50%", "Input should be a valid number"),
    ("pdl1_tps", 150, "150", "Input should be less than or equal to 100"),
    ("sex", "X", "X", "Input should be 'F' or 'M'"),
    ("kras_mut", 2, "2", "Input should be 0 or 1"),
    ("pdl1_tsp", 50, "50", "unknown field; did you mean 'pdl1_tps'?"),
]


def csv_problems(tmp_path, column: str, cell: str) -> list[tuple[str | None, str]]:
    from cohorts import CohortFormatError, read_clinical

    path = tmp_path / "clinical.csv"
    path.write_text(f"patient_id,age,{column}\nP1,60,{cell}\n")
    with pytest.raises(CohortFormatError) as info:
        read_clinical(path, endpoint=None)
    return [(p.column, p.message) for p in info.value.problems if p.column is not None]


def record_problems(patient: dict) -> list[tuple[str, str]]:
    with pytest.raises(RecordError) as info:
        raw_inputs_from_records([{"patient_id": "P1", "age": 60}, patient])
    return info.value.problems


@pytest.mark.parametrize(("field", "value", "cell", "message"), SAME_PROBLEM)
def test_a_bad_value_reads_the_same_in_a_csv_a_record_and_a_request(
        tmp_path, field, value, cell, message):
    from serving.validation import check_request

    assert csv_problems(tmp_path, field, cell) == [(field, message)]
    assert record_problems({field: value}) == [(f"patients[1].{field}", message)]
    checked = check_request({"patients": [{"age": 60}, {field: value}]})
    assert checked.items == [(f"patients[1].{field}", message)]
    with pytest.raises(ValidationError) as info:  # the request model alone, without the guard
        Patient.model_validate({field: value})
    assert error_problems(info.value, ("patients", 1)) == [(f"patients[1].{field}", message)]


def test_other_unknown_names_are_refused_in_records_and_requests_carried_in_a_csv(tmp_path):
    from cohorts import read_clinical
    from serving.validation import check_request

    refused = [("patients[1].colour", "Extra inputs are not permitted")]
    assert record_problems({"colour": "red"}) == refused
    assert check_request({"patients": [{}, {"colour": "red"}]}).items == refused
    path = tmp_path / "clinical.csv"
    path.write_text("patient_id,age,colour\nP1,60,red\n")
    assert read_clinical(path, endpoint=None)["colour"].tolist() == ["red"]
