"""ASGI middleware in front of the API: bearer-token auth, request size limit, one error format.

Pure ASGI (no per-request objects kept after the response): it runs in front of BentoML's own
app through ``Service.add_asgi_middleware`` and in front of the FastAPI reference app alike.
"""

from __future__ import annotations

import hmac
import json

from serving.predictor import error_document, json_path

# Probes and metrics stay open so orchestrators can reach them without the API token.
OPEN_PATHS = frozenset({"/livez", "/readyz", "/healthz", "/metrics"})


def _send_json(status: int, document: dict, headers: list | None = None):
    body = json.dumps(document).encode()

    async def respond(send):
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()), *(headers or [])]})
        await send({"type": "http.response.body", "body": body})

    return respond


class ApiGuard:
    """Auth and size limits for every path but the probes; rewrites validation errors of the
    framework (pydantic ``loc`` lists, JSON decode errors) into ``{"error", "problems"}``."""

    def __init__(self, app, api_token: str | None = None, max_request_bytes: int = 20_000_000):
        self.app = app
        self.token = f"Bearer {api_token}".encode() if api_token else None
        self.max_request_bytes = max_request_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        if self.token is not None and not hmac.compare_digest(
            headers.get(b"authorization", b""), self.token
        ):
            return await _send_json(
                401, error_document([("headers.authorization", "expected 'Bearer <token>'")],
                                    "missing or wrong API token"),
                [(b"www-authenticate", b"Bearer")],
            )(send)
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_request_bytes):
            return await _send_json(413, self._too_large())(send)
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        # Read the body here, within the limit, so the app never sees an oversized request.
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            body += message.get("body", b"")
            if len(body) > self.max_request_bytes:
                return await _send_json(413, self._too_large())(send)
            if not message.get("more_body"):
                break
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, _ErrorRewriter(send))

    def _too_large(self) -> dict:
        return error_document([("body", f"request larger than {self.max_request_bytes} bytes")],
                              "request too large")


class _ErrorRewriter:
    """Turns the framework's 400/422 bodies into the API's error document."""

    def __init__(self, send):
        self.send = send
        self.start = None
        self.chunks: list[bytes] = []

    async def __call__(self, message):
        if message["type"] == "http.response.start" and message["status"] in (400, 422):
            self.start = message
            return None
        if self.start is None:
            return await self.send(message)
        self.chunks.append(message.get("body", b""))
        if message.get("more_body"):
            return None
        body = b"".join(self.chunks)
        document = rewrite_error(body)
        # None: the body is already the API's error document.
        new_body = body if document is None else json.dumps(document).encode()
        headers = [(k, v) for k, v in self.start["headers"] if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(new_body)).encode()))
        await self.send({"type": "http.response.start", "status": 400, "headers": headers})
        await self.send({"type": "http.response.body", "body": new_body})


def rewrite_error(body: bytes) -> dict | None:
    """The API's error document for a framework error body (None if it already is one)."""
    try:
        data = json.loads(body)
    except ValueError:
        return error_document([("body", body.decode(errors="replace")[:500])])
    if isinstance(data, list) and len(data) == 1:  # BentoML wraps BadInput errors in a list
        data = data[0]
    if not isinstance(data, dict) or "problems" in data:
        return None
    detail = data.get("detail")
    if isinstance(detail, list):  # pydantic errors (BentoML and FastAPI alike)
        problems = []
        for err in detail:
            loc = [p for p in err.get("loc", []) if p != "body"]
            problems.append((json_path(loc), err.get("msg", "invalid value")))
        return error_document(problems)
    message = str(data.get("error") or data.get("detail") or "invalid request")
    if "json" in message.lower() or "decode" in message.lower() or "expecting" in message.lower():
        return error_document([("body", f"malformed JSON: {message}")], "malformed JSON")
    return error_document([("body", message)])
