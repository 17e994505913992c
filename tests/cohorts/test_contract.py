"""The input contract is defined once (cohorts/contract.py): the CSV schema, the request model and
the docs table are derived from its table, and say the same thing."""

from __future__ import annotations

from pathlib import Path

import pytest

from cohorts import contract
from cohorts.contract import FIELDS, PatientRecord, docs_with_table, likely_field, markdown_table
from cohorts.schema import CLINICAL_SCHEMA, INTEGER_BASELINE, NUMERIC_BASELINE

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cohort-format.md"


def test_the_docs_table_is_the_contracts():
    text = DOCS.read_text()
    assert docs_with_table(text) == text, "run: .venv/bin/python -m cohorts.docs"
    assert markdown_table() in text
    for spec in FIELDS:
        assert f"| `{spec.name}` |" in text


def test_a_change_to_the_table_changes_the_docs(monkeypatch):
    text = DOCS.read_text()
    ecog = contract.FIELD["ecog"]
    changed = tuple(contract.FieldSpec(**{**ecog.__dict__, "range": (0, 5)}) if s is ecog else s
                    for s in FIELDS)
    monkeypatch.setattr(contract, "FIELDS", changed)
    assert docs_with_table(text) != text and "| `ecog` | no | 0-5, whole |" in markdown_table()


def test_the_csv_schema_and_the_model_come_from_the_table():
    fields = PatientRecord.model_fields
    for spec in FIELDS:
        assert spec.name in CLINICAL_SCHEMA.columns and spec.name in fields
        column = CLINICAL_SCHEMA.columns[spec.name]
        if spec.kind == "number":
            assert NUMERIC_BASELINE[spec.name] == spec.range
            assert (spec.name in INTEGER_BASELINE) == spec.whole
            checks = {c.name for c in column.checks}
            assert "in_range" in checks and ("whole_number" in checks) == spec.whole
        if spec.kind == "category":
            assert column.checks[0].statistics["allowed_values"] == list(spec.values)
    assert set(fields) == {spec.name for spec in FIELDS} | {"expression", "mutations"}


@pytest.mark.parametrize(("name", "likely"), [
    ("pdl1_tsp", "pdl1_tps"), ("Age", "age"), ("expresion", "expression"), ("colour", None),
    ("K" * 100_000, None)])
def test_near_misses(name, likely):
    assert likely_field(name, contract.RECORD_FIELDS) == likely
