"""ASGI middleware in front of the API: known routes only, bearer-token auth, request size limit,
bounded validation of ``POST /predict``, one error format, one log line per client error.

Pure ASGI (no per-request objects kept after the response): it runs in front of BentoML's own
app through ``Service.add_asgi_middleware`` and in front of the FastAPI reference app alike.

Log policy: a client error (4xx) is one INFO line on the ``abscopal.serving`` logger with the
route, status, problem count and request id; never a traceback, never an input value. BentoML's
own ERROR log of a request it refused (with a traceback and pydantic's ``input_value``) is
dropped by ``ClientErrorFilter``; server errors (5xx) are still logged with their traceback.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
import uuid

import orjson

from serving.overload import Admission, Limits, Overloaded, install_head_timeout
from serving.predictor import error_document
from serving.validation import BodyError, check_request, parse
from training.artifacts import loaded_artifacts_intact

# Probes stay open so orchestrators can reach them without the API token; /metrics too unless
# ``metrics_require_token`` (the default when a token is set).
PROBE_PATHS = frozenset({"/livez", "/readyz", "/healthz"})
# The web page (/), the API docs (/docs, /docs.json) and their static assets: no token (the page
# asks for it and sends it with each API call); nothing in them depends on the caller.
PAGE_PATHS = frozenset({"/", "/docs", "/docs.json"})
# Every route the service answers; anything else is 404 here, before metrics and the app.
KNOWN_PATHS = frozenset({*PAGE_PATHS, "/predict", "/model", "/schema.json", "/metrics",
                         *PROBE_PATHS})
STATIC_PREFIX = ("/static_content/", "/static/")  # Swagger UI's assets (BentoML's), the page's
VALIDATED_PATHS = frozenset({"/predict"})
LIMITED_PATHS = frozenset({"/predict"})  # the compute route: concurrency limit and time budget
FROM_SETTINGS = object()  # ApiGuard's overload options: read common.settings
DRAIN_BYTES = 65_536  # a 503 to an unread body up to this size keeps the connection open

log = logging.getLogger("abscopal.serving")
if not log.handlers:  # BentoML configures its own loggers only: give ours a plain stderr line
    _handler = logging.StreamHandler()
    _handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [abscopal] %(message)s"))
    log.addHandler(_handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def known_path(path: str) -> bool:
    return path in KNOWN_PATHS or path.startswith(STATIC_PREFIX)


def public_path(path: str) -> bool:
    return path in PAGE_PATHS or path.startswith(STATIC_PREFIX)



def bearer_matches(authorization: bytes, token: bytes) -> bool:
    """``Authorization: Bearer <token>``; the scheme is case-insensitive (RFC 7235 section 2.1),
    the token compared in constant time."""
    scheme, _, credentials = authorization.partition(b" ")
    return scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(), token)

class ClientErrorFilter(logging.Filter):
    """Drops BentoML's ``Exception on /predict [POST]`` records of client errors (pydantic
    validation, 4xx BentoML exceptions): they carry a traceback and the submitted values."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None:
            return True
        from pydantic import ValidationError

        if isinstance(exc, ValidationError):
            return False
        code = getattr(getattr(exc, "error_code", None), "value", None)
        return not (isinstance(code, int) and 400 <= code < 500)


def install_log_filter() -> None:
    target = logging.getLogger("bentoml._internal.server.http_app")
    if not any(isinstance(f, ClientErrorFilter) for f in target.filters):
        target.addFilter(ClientErrorFilter())


install_log_filter()


def _install_head_timeout_now() -> None:
    """At import, so the worker's uvicorn protocols carry the head time-out before its first
    connection (Starlette builds the middleware stack, hence ApiGuard, at the first request)."""
    from common.settings import get_settings

    install_head_timeout(get_settings().header_timeout_seconds)


_install_head_timeout_now()


def _request_id() -> str:
    try:  # BentoML's tracing middleware (outside this one) sets it per request
        from bentoml._internal.context import trace_context

        rid = trace_context.request_id
    except Exception:  # the id is a convenience, never a failure
        rid = None
    return f"{rid:016x}" if isinstance(rid, int) else (str(rid) if rid else uuid.uuid4().hex[:16])


def log_client_error(scope, status: int, problems: int | str = "-") -> None:
    route = scope["path"] if known_path(scope["path"]) else "<unknown>"
    log.info("client error: %s %s -> %d, %s problems, request %s",
             scope.get("method", "-"), route, status, problems, _request_id())


def _send_json(status: int, document: dict, headers: list | None = None):
    body = orjson.dumps(document)

    async def respond(send):
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()), *(headers or [])]})
        await send({"type": "http.response.body", "body": body})

    return respond


def _problem_count(document: dict) -> int:
    return len(document.get("problems", ())) + document.get("more_problems", 0)


class ApiGuard:
    """Known routes, auth and size limits for every path but the probes; bounded validation of
    ``POST /predict``; rewrites validation errors of the framework (pydantic ``loc`` lists, JSON
    decode errors) into ``{"error", "problems"}``; logs each client error on one INFO line."""

    def __init__(self, app, api_token: str | None = None, max_request_bytes: int = 20_000_000,
                 max_request_values: int | None = None,
                 metrics_require_token: bool = True, validate: bool = True,
                 limits: Limits | None = FROM_SETTINGS, body_timeout: float | None = FROM_SETTINGS,
                 head_timeout: float | None = FROM_SETTINGS):
        if FROM_SETTINGS in (limits, body_timeout, head_timeout):
            from common.settings import get_settings

            settings = get_settings()
            limits = Limits.from_settings(settings) if limits is FROM_SETTINGS else limits
            if body_timeout is FROM_SETTINGS:
                body_timeout = settings.body_timeout_seconds
            if head_timeout is FROM_SETTINGS:
                head_timeout = settings.header_timeout_seconds
        self.admission = Admission(limits) if limits is not None else None
        self.body_timeout = body_timeout
        if head_timeout:
            install_head_timeout(head_timeout)  # in this process's uvicorn
        self.app = app
        self.token = api_token.encode() if api_token else None
        self.max_request_bytes = max_request_bytes
        self.max_request_values = max_request_values
        self.open_paths = PROBE_PATHS if metrics_require_token else PROBE_PATHS | {"/metrics"}
        self.validate = validate

    async def reply(self, scope, send, status: int, document: dict, headers=None) -> None:
        log_client_error(scope, status, _problem_count(document))
        await _send_json(status, document, headers)(send)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        if not known_path(path):
            return await self.reply(scope, send, 404, error_document(
                [("path", "no such route")], "not found"))
        if path == "/readyz":
            problem = loaded_artifacts_intact()
            if problem is not None:  # BentoML's /readyz knows only that __init__ once returned
                log.warning("not ready: %s", problem)
                return await _send_json(503, error_document([("model", problem)], "not ready"))(
                    send)
        if path in self.open_paths or public_path(path):
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        if self.token is not None and not bearer_matches(headers.get(b"authorization", b""),
                                                         self.token):
            return await self.reply(
                scope, send, 401,
                error_document([("headers.authorization", "expected 'Bearer <token>'")],
                               "missing or wrong API token"),
                [(b"www-authenticate", b"Bearer")],
            )
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_request_bytes):
            return await self.reply(scope, send, 413, self._too_large())
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, LoggingSend(scope, send))
        if path in VALIDATED_PATHS and not json_content(headers.get(b"content-type")):
            return await self.reply(scope, send, 415, error_document(
                [("headers.content-type", "expected application/json")],
                "unsupported media type"), [(b"connection", b"close")])
        arrived = time.monotonic()
        admission = self.admission if path in LIMITED_PATHS else None
        if admission is None:
            return await self._handle(scope, receive, send, arrived, None)
        try:
            admission.enter()
        except Overloaded as exc:  # the body is not read
            return await self.busy(scope, send, exc)
        # The model computes in the event loop: requests that arrived meanwhile wait as tasks
        # not yet started, unseen by the line. Yield once so each of them is counted (and its
        # arrival timed) before this one computes; else a request could wait seconds there and
        # still be computed when its turn comes, after its client gave up.
        await asyncio.sleep(0)
        return await self._handle(scope, receive, send, arrived, admission)

    async def _handle(self, scope, receive, send, arrived: float, admission: Admission | None):
        """Read (within the size and time limits) and check the body; with ``admission``, wait
        for a slot, drop the request if its client has gone, and keep the time budget."""
        state = "waiting"  # -> "active" (holds a slot) -> "done" (slot released)
        watch = None
        try:
            body = await self._read_body(scope, receive, send, arrived)
            if body is None:
                return None
            if self.validate and scope["path"] in VALIDATED_PATHS and scope["method"] == "POST":
                # ~0.4 ms per MB (a C loop): refuses millions of tiny values before parsing them
                if self.max_request_values and body.count(b",") >= self.max_request_values:
                    return await self.reply(scope, send, 413, error_document(
                        [("body", f"more than {self.max_request_values} JSON values (commas "
                                  "counted, those inside strings too): split the request")],
                        "request too large"))
                try:
                    problems = check_request(parse(body))
                except BodyError as exc:
                    return await self.reply(scope, send, 400, error_document(
                        [("body", str(exc))], "malformed JSON"))
                if problems:
                    return await self.reply(scope, send, 400, error_document(
                        problems.items, more=problems.more))
            if admission is None:
                return await self.app(scope, _replay(body, receive), _ErrorRewriter(scope, send))
            # The next message after the body is http.disconnect: watch for it while waiting.
            watch = asyncio.ensure_future(receive())
            deadline = arrived + admission.limits.request_timeout
            try:
                await admission.acquire(deadline)
            except Overloaded as exc:
                return await self.busy(scope, send, exc, body_read=True)
            state, started = "active", time.monotonic()
            if not watch.done():
                await asyncio.sleep(0)  # the watch's first look (it had no turn if no wait)
            if watch.done():  # the client gave up while waiting: compute nothing
                log.info("client gone: POST %s dropped before computing, request %s",
                         scope["path"], _request_id())
                return None
            rewriter = _ErrorRewriter(scope, send)
            finished = True
            try:  # a timer, no extra task; disarmed once the response starts
                async with asyncio.timeout(deadline - time.monotonic()) as budget:
                    rewriter.on_start = lambda: budget.reschedule(None)
                    await self.app(scope, _replay(body, receive, watch), rewriter)
            except TimeoutError:
                if not budget.expired() or rewriter.started:
                    raise  # the app's own time-out, not the budget
                finished = False
            admission.release(time.monotonic() - started)
            state = "done"
            if not finished:
                limit = admission.limits.request_timeout
                log.warning("request time-out: POST %s not answered within %.3g s, request %s",
                            scope["path"], limit, _request_id())
                await _send_json(504, error_document(
                    [("request", f"not answered within {limit:g} s")], "request time-out"),
                    [(b"retry-after", str(admission.retry_after()).encode())])(send)
            return None
        finally:
            if watch is not None and not watch.done():
                watch.cancel()
            if admission is not None and state == "waiting":
                admission.leave()
            elif admission is not None and state == "active":  # dropped or failed
                admission.release(None)

    async def _read_body(self, scope, receive, send, arrived: float) -> bytes | None:
        """The whole body within the size limit and ``body_timeout`` (None: answered or the
        client left)."""
        body = bytearray()
        delay = arrived + self.body_timeout - time.monotonic() if self.body_timeout else None
        try:
            async with asyncio.timeout(delay):  # one timer for the whole body
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return None
                    body += message.get("body", b"")
                    if len(body) > self.max_request_bytes:
                        break
                    if not message.get("more_body"):
                        return bytes(body)
        except TimeoutError:
            await self.reply(scope, send, 408, error_document(
                [("body", f"not received within {self.body_timeout:g} s")],
                "request time-out"), [(b"connection", b"close")])
            return None
        await self.reply(scope, send, 413, self._too_large())
        return None

    async def busy(self, scope, send, exc: Overloaded, body_read: bool = False) -> None:
        """503 with Retry-After, logged without values (``_BusyLog``). Held for the rest of the
        previous Retry-After when the same connection asks again sooner (``Admission.hold``).
        The connection stays open unless an unread body is large (uvicorn discards an unread
        small one)."""
        admission = self.admission
        client = scope.get("client")
        delay = admission.hold(client) if admission is not None and client else 0.0
        if delay > 0:
            await asyncio.sleep(delay)  # no work: paces a client that retries at once
        _busy_log.note(scope, exc)
        headers = [(b"retry-after", str(exc.retry_after).encode())]
        length = dict(scope["headers"]).get(b"content-length", b"")
        if not body_read and not (length.isdigit() and int(length) <= DRAIN_BYTES):
            headers.append((b"connection", b"close"))
        await _send_json(503, error_document([("request", str(exc))], "server busy"),
                         headers)(send)
        if admission is not None and client:
            admission.refused(client, exc.retry_after)

    def _too_large(self) -> dict:
        return error_document([("body", f"request larger than {self.max_request_bytes} bytes")],
                              "request too large")


class _BusyLog:
    """At most one INFO line per second per worker for 503s, counting those not logged: under
    overload a line per refusal is noise and costs the CPU the refusals are meant to save."""

    def __init__(self, every: float = 1.0):
        self.every = every
        self.next_at = 0.0
        self.unlogged = 0

    def note(self, scope, exc) -> None:
        now = time.monotonic()
        if now < self.next_at:
            self.unlogged += 1
            return
        more = f", {self.unlogged} more 503s since the last line" if self.unlogged else ""
        log.info("busy: %s %s -> 503 (%s), retry after %d s, request %s%s", scope["method"],
                 scope["path"], exc, exc.retry_after, _request_id(), more)
        self.next_at, self.unlogged = now + self.every, 0


_busy_log = _BusyLog()


def _replay(body: bytes, receive, watch: asyncio.Future | None = None):
    """``receive`` for the app: the body read by the guard, then the client's next message
    (``watch``, when the guard already waits for it)."""
    replayed = False

    async def replay():
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await (asyncio.shield(watch) if watch is not None else receive())

    return replay


def json_content(content_type: bytes | None) -> bool:
    """No content type (clients that send none are served), ``application/json`` or any
    ``+json`` type, with parameters."""
    if content_type is None:
        return True
    media = content_type.split(b";", 1)[0].strip().lower()
    return media in (b"application/json", b"*/*", b"") or media.endswith(b"+json")


class LoggingSend:
    """Passes the response through; logs it on one line when it is a client error."""

    def __init__(self, scope, send):
        self.scope = scope
        self.send = send

    async def __call__(self, message):
        if message["type"] == "http.response.start" and 400 <= message["status"] < 500:
            log_client_error(self.scope, message["status"])
        return await self.send(message)


class _ErrorRewriter:
    """Turns the framework's 400/422 bodies into the API's error document."""

    def __init__(self, scope, send):
        self.scope = scope
        self.send = send
        self.start = None
        self.started = False  # a response has begun (the time budget no longer applies)
        self.on_start = None  # called once at the response's start
        self.chunks: list[bytes] = []

    async def __call__(self, message):
        if message["type"] == "http.response.start":
            self.started = True
            if self.on_start is not None:
                self.on_start()
            if message["status"] in (400, 422):
                self.start = message
                return None
            if 400 <= message["status"] < 500:
                log_client_error(self.scope, message["status"])
        if self.start is None:
            return await self.send(message)
        self.chunks.append(message.get("body", b""))
        if message.get("more_body"):
            return None
        body = b"".join(self.chunks)
        document = rewrite_error(body)
        # None: the body is already the API's error document.
        new_body = body if document is None else orjson.dumps(document)
        log_client_error(self.scope, 400, _problem_count(document) if document else "-")
        headers = [(k, v) for k, v in self.start["headers"] if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(new_body)).encode()))
        await self.send({"type": "http.response.start", "status": 400, "headers": headers})
        await self.send({"type": "http.response.body", "body": new_body})


def rewrite_error(body: bytes) -> dict | None:
    """The API's error document for a framework error body (None if it already is one)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return error_document([("body", "invalid request")])
    if isinstance(data, list) and len(data) == 1:  # BentoML wraps BadInput errors in a list
        data = data[0]
    if not isinstance(data, dict) or "problems" in data:
        return None
    detail = data.get("detail")
    if isinstance(detail, list):  # pydantic errors (BentoML and FastAPI alike)
        from serving.predictor import json_path

        problems = []
        for err in detail:
            loc = [p for p in err.get("loc", []) if p != "body"]
            problems.append((json_path(loc), err.get("msg", "invalid value")))
        return error_document(problems)
    message = str(data.get("error") or data.get("detail") or "invalid request")
    if "json" in message.lower() or "decode" in message.lower() or "expecting" in message.lower():
        return error_document([("body", f"malformed JSON: {message}")], "malformed JSON")
    return error_document([("body", message)])


# What the guard answers, as the OpenAPI document must say it (issue 13: schemathesis checks
# every response against /docs.json). One error body for all of them (``error_document``).
ERROR_SCHEMA = {
    "type": "object", "title": "ErrorDocument", "required": ["error", "problems"],
    "description": "The one error body of the API: at most 20 problems, each naming the JSON "
                   "path (or header) at fault; more_problems counts the rest.",
    "properties": {
        "error": {"type": "string", "description": "what kind of error"},
        "problems": {"type": "array", "maxItems": 20, "items": {
            "type": "object", "required": ["path", "message"],
            "properties": {"path": {"type": "string"}, "message": {"type": "string"}}}},
        "more_problems": {"type": "integer", "minimum": 1,
                          "description": "problems found but not listed"},
    },
}
_ERROR_REF = {"$ref": "#/components/schemas/ErrorDocument"}
_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before asking again",
                                "schema": {"type": "string", "pattern": "^[0-9]+$"}}}


def _error(description: str, headers: dict | None = None) -> dict:
    response = {"description": description,
                "content": {"application/json": {"schema": _ERROR_REF}}}
    return {**response, "headers": headers} if headers else response


def guard_responses(path: str, method: str) -> dict[str, dict]:
    """The error responses ``ApiGuard`` gives on ``method path`` (beside the app's own)."""
    if path == "/readyz":
        return {"503": _error("not ready: the worker's model files are missing or changed")}
    if path in PROBE_PATHS or path in PAGE_PATHS:
        return {}
    responses = {
        "401": _error("missing or wrong API token (only when ABSCOPAL_API_TOKEN is set)",
                      {"WWW-Authenticate": {"schema": {"type": "string"}}}),
        "413": _error("request larger than the limit (ABSCOPAL_MAX_REQUEST_BYTES), or with more "
                      "JSON values than ABSCOPAL_MAX_REQUEST_VALUES"),
    }
    if method.upper() in ("POST", "PUT", "PATCH"):
        responses["408"] = _error("request body not received within the body time-out")
    if path in VALIDATED_PATHS and method.upper() == "POST":
        responses["400"] = _error("invalid request: each problem names its JSON path")
        responses["415"] = _error("the body is not application/json")
    if path in LIMITED_PATHS:
        responses["503"] = _error("server busy: ask again after Retry-After seconds",
                                  _RETRY_AFTER)
        responses["504"] = _error("not answered within the request time-out", _RETRY_AFTER)
    return responses


def document_guard(spec: dict) -> dict:
    """``spec`` (an OpenAPI document) with the guard's error responses and their body schema
    added to each operation it guards; the app's own responses of the same status are replaced
    (the guard or its error rewriter answers them in this format)."""
    schemas = {**spec.get("components", {}).get("schemas", {}), "ErrorDocument": ERROR_SCHEMA}
    paths = {}
    for path, item in spec.get("paths", {}).items():
        # status keys as text: the framework writes some as integers, and {400: ..., "400": ...}
        # would serialise to a duplicated key (which Swagger UI refuses to parse)
        paths[path] = {method: ({**op, "responses": {
                                    **{str(k): v for k, v in op.get("responses", {}).items()},
                                    **guard_responses(path, method)}}
                                if isinstance(op, dict) else op)
                       for method, op in item.items()}
    return {**spec, "paths": paths,
            "components": {**spec.get("components", {}), "schemas": schemas}}
