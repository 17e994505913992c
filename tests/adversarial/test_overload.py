"""Overload (issue 13, item 4): the guard in front of a slow app under a real uvicorn on
127.0.0.1, in this process: concurrency limit and queue (503 with Retry-After), clients gone
before their turn (not computed), the time budget (504), head and body read time-outs.
Fast: the slow app sleeps (0.3-1 s); no model is loaded."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import uvicorn

from serving.guard import ApiGuard
from serving.overload import Limits
from serving.process import free_port

JSON = {"content-type": "application/json"}
BODY = b'{"patients": [{}]}'


class SlowApp:
    """Answers POST /predict after ``delay`` seconds; counts the requests it computed."""

    def __init__(self, delay: float):
        self.delay = delay
        self.computed = 0

    async def __call__(self, scope, receive, send):
        message = await receive()
        assert message["type"] == "http.request"
        self.computed += 1
        await asyncio.sleep(self.delay)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b'{"ok": true}'})


class Server:
    def __init__(self, app, port: int):
        config = uvicorn.Config(app, host="127.0.0.1", port=port, loop="asyncio",
                                http="httptools", lifespan="off", log_level="warning",
                                timeout_keep_alive=5)
        self.server = uvicorn.Server(config)
        self.url = f"http://127.0.0.1:{port}"
        self.port = port
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def serve() -> Iterator:
    def start(app, **guard_options):
        guard = ApiGuard(app, validate=False, **guard_options)
        return Server(guard, free_port())

    yield start


def limits(concurrent=1, queued=0, queue_timeout=2.0, request_timeout=30.0) -> Limits:
    return Limits(concurrent, queued, queue_timeout, request_timeout)


def post(url: str, timeout: float = 10.0) -> httpx.Response:
    return httpx.post(f"{url}/predict", content=BODY, headers=JSON, timeout=timeout)


def test_beyond_the_limit_and_the_queue_answers_503_with_retry_after(serve):
    app = SlowApp(delay=1.0)
    with serve(app, limits=limits(concurrent=1, queued=1)) as server, \
            ThreadPoolExecutor(4) as pool:
        first = pool.submit(post, server.url)
        time.sleep(0.3)  # the first computes
        second = pool.submit(post, server.url)  # waits in line (1 place)
        time.sleep(0.2)
        start = time.perf_counter()
        third = post(server.url)
        wall = time.perf_counter() - start
        assert third.status_code == 503
        assert wall < 0.5, wall  # at once, not after the others
        assert int(third.headers["retry-after"]) >= 1
        assert third.json()["error"] == "server busy"
        assert third.json()["problems"][0]["path"] == "request"
        assert first.result().status_code == 200
        assert second.result().status_code == 200
    assert app.computed == 2


def test_a_client_retrying_at_once_is_paced_to_retry_after(serve):
    """Its next 503 on the same connection is held for the rest of the Retry-After (no work
    meanwhile); the connection of a small request stays open."""
    app = SlowApp(delay=3.0)
    with serve(app, limits=limits(concurrent=1, queued=0)) as server, \
            ThreadPoolExecutor(1) as pool, httpx.Client(base_url=server.url, timeout=10) as client:
        first = pool.submit(post, server.url)
        time.sleep(0.3)
        walls = []
        for _ in range(2):
            start = time.perf_counter()
            response = client.post("/predict", content=BODY, headers=JSON)
            walls.append(time.perf_counter() - start)
            assert response.status_code == 503
            assert "close" not in response.headers.get("connection", "")
        retry_after = int(response.headers["retry-after"])
        assert walls[0] < 0.5, walls
        assert retry_after - 0.3 < walls[1] < retry_after + 0.5, (walls, retry_after)
        assert first.result().status_code == 200
    assert app.computed == 1


def test_a_request_waiting_longer_than_the_queue_timeout_gets_503(serve):
    app = SlowApp(delay=1.0)
    with serve(app, limits=limits(concurrent=1, queued=4, queue_timeout=0.3)) as server, \
            ThreadPoolExecutor(2) as pool:
        first = pool.submit(post, server.url)
        time.sleep(0.2)
        start = time.perf_counter()
        second = post(server.url)
        wall = time.perf_counter() - start
        assert second.status_code == 503 and "retry-after" in second.headers
        assert 0.25 < wall < 0.8, wall
        assert first.result().status_code == 200
    assert app.computed == 1


def test_a_client_that_left_while_waiting_is_not_computed(serve):
    app = SlowApp(delay=1.0)
    with serve(app, limits=limits(concurrent=1, queued=4)) as server, \
            ThreadPoolExecutor(2) as pool:
        first = pool.submit(post, server.url)
        time.sleep(0.2)
        with pytest.raises(httpx.TimeoutException):
            post(server.url, timeout=0.3)  # gives up while the first computes
        assert first.result().status_code == 200
        time.sleep(0.2)
    assert app.computed == 1


def test_the_time_budget_answers_504(serve):
    app = SlowApp(delay=2.0)
    with serve(app, limits=limits(request_timeout=0.5)) as server:
        start = time.perf_counter()
        response = post(server.url)
        wall = time.perf_counter() - start
    assert response.status_code == 504, response.text
    assert response.json()["error"] == "request time-out"
    assert wall < 1.5, wall


def test_shedding_can_be_disabled(serve):
    app = SlowApp(delay=0.5)
    with serve(app, limits=None) as server, ThreadPoolExecutor(6) as pool:
        statuses = [r.status_code for r in pool.map(lambda _: post(server.url), range(6))]
    assert statuses == [200] * 6


def _open(server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    return sock


def _closed_after(sock: socket.socket) -> float:
    """Seconds until the server closes the connection (reads until EOF)."""
    start = time.perf_counter()
    while sock.recv(65536):
        pass
    return time.perf_counter() - start


@pytest.mark.parametrize("sent", [
    b"",  # connected, nothing sent
    b"POST /predict HTTP/1.1\r\nHost: x\r\n",  # headers never finished
])
def test_a_half_open_request_head_is_dropped_within_the_bound(serve, sent):
    with serve(SlowApp(0.0), limits=limits(), head_timeout=0.5) as server, _open(server) as sock:
        sock.sendall(sent)
        assert _closed_after(sock) < 2.0


def test_a_trickled_request_head_is_dropped_within_the_bound(serve):
    """One header byte every 0.1 s would disarm a keep-alive timer forever."""
    with serve(SlowApp(0.0), limits=limits(), head_timeout=0.6) as server, _open(server) as sock:
        start = time.perf_counter()
        closed = False
        for byte in b"POST /predict HTTP/1.1\r\nX-Slow: " + b"a" * 100:
            try:
                sock.sendall(bytes([byte]))
                closed = sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
            except BlockingIOError:  # open, nothing to read
                pass
            except OSError:  # reset or broken pipe: closed by the server
                closed = True
            if closed or time.perf_counter() - start > 5:
                break
            time.sleep(0.1)
        wall = time.perf_counter() - start
    assert closed
    assert wall < 2.0, wall


def test_a_body_that_never_arrives_gets_408_within_the_bound(serve):
    with serve(SlowApp(0.0), limits=limits(), body_timeout=0.5) as server, _open(server) as sock:
        sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                     b"\r\nContent-Length: 1000\r\n\r\n{\"patients\": [")
        start = time.perf_counter()
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
        assert time.perf_counter() - start < 2.0
    assert reply.startswith(b"HTTP/1.1 408")


def test_a_request_after_a_response_on_the_same_connection_still_works(serve):
    """The head time-out re-arms per request, and does not cut a kept-alive connection
    that sends its next request in time."""
    with serve(SlowApp(0.0), limits=limits(), head_timeout=0.5) as server, \
            httpx.Client(base_url=server.url, timeout=5) as client:
        for _ in range(3):
            assert client.post("/predict", content=BODY, headers=JSON).status_code == 200
            time.sleep(0.3)


@pytest.mark.parametrize(("content_type", "status"), [
    ("text/plain", 415), ("application/x-www-form-urlencoded", 415),
    ("application/json; charset=utf-8", 200), ("application/vnd.api+json", 200)])
def test_only_json_bodies_are_accepted(serve, content_type, status):
    with serve(SlowApp(0.0), limits=limits()) as server:
        response = httpx.post(f"{server.url}/predict", content=BODY,
                              headers={"content-type": content_type}, timeout=5)
    assert response.status_code == status
    if status == 415:
        assert response.json()["problems"][0]["path"] == "headers.content-type"
