"""A real server on 127.0.0.1 (``abscopal serve`` in a subprocess), started once per module."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import bentoml
import httpx
import pytest

from tests.serving.conftest import records_from_csv
from training.scoring import predict_cohort

TOKEN = "test-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(trained_model, tmp_path_factory):
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": trained_model.tracking_uri,
           "ABSCOPAL_TRACKING_URI": trained_model.tracking_uri, "ABSCOPAL_API_TOKEN": TOKEN,
           "BENTOML_DO_NOT_TRACK": "true", "OMP_NUM_THREADS": "1"}
    log = tmp_path_factory.mktemp("server") / "server.log"
    cli = Path(sys.executable).with_name("abscopal")
    with open(log, "w") as out:
        proc = subprocess.Popen([str(cli), "serve", "--host", "127.0.0.1", "--port", str(port)],
                                env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"server exited: {log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail(f"server not ready in 120 s: {log.read_text()[-3000:]}")
        yield url
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)


def test_sync_client_prediction_equals_abscopal_predict(server, champion, tmp_path):
    records = records_from_csv(champion.cohort, 2)
    table = predict_cohort(None, champion.cohort, tmp_path / "p.csv").set_index("patient_id")
    with bentoml.SyncHTTPClient(server, token=TOKEN) as client:
        result = client.predict(patients=records)
    body = result if isinstance(result, dict) else result.model_dump()
    for p in body["predictions"]:
        row = table.loc[p["patient_id"]]
        for k in ("pfs_gain_6mo", "pfs_gain_12mo", "rmst_gain_12mo"):
            assert p["benefit"][k]["estimate"] == pytest.approx(row[k], rel=1e-9)
            assert p["benefit"][k]["lower"] == pytest.approx(row[f"{k}_lower"], rel=1e-9)
            assert p["benefit"][k]["upper"] == pytest.approx(row[f"{k}_upper"], rel=1e-9)
        assert p["recommendation"] == row["recommendation"]
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
    metrics = httpx.get(f"{server}/metrics")
    assert metrics.status_code == 200
    assert "bentoml_service_request_total" in metrics.text
