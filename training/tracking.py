"""MLflow set-up: the tracking store, safe for several training processes at once."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

import mlflow
from mlflow import MlflowClient

from abscopal.settings import Settings, get_settings


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
    """Serialise critical sections (store creation, champion promotion) on a local sqlite store.

    SQLite allows one writer at a time; MLflow creates its schema on first use, and two processes
    doing that together collide. An advisory lock file beside the database orders them.
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


def with_busy_timeout(uri: str, seconds: int = 60) -> str:
    """Let sqlite wait for a concurrent writer instead of failing with 'database is locked'."""
    if sqlite_path(uri) is None or "timeout=" in uri:
        return uri
    return f"{uri}{'&' if '?' in uri else '?'}timeout={seconds}"


class TrackingStoreError(FileNotFoundError):
    """The configured tracking store cannot be used; the message names the path."""


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
    uri = with_busy_timeout(settings.tracking_uri)
    with store_lock(settings.tracking_uri):
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(settings.registry_uri or uri)
        client = MlflowClient()
        client.search_experiments(max_results=1)  # creates and migrates the store under the lock
    return client


def experiment_id(client: MlflowClient, name: str, settings: Settings | None = None) -> str:
    """The experiment's id, creating it with its artifacts beside the sqlite store."""
    settings = settings or get_settings()
    with store_lock(settings.tracking_uri):
        existing = client.get_experiment_by_name(name)
        if existing is not None:
            return existing.experiment_id
        db = sqlite_path(settings.tracking_uri)
        location = (db.parent / "mlartifacts" / name).resolve().as_uri() if db else None
        return client.create_experiment(name, artifact_location=location)
