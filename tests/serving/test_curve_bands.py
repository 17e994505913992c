"""The response's per-arm curve intervals: on the documented response model, equal to their
definition computed here (the members' percentiles; lifelines' Kaplan-Meier interval when the
average effect is served), and the same in the MLflow pyfunc's output (SYNTHETIC data)."""

from __future__ import annotations

import copy
import dataclasses

import mlflow
import numpy as np
import orjson
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter

from serving.predictor import Predictor, dumps
from serving.schemas import PredictRequest, PredictResponse
from training.loading import load_model

BANDS = ("ici_lower", "ici_upper", "rt_ici_lower", "rt_ici_upper")


def scored(predictor: Predictor, records: list[dict]) -> tuple[dict, pd.DataFrame]:
    patients = PredictRequest.model_validate({"patients": records}).patients
    body = orjson.loads(dumps(predictor.predict(patients, curve_bands=True)))  # as sent
    PredictResponse.model_validate(body)  # what /docs.json documents
    bundle = predictor.bundle
    return body, bundle.features_for(bundle.raw_from_records([p.to_record() for p in patients]))


def test_individual_effects_band_each_curve_with_the_members_percentiles(champion,
                                                                         trial_records):
    loaded = load_model()
    body, X = scored(Predictor(loaded), [*trial_records, {}])
    alpha = loaded.bundle.alpha
    months = np.array(body["predictions"][0]["survival"]["months"])
    members = [m.predict_survival(X, months) for m in loaded.bundle.estimator.members_]
    for i, p in enumerate(body["predictions"]):
        s = p["survival"]
        for arm, j in (("ici", 0), ("rt_ici", 1)):
            lower, upper = np.array(s[f"{arm}_lower"]), np.array(s[f"{arm}_upper"])
            want = np.quantile([c[j][i] for c in members], [alpha / 2, 1 - alpha / 2], axis=0)
            np.testing.assert_allclose(lower, want[0], rtol=0, atol=5e-7)  # 6 decimals sent
            np.testing.assert_allclose(upper, want[1], rtol=0, atol=5e-7)
            assert len(lower) == len(months) and lower[0] == upper[0] == 1.0
            assert (np.diff(lower) <= 0).all() and (np.diff(upper) <= 0).all()
            assert (upper >= lower).all() and (upper - lower).max() > 0.01


def test_average_effect_bands_are_the_kaplan_meier_intervals(champion, trial_records):
    loaded = load_model()
    bundle = copy.copy(loaded.bundle)
    bundle.selection = {**(bundle.selection or {}), "chosen": "average"}
    assert bundle.serves_average
    body, _ = scored(Predictor(dataclasses.replace(loaded, bundle=bundle)), trial_records[:2])
    trial = pd.read_csv(champion.cohort / "clinical.csv")
    months = np.array(body["predictions"][0]["survival"]["months"])
    for arm, a in (("ici", 0), ("rt_ici", 1)):
        in_arm = trial[trial["arm"] == a]
        ci = KaplanMeierFitter(alpha=bundle.alpha).fit(
            in_arm["pfs_months"], in_arm["pfs_event"]).confidence_interval_
        at = np.searchsorted(ci.index.to_numpy(float), months, side="right") - 1
        for p in body["predictions"]:
            s = p["survival"]
            np.testing.assert_allclose(s[f"{arm}_lower"], ci.to_numpy()[at, 0], atol=5e-7)
            np.testing.assert_allclose(s[f"{arm}_upper"], ci.to_numpy()[at, 1], atol=5e-7)
            curve = np.array(s[arm])
            assert (np.array(s[f"{arm}_lower"]) <= curve).all()
            assert (curve <= np.array(s[f"{arm}_upper"])).all()


def test_pyfunc_carries_the_same_bands_as_the_response(champion, trial_records):
    body, _ = scored(Predictor(load_model()), trial_records)
    model = mlflow.pyfunc.load_model(champion.result.model_uri)
    frame = pd.DataFrame(trial_records)
    numeric = frame.select_dtypes("number").columns
    frame[numeric] = frame[numeric].astype(float)  # the signature's doubles
    out = model.predict(frame).set_index("patient_id")
    for p in body["predictions"]:
        row = out.loc[p["patient_id"]]
        for name in ("ici", "rt_ici", *BANDS):
            assert p["survival"][name] == pytest.approx(row[f"survival_{name}"], abs=5e-7)
        assert p["benefit"]["pfs_gain_12mo"]["lower"] == pytest.approx(
            row["pfs_gain_12mo_lower"], rel=1e-9)


def test_bands_only_when_asked_and_nothing_else_changes(champion, trial_records):
    predictor = Predictor(load_model())
    patients = PredictRequest.model_validate({"patients": trial_records}).patients
    plain = orjson.loads(dumps(predictor.predict(patients)))
    banded = orjson.loads(dumps(predictor.predict(patients, curve_bands=True)))
    for p, b in zip(plain["predictions"], banded["predictions"], strict=True):
        assert not set(BANDS) & set(p["survival"])
        assert {k: v for k, v in b["survival"].items() if k not in BANDS} == p["survival"]
        assert {k: v for k, v in b.items() if k != "survival"} == {
            k: v for k, v in p.items() if k != "survival"}
