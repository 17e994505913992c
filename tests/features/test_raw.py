"""raw_inputs_from_records: the column-wise reading (fast path) and the record-by-record reading
(exact problem list) must agree on everything they both read."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest

from cohorts.schema import (
    CATEGORICAL_BASELINE,
    INTEGER_BASELINE,
    MUTATION_FLAGS,
    NUMERIC_BASELINE,
)
from features import RecordError, raw_inputs_from_records
from features.raw import _read_by_column, _read_by_record


def varied_records(n: int, seed: int = 0) -> list[dict]:
    """Valid records with fields missing, null, given late, in any key order, int ids."""
    rng = random.Random(seed)
    records = []
    for i in range(n):
        record = {"patient_id": f"p{i}" if i % 4 else i} if i % 7 else {}
        for key, (lo, hi) in NUMERIC_BASELINE.items():
            if i > 3 and rng.random() < 0.7:
                fraction = rng.uniform(lo, hi) if key not in INTEGER_BASELINE else float(lo)
                record[key] = rng.choice([lo, hi, rng.randint(int(lo + 1), int(hi)), fraction])
            elif rng.random() < 0.2:
                record[key] = None
        for key, levels in CATEGORICAL_BASELINE.items():
            if rng.random() < 0.7:
                record[key] = rng.choice([*levels, None])
        for key in MUTATION_FLAGS:
            if rng.random() < 0.4:
                record[key] = rng.choice([0, 1, 0.0, 1.0])
        if rng.random() < 0.5:
            record["cd4"] = rng.choice([None, 3, 2.5])
        if rng.random() < 0.2:
            record["expression"] = {"IFNG": rng.uniform(0, 50), "NOTAGENE": 1}
        if rng.random() < 0.2:
            record["mutations"] = [{"gene": "KRAS", "variant_classification": "Silent"}] * (i % 3)
        keys = list(record)
        rng.shuffle(keys)
        records.append({k: record[k] for k in keys})
    return records


def test_column_and_record_reading_agree():
    records = varied_records(300)
    by_column = _read_by_column(records, ("cd4",))
    by_record = _read_by_record(records, ("cd4",))
    assert by_column is not None and not by_column.problems
    assert by_column == by_record
    # Same column order: extra columns first, then each field where a record first gives it.
    assert list(by_column.columns) == list(by_record.columns)
    assert list(by_column.columns)[:2] == ["cd4", "sex"]


def test_problems_keep_record_and_field_order():
    records = varied_records(50)
    records[3] = {**records[3], "sex": "X", "zeta": 1, "alpha": 2}
    records[1] = {**records[1], "age": 17, "patient_id": "p5"}  # also a duplicate of p5 later
    records[7] = 5
    with pytest.raises(RecordError) as err:
        raw_inputs_from_records(records, extra_numeric=["cd4"])
    assert err.value.problems == _read_by_record(records, ["cd4"]).problems
    assert err.value.problems[:4] == [
        ("patients[1].age", "Input should be greater than or equal to 18"),
        ("patients[3].sex", "Input should be 'F' or 'M'"),
        ("patients[3].zeta", "Extra inputs are not permitted"),
        ("patients[3].alpha", "Extra inputs are not permitted"),
    ]
    assert ("patients[5].patient_id", "duplicate patient_id 'p5'") in err.value.problems
    assert ("patients[7]", "Input should be a valid dictionary or object") in err.value.problems


def test_numbers_the_column_check_cannot_vouch_for_are_read_record_by_record():
    plain = raw_inputs_from_records([{"patient_id": "a", "age": 60.0, "stk11_mut": 1}])
    for numpy_typed in ({"patient_id": "a", "age": np.float64(60.0), "stk11_mut": np.float64(1)},
                        {"patient_id": "a", "age": np.float32(60.0), "stk11_mut": True}):
        assert _read_by_column([numpy_typed], ()) is None  # not vouched for by the columns
        read = raw_inputs_from_records([numpy_typed])  # the contract's model accepts them
        pd.testing.assert_frame_equal(read.clinical, plain.clinical, check_exact=True)
    with pytest.raises(RecordError, match=r"patients\[0\]\.age: Input should be a valid number"):
        raw_inputs_from_records([{"age": "60"}])


@pytest.mark.parametrize("field", ["ecog", "prior_lines"])
def test_grades_and_line_counts_must_be_whole_numbers_in_records(field):
    good = raw_inputs_from_records([{"patient_id": "a", field: 2}, {"patient_id": "b",
                                                                    field: 1.0}])
    assert good.clinical[field].tolist() == [2, 1]
    with pytest.raises(RecordError) as err:
        raw_inputs_from_records([{"patient_id": "a", field: 1}, {"patient_id": "b", field: 1.5}])
    assert err.value.problems == [(f"patients[1].{field}", "Input should be a whole number")]
