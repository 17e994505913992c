"""Every caller scores through ``ModelBundle.predict``: the CLI's table, the MLflow pyfunc, the
server's response and the Python API give its numbers for the same patients (SYNTHETIC data)."""

from __future__ import annotations

import mlflow
import numpy as np
import orjson
import pandas as pd
import pytest

from abscopal import api
from models.base import ESTIMANDS, PREDICTION_COLUMNS, SURVIVAL_GRID_MONTHS
from serving.predictor import Predictor, dumps
from serving.schemas import PredictRequest
from tests.serving.conftest import records_from_csv
from training.bundle import ModelBundle
from training.loading import load_model
from training.scoring import predict_cohort

N = 12  # patients scored by every caller


@pytest.fixture
def calls(monkeypatch) -> list[dict]:
    """Each call of ModelBundle.predict: its patients, ``times`` and ``bands``."""
    seen = []
    original = ModelBundle.predict

    def spy(self, X, times=None, bands=False):
        seen.append({"patients": list(X.index), "times": times, "bands": bands})
        return original(self, X, times, bands)

    monkeypatch.setattr(ModelBundle, "predict", spy)
    return seen


def test_cli_pyfunc_server_and_api_all_give_model_bundle_predict(champion, tmp_path, calls):
    records = records_from_csv(champion.cohort, N)
    ids = [r["patient_id"] for r in records]
    bundle = load_model().bundle
    X = bundle.features_for(bundle.raw_from_records(records))
    reference = bundle.predict(X, bands=True)
    expected = reference.to_frame()
    assert list(expected.index) == ids and list(expected.columns) == PREDICTION_COLUMNS
    calls.clear()

    # abscopal predict: the whole cohort, its CSV written from the table (no curves asked)
    cli = predict_cohort(None, champion.cohort, tmp_path / "p.csv").set_index("patient_id")
    assert len(calls) == 1 and len(calls[0]["times"]) == 0 and not calls[0]["bands"]
    pd.testing.assert_frame_equal(cli.loc[ids, PREDICTION_COLUMNS], expected,
                                  check_exact=True, check_names=False)
    written = pd.read_csv(tmp_path / "p.csv", dtype={"patient_id": str}).set_index("patient_id")
    np.testing.assert_allclose(written.loc[ids, "rmst_gain_12mo"], expected["rmst_gain_12mo"],
                               rtol=1e-5)  # "%.6g"

    # the Python API: the CLI's table for records
    calls.clear()
    from_api = api.predict(None, records).set_index("patient_id")
    assert len(calls) == 1 and calls[0]["patients"] == ids
    pd.testing.assert_frame_equal(from_api[PREDICTION_COLUMNS], expected, check_exact=True,
                                  check_names=False)

    # the MLflow pyfunc: the table plus the curves and their bands
    calls.clear()
    pyfunc = mlflow.pyfunc.load_model(champion.result.model_uri)
    frame = pd.DataFrame(records)
    frame = frame.astype({c: float for c in frame.select_dtypes("number").columns})
    out = pyfunc.predict(frame).set_index("patient_id")
    assert len(calls) == 1 and calls[0]["bands"] and calls[0]["times"] is None
    pd.testing.assert_frame_equal(out[PREDICTION_COLUMNS], expected, check_exact=True,
                                  check_names=False, check_dtype=False)
    np.testing.assert_array_equal(np.stack(out["survival_ici"]), reference.survival_ici)
    np.testing.assert_array_equal(np.stack(out["survival_rt_ici_upper"]),
                                  reference.bands.rt_ici_upper)
    np.testing.assert_array_equal(out["months"].iloc[0], SURVIVAL_GRID_MONTHS)

    # the server: its response document, with the bands the page asks for
    predictor = Predictor(load_model())
    calls.clear()
    request = PredictRequest.model_validate({"patients": records, "curve_bands": True})
    body = orjson.loads(dumps(predictor.predict(request.patients, curve_bands=True)))
    assert len(calls) == 1 and calls[0]["bands"] and calls[0]["times"] is None
    for i, p in enumerate(body["predictions"]):
        assert p["patient_id"] == ids[i]
        for k in ESTIMANDS:
            estimate, lower, upper = (v[i] for v in reference.interval(k))
            assert [p["benefit"][k][b] for b in ("estimate", "lower", "upper")] == [
                estimate, lower, upper]
        assert p["probability_of_benefit"] == reference.probability_of_benefit[i]
        assert p["recommendation"] == reference.recommendation[i]
        np.testing.assert_allclose(p["survival"]["rt_ici"], reference.survival_rt_ici[i],
                                   rtol=0, atol=5e-7)  # rounded to 6 decimals
        np.testing.assert_allclose(p["survival"]["ici_lower"], reference.bands.ici_lower[i],
                                   rtol=0, atol=5e-7)
