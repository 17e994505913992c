"""A real server on 127.0.0.1 (``abscopal serve`` in a subprocess), started once per module."""

from __future__ import annotations

import bentoml
import httpx
import pytest

from serving.process import ServerProcess
from tests.serving.conftest import assert_response_matches_table, records_from_csv
from training.scoring import predict_cohort

TOKEN = "test-token"


@pytest.fixture(scope="module")
def server(trained_model, tmp_path_factory):
    log = tmp_path_factory.mktemp("server") / "server.log"
    process = ServerProcess.abscopal(
        log, tracking_uri=trained_model.tracking_uri,
        env={"ABSCOPAL_API_TOKEN": TOKEN, "OMP_NUM_THREADS": "1"},
    )
    try:
        process.wait_ready(timeout=120)
        yield process.url
    finally:
        process.stop()


def test_sync_client_prediction_equals_abscopal_predict(server, champion, tmp_path):
    records = records_from_csv(champion.cohort, 2)
    table = predict_cohort(None, champion.cohort, tmp_path / "p.csv").set_index("patient_id")
    with bentoml.SyncHTTPClient(server, token=TOKEN) as client:
        result = client.predict(patients=records)
    body = result if isinstance(result, dict) else result.model_dump()
    assert_response_matches_table(body, table)
    assert body["model"]["synthetic"] is True


def test_plain_http(server, champion):
    auth = {"authorization": f"Bearer {TOKEN}"}
    records = records_from_csv(champion.cohort, 1)
    ok = httpx.post(f"{server}/predict", json={"patients": records}, headers=auth)
    assert ok.status_code == 200
    assert ok.json()["predictions"][0]["patient_id"] == records[0]["patient_id"]
    assert httpx.post(f"{server}/predict", json={"patients": records}).status_code == 401
    bad = httpx.post(f"{server}/predict", content=b'{"patients": [{"pdl1_tps": 101}, {',
                     headers={**auth, "content-type": "application/json"})
    assert bad.status_code == 400 and bad.json()["problems"][0]["path"] == "body"
    card = httpx.get(f"{server}/model", headers=auth).json()
    assert card["model"]["name"] == "rt-benefit"


def test_operations_endpoints(server):
    assert httpx.get(f"{server}/livez").status_code == 200
    assert httpx.get(f"{server}/readyz").status_code == 200
    httpx.post(f"{server}/predict", json={"patients": [{}]},
               headers={"authorization": f"Bearer {TOKEN}"})
    assert httpx.get(f"{server}/metrics").status_code == 401  # behind the token when set
    metrics = httpx.get(f"{server}/metrics", headers={"authorization": f"Bearer {TOKEN}"})
    assert metrics.status_code == 200
    assert "bentoml_service_request_total" in metrics.text
