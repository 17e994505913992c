"""Abuse of a live server on 127.0.0.1 (issue 13, items 1-3): validation amplification, patient
data in the log, metrics cardinality. Bounded: one server, one worker, a few MB per request."""

from __future__ import annotations

import time
import uuid

import httpx
import orjson
import pytest

from serving.process import ServerProcess

TOKEN = "adversarial-token"
AUTH = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}
# s per refused request: robust on a loaded 2-core machine (docs/benchmarks.md, "The value limit")
WALL = 1.0


@pytest.fixture(scope="module")
def server(trained_model, tmp_path_factory):
    log = tmp_path_factory.mktemp("abuse") / "server.log"
    process = ServerProcess.abscopal(
        log, tracking_uri=trained_model.tracking_uri,
        env={"ABSCOPAL_API_TOKEN": TOKEN, "ABSCOPAL_WORKERS": "1", "OMP_NUM_THREADS": "1",
             # overload: one request computes, none waits; slow clients cut after 1 s
             "ABSCOPAL_MAX_CONCURRENT_REQUESTS": "1", "ABSCOPAL_MAX_QUEUED_REQUESTS": "0",
             "ABSCOPAL_HEADER_TIMEOUT_SECONDS": "1", "ABSCOPAL_BODY_TIMEOUT_SECONDS": "1"},
    )
    try:
        process.wait_ready(timeout=120)
        yield process
    finally:
        process.stop()


def post(server, body: bytes, headers=AUTH) -> tuple[httpx.Response, float]:
    start = time.perf_counter()
    response = httpx.post(f"{server.url}/predict", content=body, headers=headers, timeout=30)
    return response, time.perf_counter() - start


def test_unknown_field_amplification_is_refused_cheaply(server):
    patients = [{f"unknown_{j}": j for j in range(200)} for _ in range(1000)]
    body = orjson.dumps({"patients": patients})
    response, wall = post(server, body)
    assert response.status_code == 400
    assert wall < WALL, wall
    assert len(response.content) < 5_000
    document = response.json()
    assert len(document["problems"]) == 20
    assert document["more_problems"] == 1000 * 200 - 20
    assert document["problems"][0] == {"path": "patients[0].unknown_0",
                                       "message": "Extra inputs are not permitted"}


def test_huge_unknown_key_is_not_echoed(server):
    key = "K" * 1_000_000
    response, wall = post(server, orjson.dumps({"patients": [{key: "v" * 1000}]}))
    assert response.status_code == 400
    assert wall < WALL, wall
    assert len(response.content) < 1_000
    (problem,) = response.json()["problems"]
    assert len(problem["path"]) <= 100 and problem["path"].startswith("patients[0].KKK")


@pytest.mark.parametrize("bad", [
    {"expression": {f"G{i}": "x" for i in range(50_000)}},
    {"mutations": [{"gene": 1, "variant_classification": 2, "x": 3}] * 15_000},  # < 500k commas
    {"age": "old", "ecog": "x", "pdl1_tps": -1, "tmb": "high"},
])
def test_many_valued_errors_are_bounded(server, bad):
    response, wall = post(server, orjson.dumps({"patients": [bad] * 10}))
    assert response.status_code == 400
    assert wall < WALL, wall
    document = response.json()
    assert len(document["problems"]) <= 20
    assert len(document["problems"]) + document.get("more_problems", 0) >= 10


def test_client_errors_leave_no_patient_data_in_the_log(server):
    sentinels = [f"SENTINEL{i}X{uuid.uuid4().hex[:8]}" for i in range(10)]
    s = sentinels
    bodies = [
        {"patients": [{"patient_id": s[0], s[1]: s[2]}]},                  # unknown field
        {"patients": [{"patient_id": s[0], "age": s[3]}]},                  # wrong type
        {"patients": [{"patient_id": s[0], "age": 987654.25}]},             # out of range
        {"patients": [{"expression": {s[4]: s[5]}}]},                        # bad TPM
        {"patients": [{"mutations": [{"gene": s[6], "variant_classification": s[7]}]}]},
        {"patients": [{"patient_id": s[8]}, {"patient_id": s[8]}]},          # duplicate ids
        {"patients": [{"patient_id": f"{s[9]}-{i}"} for i in range(1001)]},  # too many
    ]
    for body in bodies:
        response, _ = post(server, orjson.dumps(body))
        assert response.status_code == 400, response.text
    malformed, _ = post(server, f'{{"patients": [{{"patient_id": "{s[0]}", '.encode())
    assert malformed.status_code == 400
    too_large = b'{"patients": [{"patient_id": "' + s[1].encode() * 1_000_000 + b'"}]}'
    response, _ = post(server, too_large)
    assert response.status_code == 413
    time.sleep(0.5)  # let the worker flush its log
    log = server.log_tail(None)
    assert "Traceback" not in log
    assert "987654" not in log
    for sentinel in sentinels:
        assert sentinel not in log
    assert log.count("client error: POST /predict -> 400") >= len(bodies) + 1
    assert "client error: POST /predict -> 413" in log


def test_random_paths_make_no_metrics_series(server):
    paths = [f"/probe-{uuid.uuid4().hex}" for _ in range(500)]
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for path in paths:
            assert client.get(path).status_code == 404
        assert client.get("/metrics").status_code == 401  # behind the token
        metrics = client.get("/metrics", headers=AUTH)
    assert metrics.status_code == 200
    assert "bentoml_service_request_total" in metrics.text
    assert "probe-" not in metrics.text
    assert len(metrics.content) < 200_000
    log = server.log_tail(None)
    assert log.count("client error: GET <unknown> -> 404") >= 500
    assert "probe-" not in log  # neither in our line nor in BentoML's access log


@pytest.mark.parametrize("patient", [
    {}, {"age": 64, "sex": "F", "ecog": 1, "pdl1_tps": 0, "tmb": 4.2, "stk11_mut": True},
    {"age": True}, {"age": "64"}, {"age": 1e9}, {"sex": "X"}, {"stk11_mut": 2},
    {"expression": {"CD274": 3.5, "PDCD1": 0}}, {"expression": {"CD274": -1}},
    {"expression": {"CD274": True}}, {"expression": {"CD274": None}}, {"expression": []},
    {"expression": {"CD274": 1e308, "X": 2**70}},
    {"mutations": []},
    {"mutations": [{"gene": "STK11", "variant_classification": "Nonsense_Mutation"}]},
    {"mutations": [{"gene": "STK11"}]},
    {"mutations": [{"gene": "", "variant_classification": "Silent"}]},
    {"mutations": [{"gene": "G" * 65, "variant_classification": "Silent"}]},
    {"mutations": [{"gene": "STK11", "variant_classification": ["x"]}]},
    {"mutations": [{"gene": 5, "variant_classification": "Silent", "x": 1}]},
    {"mutations": [5]}, {"mutations": {}}, {"colour": "red"}, {"patient_id": ""},
])
def test_bounded_checks_agree_with_the_schema(patient):
    """The cheap checks refuse exactly what pydantic refuses (it stays the one set of rules)."""
    from pydantic import ValidationError

    from serving.schemas import PredictRequest
    from serving.validation import check_request

    body = {"patients": [patient, patient]}
    try:
        PredictRequest.model_validate(body)
        valid = True
    except ValidationError as exc:
        valid, expected = False, exc.error_count()
    problems = check_request(body)
    assert (len(problems) == 0) == valid
    if not valid:
        assert len(problems) == expected


@pytest.mark.parametrize(("host", "token", "warned"), [
    ("0.0.0.0", None, True), ("10.1.2.3", None, True), ("example.org", None, True),
    ("127.0.0.1", None, False), ("::1", None, False), ("localhost", None, False),
    ("0.0.0.0", "s3cret", False),
])
def test_serve_warns_off_loopback_without_a_token(monkeypatch, host, token, warned):
    from types import SimpleNamespace

    import bentoml
    from typer.testing import CliRunner

    import training.loading
    from abscopal.cli import app
    from common.settings import get_settings

    loaded = SimpleNamespace(uri="models:/m@champion", version="1", run_id="r",
                             bundle=SimpleNamespace(synthetic=True))
    monkeypatch.setattr(training.loading, "load_model", lambda uri=None: loaded)
    monkeypatch.setattr(bentoml, "serve", lambda *a, **k: None)
    monkeypatch.setenv("ABSCOPAL_MODEL_URI", "models:/m@champion")
    if token:
        monkeypatch.setenv("ABSCOPAL_API_TOKEN", token)
    else:
        monkeypatch.delenv("ABSCOPAL_API_TOKEN", raising=False)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["serve", "--host", host, "--port", "3999"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert ("without an API token" in result.output) == warned


def test_overload_is_shed_with_503_and_retry_after(server):
    """20 clients at once, each 1,000 patients, one slot and no line: those that arrive while
    one computes are refused at once (503, Retry-After, the error document), none fails."""
    from concurrent.futures import ThreadPoolExecutor

    body = orjson.dumps({"patients": [{"age": 60 + i % 20} for i in range(1000)]})
    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda _: post(server, body), range(20)))
    statuses = [r.status_code for r, _ in results]
    assert set(statuses) <= {200, 503}, statuses
    assert statuses.count(200) >= 1 and statuses.count(503) >= 1, statuses
    for response, _ in results:
        if response.status_code == 503:
            assert int(response.headers["retry-after"]) >= 1
            assert response.json()["error"] == "server busy"
            assert len(response.content) < 500
    refused = [wall for r, wall in results if r.status_code == 503]
    served = [wall for r, wall in results if r.status_code == 200]
    assert min(refused) < max(served)  # refused without waiting for every computation
    assert "busy: POST /predict -> 503" in server.log_tail(None)


def test_a_half_open_request_is_dropped_by_the_live_server(server):
    """Headers never finished, or a body that never comes: the connection is closed (408 for
    the body) after the 1 s bounds of this server, not held."""
    import socket

    head = b"POST /predict HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode()
    body_missing = head + b"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
    for sent, reply_start in ((head, b""), (body_missing, b"HTTP/1.1 408")):
        with socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock:
            sock.sendall(sent)
            start = time.perf_counter()
            reply = b""
            while chunk := sock.recv(65536):
                reply += chunk
            assert time.perf_counter() - start < 5.0
        assert reply.startswith(reply_start), reply[:100]


def test_a_text_body_is_415(server):
    text = {**AUTH, "content-type": "text/plain"}
    response, _ = post(server, b'{"patients": [{}]}', headers=text)
    assert response.status_code == 415
    assert response.json()["problems"] == [{"path": "headers.content-type",
                                            "message": "expected application/json"}]
