"""The request limits admit the largest legal request (serving/sizing.py), and the value limit
refuses a body of many tiny values before it is parsed (issue 13, bounded work per request)."""

from __future__ import annotations

import orjson
from starlette.testclient import TestClient

from common.settings import Settings
from serving.guard import ApiGuard
from serving.schemas import PredictRequest
from serving.sizing import largest_legal_patient, largest_legal_request


def test_the_limits_admit_the_largest_legal_request():
    body = largest_legal_request()
    settings = Settings()
    assert len(body) <= settings.max_request_bytes
    assert body.count(b",") < settings.max_request_values
    # legal indeed: the schema accepts it (every patient, every field)
    request = PredictRequest.model_validate_json(largest_legal_request(patients=3))
    assert len(request.patients) == 3 and len(request.patients[0].mutations) == 100


def guarded(max_request_values: int) -> tuple[TestClient, list]:
    reached = []

    async def app(scope, receive, send):  # the framework: records what reaches it
        reached.append(scope["path"])
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b"{}"})

    guard = ApiGuard(app, max_request_bytes=1_000_000, max_request_values=max_request_values,
                     limits=None, head_timeout=None, body_timeout=None)
    return TestClient(guard), reached


def test_too_many_values_are_refused_before_parsing():
    client, reached = guarded(max_request_values=1_000)
    many = orjson.dumps({"patients": [{}] * 1_001})  # 1,000 commas
    answer = client.post("/predict", content=many, headers={"content-type": "application/json"})
    assert answer.status_code == 413 and not reached
    assert answer.json()["problems"][0]["path"] == "body"
    assert "more than 1000 JSON values" in answer.json()["problems"][0]["message"]
    # one comma fewer is parsed and checked as usual: 1,000 empty patients are legal
    fewer = orjson.dumps({"patients": [{}] * 1_000})
    assert fewer.count(b",") == 999
    assert client.post("/predict", content=fewer,
                       headers={"content-type": "application/json"}).status_code == 200
    one = orjson.dumps({"patients": [largest_legal_patient(0)]})
    assert one.count(b",") < 1_000
    ok = client.post("/predict", content=one, headers={"content-type": "application/json"})
    assert ok.status_code == 200 and reached == ["/predict", "/predict"]
