"""The request contract: built from cohorts.schema, every field optional, errors per JSON path."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cohorts.schema import BASELINE_COLUMNS, NUMERIC_BASELINE
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
    assert set(found) == {"patients[0].as_given.cd4", "patients[0].colour"}
