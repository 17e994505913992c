"""The service in-process: its ASGI app (with the API guard) and the Predictor behind it."""

from __future__ import annotations

import gc

import numpy as np
import orjson
import pytest
from starlette.testclient import TestClient

from serving.guard import ApiGuard
from serving.predictor import Predictor, dumps
from serving.schemas import PredictRequest
from tests.serving.test_schemas import SAME_PROBLEM, csv_problems, record_problems
from training.loading import ModelNotFoundError, load_model
from training.scoring import predict_cohort

GAINS = ("pfs_gain_6mo", "pfs_gain_12mo", "rmst_gain_12mo")


@pytest.fixture(scope="module")
def asgi_app(trained_model):
    """BentoML's ASGI app of the service, started once (its Prometheus metrics are global)."""
    import os
    from unittest import mock

    from common.settings import get_settings
    from serving.service import BenefitService

    # no registry polling: this in-process service outlives the tests that set other stores
    # as MLflow's process-wide URI, and must not touch them (the hot swap has its own tests)
    env = {"MLFLOW_TRACKING_URI": trained_model.tracking_uri,
           "ABSCOPAL_TRACKING_URI": trained_model.tracking_uri,
           "ABSCOPAL_MODEL_POLL_SECONDS": "0"}
    with mock.patch.dict(os.environ, env):
        get_settings.cache_clear()
        app = BenefitService.to_asgi()
        with TestClient(app, raise_server_exceptions=False) as client:
            yield app, client
    get_settings.cache_clear()


@pytest.fixture
def client(asgi_app, champion):
    return asgi_app[1]


def test_predict_response_shape(client, trial_records):
    response = client.post("/predict", json={"patients": [*trial_records, {}]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [p["patient_id"] for p in body["predictions"]] == [
        *(r["patient_id"] for r in trial_records), "patient-4"]
    for p in body["predictions"]:
        assert p["survival"]["months"] == [i / 2 for i in range(49)]
        for arm in ("ici", "rt_ici"):
            curve = np.array(p["survival"][arm])
            assert curve[0] == 1.0 and np.all(np.diff(curve) <= 1e-12)
        for k in GAINS:
            # lower <= estimate <= upper holds by construction (the interval is widened to
            # contain the estimate); tested instead: the members disagree, so the interval is not
            # a point, and the bounds are on the estimand's scale (months for the RMST gain)
            b = p["benefit"][k]
            bound = 12.0 if k.startswith("rmst") else 1.0
            assert -bound <= b["lower"] < b["upper"] <= bound
        assert 0 <= p["probability_of_benefit"] <= 1
        assert p["recommendation"] in {"add_rt", "no_added_benefit", "uncertain"}
        assert all({"feature", "value", "contribution_months", "direction"} <= set(d)
                   for d in p["drivers"])
    empty = body["predictions"][-1]
    imputed = empty["warnings"][0]
    assert imputed.startswith("missing, imputed by the model: ")
    assert "age" in imputed.split(": ", 1)[1].split(", ")
    model = body["model"]
    assert model["name"] == "rt-benefit" and model["version"] and model["run_id"]
    assert len(model["training_data_fingerprint"]) == 64
    assert model["synthetic"] is True and "not a medical device" in model["notice"]


def test_prediction_equals_abscopal_predict(champion, client, trial_records, tmp_path):
    table = predict_cohort(None, champion.cohort, tmp_path / "pred.csv").set_index("patient_id")
    body = client.post("/predict", json={"patients": trial_records}).json()
    for p in body["predictions"]:
        row = table.loc[p["patient_id"]]
        for k in GAINS:
            for part, column in (("estimate", k), ("lower", f"{k}_lower"),
                                 ("upper", f"{k}_upper")):
                assert p["benefit"][k][part] == pytest.approx(row[column], rel=1e-9, abs=1e-12)
        assert p["probability_of_benefit"] == pytest.approx(row["probability_of_benefit"])
        assert p["recommendation"] == row["recommendation"]
        assert p["survival"]["ici"][12] == pytest.approx(row["s_ici_6mo"], abs=1e-6)


def test_out_of_range_inputs_are_flagged(client):
    body = client.post("/predict", json={"patients": [{"tmb": 900, "age": 60}]}).json()
    assert any(w.startswith("tmb=900 outside the training range") for w in
               body["predictions"][0]["warnings"])


@pytest.mark.parametrize(("body", "path"), [
    (b'{"patients": [{', "body"),
    (b'{"patients": [{"pdl1_tps": 101}]}', "patients[0].pdl1_tps"),
    (b'{"patients": [{"tmb": -2}]}', "patients[0].tmb"),
    (b'{"patients": [{"age": "old"}]}', "patients[0].age"),
    (b'{"patients": [{"ecog": 2.5}]}', "patients[0].ecog"),
    (b'{"patients": [{"ecog": 1}, {"prior_lines": 1.7}]}', "patients[1].prior_lines"),
    (b'{"patients": [{"smoker": true}]}', "patients[0].smoker"),
    (b'{"patients": [{"patient_id": "a"}, {"patient_id": "a"}]}', "patients[1].patient_id"),
    (b'{"patients": []}', "patients"),
    (b'{"patient": []}', "patient"),
    (b"[]", "body"),
])
def test_bad_requests_get_400_with_a_path(client, body, path):
    response = client.post("/predict", content=body,
                           headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    document = response.json()
    assert document["error"]
    assert path in [p["path"] for p in document["problems"]]


@pytest.mark.parametrize(("field", "value", "cell", "message"), SAME_PROBLEM)
def test_a_bad_value_over_http_reads_as_in_a_csv_and_a_record(client, tmp_path, field, value,
                                                              cell, message):
    """The same (path, message) as raw_inputs_from_records; the same message as the CSV reader
    (tests/serving/test_schemas.py checks those two)."""
    response = client.post("/predict", json={"patients": [{"age": 60}, {field: value}]})
    assert response.status_code == 400
    assert response.json()["problems"] == [{"path": f"patients[1].{field}", "message": message}]
    assert record_problems({field: value}) == [(f"patients[1].{field}", message)]
    assert csv_problems(tmp_path, field, cell) == [(field, message)]


def test_more_than_the_limit_is_refused(client):
    response = client.post("/predict", json={"patients": [{}] * 1001})
    assert response.status_code == 400
    assert "1000" in response.json()["problems"][0]["message"]


def test_model_card(client, champion):
    card = client.get("/model").json()
    assert card["model"]["run_id"] == champion.result.run_id
    assert "benefit_loss" in card["metrics"]["holdout"]
    assert card["metrics"]["cv"]
    assert card["training_data"]["fingerprint"]["n"] == 400
    features = {f["name"]: f for f in card["features"]}
    assert "pdl1_tps" in features and "unit" in features["pdl1_tps"]
    assert "research" in card["intended_use"].lower()
    assert any("not a medical device" in limit.lower() for limit in card["limits"])


def test_probes(client):
    # /metrics needs the real server's Prometheus set-up: tested in test_server.py.
    assert client.get("/livez").status_code == 200
    assert client.get("/readyz").status_code == 200


def test_bearer_token_and_size_limit(asgi_app, champion):
    app = ApiGuard(asgi_app[0], api_token="s3cret", max_request_bytes=2_000)
    client = TestClient(app)  # the service instance was started by the module's client
    assert client.post("/predict", json={"patients": [{}]}).status_code == 401
    wrong = {"authorization": "Bearer nope"}
    assert client.get("/model", headers=wrong).status_code == 401
    good = {"authorization": "Bearer s3cret"}
    assert client.post("/predict", json={"patients": [{}]}, headers=good).status_code == 200
    # the scheme is case-insensitive (RFC 7235); the token is not
    assert client.get("/model", headers={"authorization": "bearer s3cret"}).status_code == 200
    assert client.get("/model", headers={"authorization": "Bearer S3CRET"}).status_code == 401
    assert client.get("/model", headers={"authorization": "Basic s3cret"}).status_code == 401
    assert client.get("/livez").status_code == 200  # probes stay open
    big = client.post("/predict", json={"patients": [{"age": 60}] * 300}, headers=good)
    assert big.status_code == 413 and big.json()["problems"][0]["path"] == "body"


def test_in_process_predictor_matches_http(client, champion, trial_records):
    predictor = Predictor(load_model())
    request = PredictRequest.model_validate({"patients": trial_records})
    direct = orjson.loads(dumps(predictor.predict(request.patients)))
    over_http = client.post("/predict", json={"patients": trial_records}).json()
    assert direct["predictions"] == over_http["predictions"]


def test_no_model_refuses_to_start():
    from serving.service import load_predictor

    with pytest.raises(ModelNotFoundError, match="abscopal train"):
        load_predictor()


def test_model_load_freezes_gc(champion):
    from serving.service import load_predictor

    gc.unfreeze()
    load_predictor()
    assert gc.get_freeze_count() > 10_000  # the model's objects are out of the collector's way
    gc.unfreeze()


def test_cli_serve_without_model_names_the_training_command():
    from typer.testing import CliRunner

    from abscopal.cli import app

    result = CliRunner().invoke(app, ["serve", "--port", "3999"])
    assert result.exit_code == 2
    assert "abscopal train" in result.output.replace("\n", " ")


def test_curve_bands_over_http_only_when_asked(client, trial_records):
    bands = {"ici_lower", "ici_upper", "rt_ici_lower", "rt_ici_upper"}
    plain = client.post("/predict", json={"patients": trial_records[:1]})
    assert not bands & set(plain.json()["predictions"][0]["survival"])
    banded = client.post("/predict", json={"patients": trial_records[:1], "curve_bands": True})
    assert bands <= set(banded.json()["predictions"][0]["survival"])
    for wrong in ("yes", 1, None):  # a JSON boolean only
        refused = client.post("/predict", json={"patients": trial_records[:1],
                                                "curve_bands": wrong})
        assert refused.status_code == 400
        assert refused.json()["problems"] == [{"path": "curve_bands",
                                               "message": "Input should be a valid boolean"}]
