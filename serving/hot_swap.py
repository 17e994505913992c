"""Champion hot-swap: a running worker follows the registry alias it serves.

Every ``ABSCOPAL_MODEL_POLL_SECONDS`` (0: never) a daemon thread of each BentoML worker asks
the registry which version the alias (``models:/rt-benefit@champion``) names. When it moved,
the thread loads that exact version (``models:/<name>/<version>``, so a second move meanwhile
cannot mix them), verifies its artifacts, builds and warms its Predictor (``Predictor.__init__``
scores two requests), and only then replaces the served predictor with one assignment. A request
takes ``HotSwap.current`` once, at its start, and uses that predictor to the end: requests in
flight finish on the old model, new ones get the new one, and the ``model`` block of every
response comes from the predictor that computed it. A failed load keeps the old model; it is
logged (the URI and the error, no patient data), counted in ``/metrics``
(``abscopal_model_swap_failures_total``) and shown under ``serving`` in ``GET /model``; the next
poll tries again. URIs that name a fixed version, a logged model or a Bento's own model are not
followed. Each worker polls on its own, so for one poll interval workers may differ: every
response names its version.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from serving.predictor import Predictor
from serving.schemas import allow_as_given
from training.loading import LoadedModel, load_model, registered_version

log = logging.getLogger("abscopal.serving.hot_swap")


def followed_alias(uri: str | None) -> tuple[str, str] | None:
    """(name, alias) when ``uri`` is a registry alias URI (``models:/name@alias``); else None."""
    if not uri or not uri.startswith("models:/") or "@" not in uri:
        return None
    name, alias = uri.removeprefix("models:/").split("@", 1)
    return (name, alias) if name and alias else None


class SwapMetrics:
    """Prometheus series of the swaps. Inside a BentoML worker ``PROMETHEUS_MULTIPROC_DIR`` is
    set, so they reach ``/metrics`` (counters summed over workers, the version gauge per
    worker process); not registered in the default registry (one set per HotSwap)."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge

        self.swaps = Counter("abscopal_model_swaps_total",
                             "Champion changes a worker has loaded and now serves", registry=None)
        self.failures = Counter("abscopal_model_swap_failures_total",
                                "Loads of a new champion that failed (the old model stays)",
                                registry=None)
        self.version = Gauge("abscopal_model_version_info",
                             "1 for the model version a worker serves", ["name", "version"],
                             registry=None, multiprocess_mode="liveall")

    def serving(self, old: Predictor | None, new: Predictor) -> None:
        if old is not None:
            self.version.labels(*_name_version(old)).set(0)
        self.version.labels(*_name_version(new)).set(1)


def _name_version(predictor: Predictor) -> tuple[str, str]:
    return str(predictor.model_info.get("name")), str(predictor.model_info.get("version"))


class HotSwap:
    """The served predictor and the thread that replaces it when the alias moves."""

    def __init__(self, predictor: Predictor, poll_seconds: float,
                 load: Callable[[str], LoadedModel] = load_model,
                 resolve: Callable[[str], tuple[str | None, str | None]] = registered_version):
        self._current = predictor
        self.uri = predictor.loaded.uri
        self.alias = followed_alias(self.uri)
        self.poll_seconds = poll_seconds if self.alias is not None else 0.0
        self._load, self._resolve = load, resolve
        self.metrics = SwapMetrics()
        self.metrics.serving(None, predictor)
        self.status: dict = {
            "follows": self.uri if self.poll_seconds else None,
            "poll_seconds": self.poll_seconds, "swaps": 0, "failures": 0,
            "last_check": None, "last_swap": None, "last_failure": None}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._collect_pending = False
        self._retry_at: dict[str, tuple[float, int]] = {}  # failed version: (when, failures)

    @property
    def current(self) -> Predictor:
        """The predictor for a new request (take it once per request)."""
        return self._current

    def start(self) -> HotSwap:
        if self.poll_seconds > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="abscopal-hot-swap",
                                            daemon=True)
            self._thread.start()
            log.info("following %s: checked every %g s", self.uri, self.poll_seconds)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            self.check()

    def check(self) -> bool:
        """One poll: True when a new version now serves. Never raises (the thread lives on)."""
        if self._collect_pending:
            # the previous model's last requests have long finished: its objects, frozen with
            # the rest at load time, can be collected now (one full collection per swap)
            self._collect_pending = False
            gc.unfreeze()
            gc.collect()
            gc.freeze()
        self.status["last_check"] = _now()
        try:
            name, version = self._resolve(self.uri)
        except Exception as exc:  # the registry is unreachable: keep serving, say so
            self._failed(None, exc)
            return False
        if version is None or version == self._current.model_info.get("version"):
            return False
        if time.monotonic() < self._retry_at.get(version, (0.0, 0))[0]:
            return False  # it failed lately: wait (doubling, up to 10 min) before trying again
        return self.swap_to(name, version)

    def swap_to(self, name: str | None, version: str) -> bool:
        """Load, verify and warm ``name`` version ``version``, then serve it."""
        import training.artifacts as artifacts

        started = time.perf_counter()
        files = artifacts.loaded_snapshot()  # put back if the new model fails after loading
        try:
            loaded = self._load(f"models:/{name}/{version}")
            loaded.uri = self.uri  # served as the alias, like the model loaded at start-up
            predictor = Predictor(loaded)  # warms up: two predictions before it serves
        except Exception as exc:
            artifacts.restore_loaded(files)
            self._failed(version, exc)
            return False
        old = self._current
        if set(predictor.bundle.extra_columns) != set(old.bundle.extra_columns):
            allow_as_given(predictor.bundle.extra_columns)
        self._current = predictor  # the swap: one reference assignment
        self._collect_pending = True
        self.metrics.swaps.inc()
        self.metrics.serving(old, predictor)
        self.status["swaps"] += 1
        self.status["last_swap"] = {"at": _now(), "from_version": old.model_info.get("version"),
                                    "to_version": version,
                                    "load_seconds": round(time.perf_counter() - started, 2)}
        log.info("%s moved: now serving %s version %s (was version %s; loaded and warmed in "
                 "%.1f s)", self.uri, name, version, old.model_info.get("version"),
                 time.perf_counter() - started)
        return True

    def _failed(self, version: str | None, exc: Exception) -> None:
        message = (str(exc).splitlines() or [type(exc).__name__])[0][:300]
        if version is not None:
            tries = self._retry_at.get(version, (0.0, 0))[1] + 1
            wait = min(600.0, self.poll_seconds * 2 ** (tries - 1))
            self._retry_at[version] = (time.monotonic() + wait, tries)
        self.metrics.failures.inc()
        self.status["failures"] += 1
        self.status["last_failure"] = {"at": _now(), "version": version,
                                       "error": f"{type(exc).__name__}: {message}"}
        log.warning("%s: could not load version %s; still serving version %s: %s: %s",
                    self.uri, version, self._current.model_info.get("version"),
                    type(exc).__name__, message)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
