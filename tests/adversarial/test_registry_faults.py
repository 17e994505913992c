"""A registry that crash-stops cleanly (issue 13, item 5), with real faults: ``kill -9`` of a
registering process at each stage, a second process holding an exclusive sqlite lock, a store
that cannot grow (sqlite's max_page_count: the same SQLITE_FULL as a full disk) and a full disk
while a model directory is copied (fault-injected ENOSPC)."""

from __future__ import annotations

import errno
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from abscopal.cli import app
from common.settings import get_settings
from tests.conftest import point_mlflow_at
from training.artifacts import ModelIntegrityError
from training.loading import load_model
from training.registry import REGISTRATION_TAG, register_version
from training.tracking import StoreUnavailableError, configure, store_fault_message

URI = "models:/rt-benefit@champion"

REGISTER_AND_DIE = textwrap.dedent("""
    import os, signal, sys
    import mlflow
    from common.settings import get_settings
    from training import registry
    from training.tracking import configure, experiment_id

    stage = sys.argv[1]
    client = configure()
    source = client.get_model_version("rt-benefit", "1").source
    mlflow.start_run(experiment_id=experiment_id(client, "abscopal"))  # left RUNNING by the kill

    def die(*args):
        os.kill(os.getpid(), signal.SIGKILL)

    real_tag, real_alias = client.set_model_version_tag, client.set_registered_model_alias
    if stage == "promotion tagged":
        def tag(name, version, key, value):
            real_tag(name, version, key, value)
            if key == "promotion":
                die()
        client.set_model_version_tag = tag
    elif stage == "alias moved":
        def alias(*args):
            real_alias(*args)
            die()
        client.set_registered_model_alias = alias
    decide = die if stage == "version created" else (lambda alias: (True, "promoted (test)"))
    registry.register_version(client, get_settings(), source, "rt-benefit", key="crash",
                              tags={}, decide=decide)
    print("not killed")
""")


@pytest.fixture
def store(artifact_store, tmp_path, monkeypatch) -> Path:
    """A copy of the champion's database (the artifacts stay where they are, read only)."""
    db = tmp_path / "mlflow.db"
    shutil.copy(artifact_store.removeprefix("sqlite:///"), db)
    point_mlflow_at(f"sqlite:///{db}", monkeypatch)
    return db


def versions(client: MlflowClient) -> dict[str, dict]:
    return {str(v.version): v.tags for v in client.search_model_versions("name='rt-benefit'")}


@pytest.mark.parametrize("stage", ["version created", "promotion tagged", "alias moved"])
def test_kill_9_during_registration_is_never_served_and_is_cleaned(store, stage):
    killed = subprocess.run([sys.executable, "-c", REGISTER_AND_DIE, stage],
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr[-2000:]
    client = configure()
    assert versions(client)["2"][REGISTRATION_TAG] == "pending"
    if stage == "alias moved":  # the champion points to it: refused, with what to do
        with pytest.raises(ModelIntegrityError, match=r"pending.*abscopal doctor --fix"):
            load_model(URI)
    else:
        assert load_model(URI).version == "1"

    runner = CliRunner()
    report = runner.invoke(app, ["doctor"])
    assert "incomplete: rt-benefit version 2" in report.output
    assert "its process (pid" in report.output and "is gone" in report.output
    fixed = runner.invoke(app, ["doctor", "--fix"])
    assert fixed.exit_code == 0, fixed.output
    if stage == "alias moved":  # every step but the last tag was done
        assert "completed rt-benefit version 2" in fixed.output
        assert load_model(URI).version == "2"
        assert versions(client)["2"][REGISTRATION_TAG] == "complete"
    else:
        assert "deleted rt-benefit version 2" in fixed.output
        assert load_model(URI).version == "1"
        assert set(versions(client)) == {"1"}
    assert "FAILED" in fixed.output
    assert not client.search_runs([client.get_experiment_by_name("abscopal").experiment_id],
                                  "attributes.status = 'RUNNING'")
    assert "clean" in runner.invoke(app, ["doctor"]).output


def test_the_next_registration_sweeps_what_a_kill_left(store):
    killed = subprocess.run([sys.executable, "-c", REGISTER_AND_DIE, "version created"],
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL
    client = configure()
    from training.tracking import experiment_id

    experiment_id(client, "abscopal")  # where a training starts: dead runs marked FAILED
    experiment = client.get_experiment_by_name("abscopal").experiment_id
    assert not client.search_runs([experiment], "attributes.status = 'RUNNING'")
    source = client.get_model_version("rt-benefit", "1").source
    # the same training key as the killed attempt: the pending version is no duplicate
    version, promoted, _ = register_version(
        client, get_settings(), source, "rt-benefit", key="crash", tags={},
        decide=lambda alias: (False, "kept (test)"))
    assert (version, promoted) == ("3", False)
    tags = versions(client)
    assert set(tags) == {"1", "3"} and tags["3"][REGISTRATION_TAG] == "complete"


def test_a_locked_store_says_so_quickly_naming_it(store, monkeypatch):
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sqlite3, sys, time
            con = sqlite3.connect({str(store)!r}, isolation_level=None)
            con.execute("BEGIN EXCLUSIVE")
            print("locked", flush=True)
            time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        monkeypatch.setenv("ABSCOPAL_STORE_TIMEOUT_SECONDS", "1")
        get_settings.cache_clear()
        start = time.perf_counter()
        result = CliRunner().invoke(app, ["doctor"])
        wall = time.perf_counter() - start
    finally:
        holder.kill()
        holder.wait()
    assert result.exit_code == 2, result.output
    assert f"the tracking store {store} is locked by another process" in result.output
    assert "fuser" in result.output and "Traceback" not in result.output
    assert wall < 10, wall


def test_a_full_store_says_so_and_registers_nothing(store, tmp_path):
    """sqlite's max_page_count makes the database unable to grow: SQLITE_FULL, the error of a
    full disk, from a real write."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    client = configure()
    source = client.get_model_version("rt-benefit", "1").source
    full = tmp_path / "full.db"
    shutil.copy(store, full)
    pages = sqlite3.connect(full).execute("PRAGMA page_count").fetchone()[0]

    def cap(dbapi_connection, _record):
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

    event.listen(Engine, "connect", cap)
    try:
        uri = f"sqlite:///{full}"
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        full_client = MlflowClient(uri, uri)
        with pytest.raises(StoreUnavailableError, match=f"no space left on the disk holding "
                                                        f"{full}"):
            register_version(full_client, get_settings(), source, "rt-benefit",
                             key="full", tags={f"pad{i}": "x" * 90_000 for i in range(40)},
                             decide=lambda alias: (True, "promoted (test)"))
    finally:
        event.remove(Engine, "connect", cap)
    assert set(versions(MlflowClient(uri, uri))) == {"1"}


def test_a_full_disk_while_copying_a_model_leaves_no_half_file(tmp_path, monkeypatch):
    from mlflow.store.artifact import local_artifact_repo

    from training.tracking import guard_artifact_writes

    model = tmp_path / "model"
    model.mkdir()
    (model / "MLmodel").write_text("flavors: {}\n")
    (model / "python_model.pkl").write_bytes(b"p" * 100_000)

    def copy_until_full(src, dst):
        Path(dst).mkdir(parents=True, exist_ok=True)
        shutil.copy(Path(src) / "MLmodel", Path(dst) / "MLmodel")
        (Path(dst) / "python_model.pkl").write_bytes(b"p" * 1000)  # truncated
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(local_artifact_repo, "shutil_copytree_without_file_permissions",
                        copy_until_full)
    guard_artifact_writes()
    store = tmp_path / "artifacts"
    repo = local_artifact_repo.LocalArtifactRepository(store.as_uri())
    with pytest.raises(StoreUnavailableError, match="no space left on the disk holding") as err:
        repo.log_artifacts(str(model), "models/m-1/artifacts")
    assert str(store / "models/m-1/artifacts") in str(err.value)
    assert not [p for p in store.rglob("*") if p.is_file()]
    # any other error passes unchanged
    monkeypatch.setattr(local_artifact_repo, "shutil_copytree_without_file_permissions",
                        lambda src, dst: (_ for _ in ()).throw(PermissionError(13, "denied")))
    with pytest.raises(PermissionError):
        repo.log_artifacts(str(model), "x")


@pytest.mark.parametrize(("exc", "expected"), [
    (sqlite3.OperationalError("database is locked"), "is locked by another process"),
    (sqlite3.OperationalError("database or disk is full"), "no space left on the disk"),
    (OSError(errno.ENOSPC, "No space left on device"), "no space left on the disk"),
    (OSError(errno.EDQUOT, "Disk quota exceeded"), "no space left on the disk"),
    (sqlite3.OperationalError("no such table: runs"), None),
    (OSError(errno.EACCES, "Permission denied"), None),
])
def test_store_fault_messages(exc, expected):
    message = store_fault_message(exc, "/data/mlflow.db")
    if expected is None:
        assert message is None
    else:
        assert expected in message and "/data/mlflow.db" in message
