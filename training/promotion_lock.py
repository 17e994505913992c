"""A promotion lock that lives in the tracking server, so it holds across machines.

Registering and promoting a version reads the champion, compares and moves the alias: two
trainers doing that at once could both see "no champion yet", or both beat the same old
champion, and the last alias move would win. A file lock beside a sqlite store protects nothing
when trainers share only an ``http://`` tracking server, so the mutex is the registry's own
uniqueness constraint: the registered model ``<name>.promotion-lock`` (no versions, never
loaded) exists exactly while one process holds the lock. Creating it is atomic on every
backend (sqlite, PostgreSQL, MySQL: the model name is the table's primary key), over REST too;
the second creator gets ``RESOURCE_ALREADY_EXISTS`` and waits.

The lock's tags name its holder (host, pid, process start, a random token) and carry a
heartbeat counter the holder raises every ``lease / 4`` seconds. A waiter breaks the lock when
- its holder ran on the waiter's host and is gone (pid dead or reused): at once;
- its heartbeat has not changed for ``lease`` seconds of the waiter's own clock (a holder on
  another machine that died or lost the server): no clocks of two machines are compared.
Breaking renames the lock to ``<name>.promotion-lock.broken.<token>``: a rename onto an existing
name fails, so of two waiters that judged the same holder stale only one breaks it, and neither
can remove a newer holder's lock. ``abscopal doctor --fix`` deletes these tombstones
after an hour. Before moving the alias the holder checks that the lock is still its
own (``Lease.check``); a process paused for longer than the lease loses it and promotes nothing.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from training.tracking import TrackingStoreError, dead_run, process_tags

LOCK_SUFFIX = ".promotion-lock"
BROKEN_INFIX = ".promotion-lock.broken."
TOKEN_TAG = "abscopal.lock.token"
BEAT_TAG = "abscopal.lock.beat"
ACQUIRED_TAG = "abscopal.lock.acquired"
LEASE_TAG = "abscopal.lock.lease_seconds"
# A promotion scores the champion on the hold-out (seconds to a minute over HTTP); the holder
# renews every lease / 4, so 120 s tolerates a stalled request or two; a crashed holder on
# another machine blocks promotion of that model for at most this long.
LEASE_SECONDS = 120.0
WAIT_SECONDS = 900.0  # a waiter gives up after this, naming the holder
POLL_SECONDS = 0.5
# A broken lock's tombstone is kept this long (server's rename time against this machine's
# clock) before `abscopal doctor --fix` deletes it.
TOMBSTONE_KEEP_SECONDS = 3600.0

log = logging.getLogger("abscopal.training.promotion_lock")


def lock_name(model_name: str) -> str:
    return model_name + LOCK_SUFFIX


def is_lock(name: str) -> bool:
    """A registered model that is a promotion lock or a broken lock's tombstone, not a model."""
    return name.endswith(LOCK_SUFFIX) or BROKEN_INFIX in name


class PromotionLockTimeout(TrackingStoreError):
    """Another process held the promotion lock for longer than the wait; names the holder."""


class PromotionLockLost(TrackingStoreError):
    """This process's lock was broken as stale (it was paused or cut off for a whole lease)."""


@dataclass(frozen=True)
class Holder:
    """Who holds a lock, from the lock model's tags."""

    name: str
    tags: dict[str, str]

    @property
    def token(self) -> str:
        return self.tags.get(TOKEN_TAG, "")

    @property
    def beat(self) -> str:
        return self.tags.get(BEAT_TAG, "")

    def describe(self) -> str:
        tags = self.tags
        return (f"host {tags.get('abscopal.host', '?')} pid {tags.get('abscopal.pid', '?')} "
                f"since {tags.get(ACQUIRED_TAG, '?')}")


def read_holder(client: MlflowClient, name: str) -> Holder | None:
    """The lock's holder, or None when the lock does not exist."""
    try:
        model = client.get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise
    return Holder(model.name, dict(model.tags or {}))


def break_lock(client: MlflowClient, holder: Holder, why: str) -> bool:
    """Rename a stale lock to its tombstone; False when someone else broke or released it
    first (the tombstone name exists, or the lock is gone)."""
    tombstone = holder.name.removesuffix(LOCK_SUFFIX) + BROKEN_INFIX + (holder.token or "none")
    try:
        client.rename_registered_model(holder.name, tombstone)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_ALREADY_EXISTS", "RESOURCE_DOES_NOT_EXIST"):
            return False
        raise
    log.warning("broke the promotion lock %s held by %s: %s (kept as %s)", holder.name,
                holder.describe(), why, tombstone)
    return True


@dataclass
class _Observed:
    """What a waiter saw of a holder, and since when on its own monotonic clock."""

    key: tuple[str, str] = ("", "")
    since: float = 0.0


def stale_reason(holder: Holder, seen: _Observed, lease_seconds: float,
                 now: float | None = None) -> str | None:
    """Why ``holder`` may be broken now, or None while it may be alive."""
    if dead_run(holder.tags):
        return f"its process (pid {holder.tags.get('abscopal.pid')}) is gone"
    now = time.monotonic() if now is None else now
    key = (holder.token, holder.beat)
    if key != seen.key:
        seen.key, seen.since = key, now
        return None
    if now - seen.since >= lease_seconds:
        return f"no heartbeat for {now - seen.since:.0f} s (lease {lease_seconds:g} s)"
    return None


@dataclass
class Lease:
    """A held lock: renewed by a heartbeat thread until released."""

    client: MlflowClient
    name: str
    token: str
    lease_seconds: float
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def check(self) -> None:
        """Raise PromotionLockLost unless the lock is still this process's (call it right
        before the step that must not run twice: the alias move)."""
        holder = read_holder(self.client, self.name)
        if holder is None or holder.token != self.token:
            by = "nobody" if holder is None else holder.describe()
            raise PromotionLockLost(
                f"the promotion lock {self.name} was broken while this process held it (no "
                f"heartbeat for {self.lease_seconds:g} s: paused or cut off from the tracking "
                f"server); now held by {by}; nothing was promoted, train again")

    def _beat(self) -> None:
        beat = 0
        while not self._stop.wait(self.lease_seconds / 4):
            beat += 1
            try:  # a blip is retried at the next beat; a whole lease of them loses the lock
                self.client.set_registered_model_tag(self.name, BEAT_TAG, str(beat))
            except Exception as exc:  # the thread must outlive any error
                log.debug("promotion lock heartbeat failed: %s", exc)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._beat, name="promotion-lock-heartbeat",
                                        daemon=True)
        self._thread.start()

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        holder = read_holder(self.client, self.name)
        if holder is None or holder.token != self.token:
            log.warning("the promotion lock %s was no longer this process's at release", self.name)
            return
        with contextlib.suppress(MlflowException):  # gone already: nothing to release
            self.client.delete_registered_model(self.name)


@contextlib.contextmanager
def promotion_lock(client: MlflowClient, model_name: str, *,
                   wait_seconds: float = WAIT_SECONDS, lease_seconds: float = LEASE_SECONDS,
                   poll_seconds: float = POLL_SECONDS,
                   sleep: Callable[[float], None] = time.sleep) -> Iterator[Lease]:
    """Hold ``<model_name>.promotion-lock`` for the block: wait while a live process holds it
    (at most ``wait_seconds``, then PromotionLockTimeout naming the holder), break it when its
    holder is gone (see the module's docstring)."""
    name = lock_name(model_name)
    token = uuid.uuid4().hex
    tags = {**process_tags(), TOKEN_TAG: token, BEAT_TAG: "0", LEASE_TAG: f"{lease_seconds:g}",
            ACQUIRED_TAG: datetime.now(timezone.utc).isoformat(timespec="seconds")}
    deadline = time.monotonic() + wait_seconds
    seen, told = _Observed(), ""
    while True:
        try:
            client.create_registered_model(
                name, tags=tags,
                description=f"abscopal promotion lock of {model_name}: exists while one process "
                            "registers and promotes a version (training/promotion_lock.py). Not "
                            "a model.")
            break
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        holder = read_holder(client, name)
        if holder is None:
            continue  # released meanwhile: try again at once
        if holder.token == token:
            break  # our create went through though its answer was lost
        why = stale_reason(holder, seen, lease_seconds)
        if why is not None:
            break_lock(client, holder, why)
            continue
        if time.monotonic() >= deadline:
            raise PromotionLockTimeout(
                f"another process is promoting {model_name}: the promotion lock {name} is held "
                f"by {holder.describe()} (heartbeat {holder.beat}); waited {wait_seconds:g} s. "
                f"Retry when it is done; if that process is gone the lock is broken after "
                f"{lease_seconds:g} s without heartbeat (at once on its own host, or with "
                f"`abscopal doctor --fix` there)")
        if holder.token != told:
            told = holder.token
            log.warning("waiting for the promotion lock %s held by %s", name, holder.describe())
        sleep(poll_seconds)
    lease = Lease(client, name, token, lease_seconds)
    lease.start()
    try:
        yield lease
    finally:
        try:
            lease.release()
        except Exception as exc:  # the store failing must not hide the block's own error
            log.warning("could not release the promotion lock %s (%s): it is broken once this "
                        "process has exited (at once on this host, after %g s elsewhere)",
                        name, exc, lease_seconds)


def lock_findings(client: MlflowClient, *, fix: bool = False,
                  now_ms: float | None = None) -> tuple[list[str], list[str]]:
    """(problems, fixed) for ``abscopal doctor``: locks whose holder on this host is gone, and
    tombstones of broken locks older than ``TOMBSTONE_KEEP_SECONDS``; ``fix`` breaks the former
    and deletes the latter. A lock held by a live process, or by one on another host, is not
    touched (its lease decides); a young tombstone is kept (it stops a second, slower breaker
    of the same holder from removing a newer lock)."""
    problems, fixed = [], []
    now_ms = time.time() * 1000 if now_ms is None else now_ms
    for model in client.search_registered_models(f"name LIKE '%{LOCK_SUFFIX}%'"):
        if not is_lock(model.name):
            continue
        holder = Holder(model.name, dict(model.tags or {}))
        if BROKEN_INFIX in model.name:
            if now_ms - (model.last_updated_timestamp or 0) < TOMBSTONE_KEEP_SECONDS * 1000:
                continue
            problems.append(f"broken promotion lock left as {model.name} (was held by "
                            f"{holder.describe()})")
            if fix:
                with contextlib.suppress(MlflowException):
                    client.delete_registered_model(model.name)
                    fixed.append(f"deleted {model.name}")
        elif dead_run(holder.tags):
            problems.append(f"promotion lock {model.name} held by {holder.describe()}, whose "
                            "process is gone")
            if fix and break_lock(client, holder, "its process is gone (abscopal doctor --fix)"):
                fixed.append(f"broke the promotion lock {model.name}")
    return problems, fixed
