"""Overload that sheds load instead of queueing work nobody waits for (issue 13, item 4).

Per worker process, ``POST /predict`` runs at most ``max_concurrent`` requests at once; up to
``max_queued`` more wait in line for at most ``queue_timeout`` seconds. Everything beyond is
answered at once with ``503`` and ``Retry-After`` (the API's JSON error document; no patient
data). A request whose client has gone away while it waited is dropped before it is computed,
and a request that has not started its response within ``request_timeout`` seconds gets ``504``
(``ApiGuard``: the model computes in the event loop, so the budget is enforced wherever the
request yields, not in the middle of one computation; the 1,000-patient limit bounds that).

Slow clients: uvicorn (as BentoML 1.4 runs it) has no time-out for a request's head (a
connection that never finishes its headers is held forever) and BentoML passes only
``timeout_keep_alive`` through. ``install_head_timeout`` closes a connection whose request line
and headers are not complete ``seconds`` after its first byte (or after it opened); the body
read time-out is applied by ``ApiGuard`` when it reads the body.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass

MAX_REMEMBERED = 8192  # clients whose last 503 is remembered (for hold), per worker


@dataclass(frozen=True)
class Limits:
    max_concurrent: int  # requests computing at once, per worker
    max_queued: int  # requests waiting for a slot, per worker
    queue_timeout: float  # s a request may wait for a slot
    request_timeout: float  # s from arrival to the start of the response

    @classmethod
    def from_settings(cls, settings) -> Limits | None:
        """None when shedding is disabled (``max_concurrent_requests = 0``)."""
        if settings.max_concurrent_requests <= 0:
            return None
        return cls(settings.max_concurrent_requests, settings.max_queued_requests,
                   settings.queue_timeout_seconds, settings.request_timeout_seconds)


class Overloaded(Exception):
    """No slot for this request: answer 503 with ``retry_after`` seconds."""

    def __init__(self, retry_after: int, why: str):
        super().__init__(why)
        self.retry_after = retry_after


class Admission:
    """Counts and slots of one worker (one event loop): no lock needed, state changes happen
    between awaits."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.active = 0
        self.waiting = 0
        self._slots: asyncio.Semaphore | None = None
        self.service_time = 0.01  # s, moving average of admitted requests: for Retry-After
        self._refused: dict[object, float] = {}  # client -> end of its last Retry-After

    @property
    def slots(self) -> asyncio.Semaphore:
        if self._slots is None:  # created in the worker's loop, on first use
            self._slots = asyncio.Semaphore(self.limits.max_concurrent)
        return self._slots

    def full(self) -> bool:
        return self.active + self.waiting >= self.limits.max_concurrent + self.limits.max_queued

    def retry_after(self) -> int:
        """Seconds until the current line has likely drained (at least 1)."""
        backlog = (self.active + self.waiting) / self.limits.max_concurrent
        return max(1, math.ceil(backlog * self.service_time))

    def hold(self, client) -> float:
        """Seconds to hold a 503 for ``client`` (its host and port: one connection): the rest
        of the Retry-After of its previous 503, when it asks again before that. A client that
        retries at once is paced as if it honoured Retry-After, on its own connection (closing
        it instead made clients reconnect, and one worker's accept grabbed a burst of them)."""
        until = self._refused.get(client)
        return 0.0 if until is None else max(0.0, until - time.monotonic())

    def refused(self, client, retry_after: int) -> None:
        now = time.monotonic()
        if len(self._refused) >= MAX_REMEMBERED:  # bounded: forget the expired ones
            self._refused = {c: t for c, t in self._refused.items() if t > now}
            if len(self._refused) >= MAX_REMEMBERED:
                self._refused.clear()
        self._refused[client] = now + retry_after

    def enter(self) -> None:
        """A request starts waiting (its body read, its check, its wait for a slot); 503 when
        the line is full."""
        if self.full():
            raise Overloaded(self.retry_after(), "server busy: too many requests waiting")
        self.waiting += 1

    def leave(self) -> None:
        """A waiting request gives up (refused, time-out, client gone)."""
        self.waiting -= 1

    async def acquire(self, deadline: float) -> None:
        """Wait for a slot until the queue time-out or the request's deadline; the request
        then counts as active instead of waiting."""
        wait = min(self.limits.queue_timeout, deadline - time.monotonic())
        if self.slots.locked() or wait <= 0:
            try:
                if wait <= 0:
                    raise TimeoutError
                await asyncio.wait_for(self.slots.acquire(), wait)
            except TimeoutError:
                raise Overloaded(self.retry_after(), "server busy: no capacity within "
                                                     f"{max(wait, 0):.3g} s") from None
        else:
            await self.slots.acquire()  # free: returns at once, no timer task
        self.waiting -= 1
        self.active += 1

    def release(self, seconds: float | None) -> None:
        """Give the slot back; ``seconds``: how long it computed (None: dropped unanswered)."""
        self.active -= 1
        self.slots.release()
        if seconds is not None:
            self.service_time = 0.8 * self.service_time + 0.2 * seconds


def install_head_timeout(seconds: float) -> None:
    """Close connections whose request head (request line and headers) is not complete
    ``seconds`` after it began, in uvicorn's httptools and h11 protocols (idempotent; the
    latest ``seconds`` wins). uvicorn's own ``timeout_keep_alive`` is disarmed by any byte, so
    a client trickling a header byte at a time would otherwise keep the connection forever."""
    from uvicorn.protocols.http import h11_impl, httptools_impl

    for cls in (httptools_impl.HttpToolsProtocol, h11_impl.H11Protocol):
        original = getattr(cls, "_abscopal_original", None)
        if original is None:
            original = (cls.connection_made, cls.data_received, cls.connection_lost)
            cls._abscopal_original = original
        cls._abscopal_head_timeout = seconds
        cls.connection_made = _wrap_connection_made(original[0])
        cls.data_received = _wrap_data_received(original[1])
        cls.connection_lost = _wrap_connection_lost(original[2])


def _idle(protocol) -> bool:
    """No request in progress: the next bytes start a new request head."""
    cycle = getattr(protocol, "cycle", None)
    return cycle is None or cycle.response_complete


def _arm(protocol) -> None:
    if getattr(protocol, "_abscopal_head_timer", None) is None:
        protocol._abscopal_head_timer = protocol.loop.call_later(
            protocol._abscopal_head_timeout, _expire, protocol, getattr(protocol, "cycle", None))


def _expire(protocol, cycle_when_armed) -> None:
    protocol._abscopal_head_timer = None
    transport = getattr(protocol, "transport", None)
    if transport is None or transport.is_closing():
        return
    if protocol.cycle is cycle_when_armed and _idle(protocol):  # no new head completed
        transport.close()


def _disarm(protocol) -> None:
    timer = getattr(protocol, "_abscopal_head_timer", None)
    if timer is not None:
        timer.cancel()
        protocol._abscopal_head_timer = None


def _wrap_connection_made(original):
    def connection_made(self, transport):
        original(self, transport)
        self._abscopal_head_timer = None
        _arm(self)

    return connection_made


def _wrap_data_received(original):
    def data_received(self, data):
        if _idle(self):
            _arm(self)  # bytes of a new request head: it must complete in time
        original(self, data)
        if not _idle(self):
            _disarm(self)  # the head completed: the request is the app's now

    return data_received


def _wrap_connection_lost(original):
    def connection_lost(self, exc):
        _disarm(self)
        original(self, exc)

    return connection_lost
