"""Every input a prediction's warning names is one POST /predict accepts (issue 14: a warning
asked for ``wnt_mut``, which the API refused as an unknown field)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from features import FEATURE_SPECS
from serving.schemas import FIELD_DOCS, Patient, allow_as_given
from training.bundle import ModelBundle
from training.prognosis_bundle import PROGNOSIS_FEATURE

IMPUTED = "missing, imputed by the model: "
FILES_ONLY = "missing, imputed by the model (from a cohort directory's tcr/ or ctdna.csv only"
RANGE = re.compile(r"^(?P<feature>[\w.]+)=\S+ outside the training range \[[^\]]*\]"
                   r"(?: \(computed from (?P<inputs>[\w, ]+)\)"
                   r"| \((?P<files>from the cohort's .*)\))?$")
AS_GIVEN = "cd4"  # a trial's own column a model uses as given (ACTG 320)


@pytest.fixture
def bundle() -> ModelBundle:
    """A bundle whose features are every feature the pipeline builds, a column used as given and
    the prognosis model's risk; the training range of each is [0, 0]."""
    info = {s.name: {"group": s.group, "timepoint": s.timepoint} for s in FEATURE_SPECS}
    info[AS_GIVEN] = {"group": "clinical (as given)", "timepoint": "baseline"}
    info[PROGNOSIS_FEATURE] = {"group": "prognosis", "timepoint": "baseline"}
    model = ModelBundle(estimator=None, feature_info=info, training={})
    model.ranges_ = {name: (0.0, 0.0) for name in info}
    return model


def named_fields(warnings: list[str]) -> tuple[list[str], list[str]]:
    """(inputs a warning asks the user to send, features said to come from files only)."""
    fields, files = [], []
    for warning in warnings:
        if warning.startswith(IMPUTED):
            fields += warning.removeprefix(IMPUTED).split(", ")
        elif warning.startswith(FILES_ONLY):
            files += warning.split(": ", 1)[1].split(", ")
        else:
            match = RANGE.match(warning)
            assert match, f"a warning of unknown form: {warning!r}"
            if match["files"]:
                files.append(match["feature"])
            else:
                fields += (match["inputs"] or match["feature"]).split(", ")
    return fields, files


def example(field: str):
    if field == "expression":
        return {"CD8A": 1.0}
    if field == "mutations":
        return []
    if field == AS_GIVEN:
        return 1.0
    return FIELD_DOCS[field][4]


def test_every_input_a_warning_names_is_accepted_by_the_api(bundle):
    names = bundle.feature_names
    X = pd.DataFrame([np.full(len(names), np.nan), np.full(len(names), 5.0)], columns=names,
                     index=pd.Index(["imputed", "outside"], name="patient_id"))
    warnings = bundle.input_warnings(X)
    fields, files = named_fields(warnings[0] + warnings[1])
    assert fields and set(fields) >= {"age", "sex", "histology", "wnt_mut", "expression",
                                      "pdl1_tps", "nlr", "ldh", AS_GIVEN}
    assert not {"sex_male", "histology_adenocarcinoma", "lipi", "cold_tumour", "ifng_6",
                PROGNOSIS_FEATURE} & set(fields)  # derived features are never asked for
    allow_as_given([AS_GIVEN])  # what loading this model does
    try:
        for field in dict.fromkeys(fields):
            Patient.model_validate({field: example(field)})  # raises on an unknown field
    finally:
        allow_as_given([])
    # features of files the API does not take are named as such, never as fields to send
    spec_group = {s.name: s.group for s in FEATURE_SPECS}
    assert files and {spec_group[f] for f in files} == {"tcr", "ctdna"}
    assert any(w.startswith(FILES_ONLY) and "POST /predict does not take them" in w
               for w in warnings[0])


def test_wnt_mut_is_a_field_of_the_api_and_of_clinical_csv():
    from cohorts.schema import CLINICAL_SCHEMA

    assert Patient.model_validate({"wnt_mut": 1}).wnt_mut == 1
    assert "wnt_mut" in CLINICAL_SCHEMA.columns
