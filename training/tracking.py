"""MLflow set-up: the tracking store, safe for several training processes at once.

Faults of the store give one clear message naming it and what to do (``StoreUnavailableError``):
a sqlite store locked by another program (after ``store_timeout_seconds``, not a raw
"database is locked" after a minute) and a full disk. Each run records the process that runs it
(host, pid, process start), so a run left RUNNING by a killed process is recognised at once
(``dead_run``) and marked FAILED by the next training or ``abscopal doctor``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.entities import RunStatus
from mlflow.exceptions import MlflowException

from common.settings import Settings, get_settings


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI, absolute and without its query
    (``?timeout=60``): every spelling of one store names one file, so takes one lock."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri.removeprefix("sqlite:///").split("?", 1)[0]
    return Path(path).resolve() if path and path != ":memory:" else None


def lock_path(uri: str) -> Path | None:
    """The advisory lock file of a sqlite store: ``<database>.lock`` beside it."""
    db = sqlite_path(uri)
    return None if db is None else db.with_name(db.name + ".lock")


@contextlib.contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """Serialise store and experiment creation on a local sqlite store.

    SQLite allows one writer at a time; MLflow creates its schema on first use, and two processes
    doing that together collide. An advisory lock file beside the database orders them. Promotion
    does not rely on it: it takes the promotion lock kept in the store itself
    (training.promotion_lock), which also holds across machines.
    """
    lock = lock_path(uri)
    if lock is None:
        yield
        return
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def with_busy_timeout(uri: str, seconds: float = 10) -> str:
    """Let sqlite wait for a concurrent writer (MLflow's writes take milliseconds) instead of
    failing at once with 'database is locked'; a lock held longer is another program's."""
    if sqlite_path(uri) is None or "timeout=" in uri:
        return uri
    return f"{uri}{'&' if '?' in uri else '?'}timeout={seconds:g}"


class TrackingStoreError(FileNotFoundError):
    """The configured tracking store cannot be used; the message names the path."""


class StoreUnavailableError(MlflowException, TrackingStoreError):
    """The store is locked or its disk is full. An MlflowException, so MLflow's own session
    handling passes it on unchanged; a TrackingStoreError, so the command line shows only the
    message."""


def store_fault_message(exc: BaseException, where: str) -> str | None:
    """The clear message for a locked store or a full disk (None for any other error);
    ``where``: the store's file or the artifact path being written."""
    text = str(exc).lower()
    if "database is locked" in text or "database table is locked" in text:
        from common.settings import get_settings

        waited = get_settings().store_timeout_seconds
        return (f"the tracking store {where} is locked by another process (waited {waited:g} s):"
                f" close the program holding it (a sqlite3 shell, a database browser, a stuck "
                f"abscopal or mlflow process; `fuser {where}` lists them) and retry; "
                f"ABSCOPAL_STORE_TIMEOUT_SECONDS sets how long to wait")
    full = ("database or disk is full" in text
            or (isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)))
    if full:
        return (f"no space left on the disk holding {where}: free space (`df -h "
                f"{Path(where).parent}`) and retry; nothing was registered from this attempt "
                f"(`abscopal doctor --fix` removes what it left)")
    return None


def _translate_store_fault(context) -> None:
    """SQLAlchemy ``handle_error`` hook: re-raise sqlite's lock and full-disk errors with the
    message of ``store_fault_message``, naming the database file."""
    url = getattr(getattr(context, "engine", None), "url", None)
    if url is None or url.get_backend_name() != "sqlite":
        return
    where = str(Path(url.database).resolve()) if url.database else str(url)
    message = store_fault_message(context.original_exception, where)
    if message is not None:
        raise StoreUnavailableError(message) from context.original_exception


def install_store_fault_messages() -> None:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if not event.contains(Engine, "handle_error", _translate_store_fault):
        event.listen(Engine, "handle_error", _translate_store_fault)


def guard_artifact_writes() -> None:
    """MLflow copies a logged directory (a model) into a local artifact store file by file
    (``LocalArtifactRepository.log_artifacts``): a full disk left a truncated
    ``python_model.pkl``. Wrapped here: on a full disk, the files of this copy are removed and
    one clear message names the path (other errors pass unchanged). Single files
    (``log_artifact``) are already written through a temporary file by MLflow."""
    from mlflow.store.artifact.local_artifact_repo import LocalArtifactRepository as Repo

    if getattr(Repo.log_artifacts, "_abscopal", False):
        return
    original = Repo.log_artifacts

    def log_artifacts(self, local_dir, artifact_path=None):
        try:
            return original(self, local_dir, artifact_path)
        except OSError as exc:
            destination = Path(self.artifact_dir, artifact_path or "")
            message = store_fault_message(exc, str(destination))
            if message is None:
                raise
            remove_copied(Path(local_dir), destination)
            raise StoreUnavailableError(message) from exc

    log_artifacts._abscopal = True
    Repo.log_artifacts = log_artifacts


def remove_copied(source: Path, destination: Path) -> None:
    """Delete from ``destination`` every file that mirrors one below ``source``, then the
    directories left empty (a half-made copy; nothing else is touched)."""
    for path in sorted(source.rglob("*"), reverse=True):
        target = destination / path.relative_to(source)
        with contextlib.suppress(OSError):
            if path.is_dir():
                target.rmdir()  # only when empty
            else:
                target.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        destination.rmdir()


PROCESS_TAGS = ("abscopal.host", "abscopal.pid", "abscopal.process_start")


def _process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), so a reused pid is told
    apart; None where /proc is absent."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def process_tags() -> dict[str, str]:
    pid = os.getpid()
    return {"abscopal.host": socket.gethostname(), "abscopal.pid": str(pid),
            "abscopal.process_start": _process_start(pid) or ""}


def dead_run(tags: dict[str, str]) -> bool:
    """True when the run's recorded process ran on this host and is gone (or its pid now
    belongs to another process). Runs from other hosts or without the tags: unknown, False."""
    if tags.get("abscopal.host") != socket.gethostname() or not tags.get("abscopal.pid"):
        return False
    pid = int(tags["abscopal.pid"])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        pass
    started = tags.get("abscopal.process_start")
    return bool(started) and _process_start(pid) not in (None, started)


def running_here(tags: dict[str, str]) -> bool:
    """The run's recorded process is alive on this host (a long training is not stale)."""
    return (tags.get("abscopal.host") == socket.gethostname() and bool(tags.get("abscopal.pid"))
            and not dead_run(tags))


class ProcessRunContext:
    """MLflow run-context provider: every run started in this process records the process."""

    def in_context(self) -> bool:
        return True

    def tags(self) -> dict[str, str]:
        return process_tags()


def record_run_process() -> None:
    from mlflow.tracking.context.registry import _run_context_provider_registry as registry

    if not any(isinstance(p, ProcessRunContext) for p in registry):
        registry.register(ProcessRunContext)


def fail_dead_runs(client: MlflowClient, experiment_ids: list[str]) -> list[str]:
    """Mark FAILED the RUNNING runs whose process is gone (killed, crashed); their ids."""
    failed = []
    if not experiment_ids:
        return failed
    for run in client.search_runs(experiment_ids, "attributes.status = 'RUNNING'"):
        if dead_run(run.data.tags):
            client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.FAILED))
            failed.append(run.info.run_id)
    return failed


def check_store_location(uri: str) -> None:
    """A sqlite store may be created on first use, but only in a directory that exists: a
    mistyped URI must not silently start an empty registry somewhere else."""
    db = sqlite_path(uri)
    if db is None or db.exists():
        return
    if not db.parent.is_dir():
        raise TrackingStoreError(
            f"the tracking store {db} does not exist and its directory {db.parent} does not "
            f"either: check MLFLOW_TRACKING_URI / ABSCOPAL_TRACKING_URI ({uri}), or create the "
            f"directory to start a new store there"
        )


def configure(settings: Settings | None = None) -> MlflowClient:
    """Point MLflow at the configured store (created on first use, in an existing directory
    only) and return a client."""
    settings = settings or get_settings()
    check_store_location(settings.tracking_uri)
    if settings.registry_uri and settings.registry_uri != settings.tracking_uri:
        check_store_location(settings.registry_uri)
    install_store_fault_messages()
    guard_artifact_writes()
    record_run_process()
    uri = with_busy_timeout(settings.tracking_uri, settings.store_timeout_seconds)
    with store_lock(settings.tracking_uri):
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(settings.registry_uri or uri)
        client = MlflowClient()
        client.search_experiments(max_results=1)  # creates and migrates the store under the lock
    return client


def experiment_id(client: MlflowClient, name: str, settings: Settings | None = None) -> str:
    """The experiment's id, creating it with its artifacts beside the sqlite store; runs of it
    left RUNNING by a dead process are marked FAILED first (a training starts here). Two
    trainers creating it at once on a shared server (no file lock there): the one refused with
    RESOURCE_ALREADY_EXISTS takes the other's."""
    settings = settings or get_settings()
    with store_lock(settings.tracking_uri):
        existing = client.get_experiment_by_name(name)
        if existing is not None:
            fail_dead_runs(client, [existing.experiment_id])
            return existing.experiment_id
        db = sqlite_path(settings.tracking_uri)
        location = (db.parent / "mlartifacts" / name).resolve().as_uri() if db else None
        try:
            return client.create_experiment(name, artifact_location=location)
        except MlflowException as exc:
            existing = client.get_experiment_by_name(name)
            if exc.error_code != "RESOURCE_ALREADY_EXISTS" or existing is None:
                raise
            return existing.experiment_id
