"""Registered artifacts are checked against the digests recorded at registration before any
unpickling: a truncated, replaced, deleted or crafted file is refused, naming the file."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from abscopal.cli import app
from training.artifacts import DIGEST_TAG, ModelIntegrityError
from training.loading import load_model

URI = "models:/rt-benefit@champion"


class Crafted:
    """Unpickling this runs code (it writes a marker file): what a tampered store could do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "code ran at load"))


@pytest.fixture(scope="module")
def store(artifact_store) -> str:
    return artifact_store


@pytest.fixture
def registered(store, monkeypatch) -> Path:
    """The champion's files; every test's tampering is undone afterwards."""
    from tests.conftest import point_mlflow_at

    point_mlflow_at(store, monkeypatch)
    directory = Path(mlflow.artifacts.download_artifacts(artifact_uri=URI))
    saved = {p: p.read_bytes() for p in directory.iterdir() if p.is_file()}
    digests = MlflowClient().get_model_version("rt-benefit", "1").tags[DIGEST_TAG]
    yield directory
    for path, data in saved.items():
        path.write_bytes(data)
    client = MlflowClient()
    client.set_model_version_tag("rt-benefit", "1", DIGEST_TAG, digests)
    for version in client.search_model_versions("name='rt-benefit'"):
        if str(version.version) != "1":
            client.delete_model_version("rt-benefit", version.version)


def test_intact_model_loads_and_its_digests_are_recorded(registered):
    assert load_model(URI).bundle is not None
    tags = MlflowClient().get_model_version("rt-benefit", "1").tags
    assert "python_model.pkl" in tags[DIGEST_TAG]


def test_truncated_pickle_is_refused_naming_the_file(registered):
    pkl = registered / "python_model.pkl"
    data = pkl.read_bytes()
    pkl.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelIntegrityError, match=r"python_model\.pkl does not match"):
        load_model(URI)
    result = CliRunner().invoke(app, ["predict", "--cohort", "x.csv", "--out", "y.csv"])
    assert result.exit_code == 2 and "python_model.pkl" in result.output


def test_crafted_pickle_never_runs(registered, tmp_path):
    marker = tmp_path / "pwned"
    (registered / "python_model.pkl").write_bytes(pickle.dumps(Crafted(marker)))
    with pytest.raises(ModelIntegrityError):
        load_model(URI)
    assert not marker.exists()


def test_deleted_artifact_says_missing_not_untrained(registered):
    os.remove(registered / "python_model.pkl")
    with pytest.raises(ModelIntegrityError, match=r"python_model\.pkl is missing"):
        load_model(URI)


def test_version_without_digests_is_refused(registered):
    MlflowClient().delete_model_version_tag("rt-benefit", "1", DIGEST_TAG)
    with pytest.raises(ModelIntegrityError, match="registration did not complete"):
        load_model(URI)


def test_doctor_finds_and_cleans_what_a_crash_left(registered):
    client = MlflowClient()
    # what kill -9 between registration and tagging leaves: a version without its tags
    source = client.get_model_version("rt-benefit", "1").source
    client.create_model_version("rt-benefit", source)
    # and a run that never ended, started long ago
    experiment = client.get_experiment_by_name("abscopal").experiment_id
    stale = client.create_run(experiment, start_time=1_000).info.run_id
    runner = CliRunner()
    report = runner.invoke(app, ["doctor"])
    assert report.exit_code == 0
    assert "incomplete: rt-benefit version 2" in report.output and stale in report.output
    fixed = runner.invoke(app, ["doctor", "--fix"])
    assert "deleted rt-benefit version 2" in fixed.output
    assert client.get_run(stale).info.status == "FAILED"
    assert load_model(URI).version == "1"  # the champion is untouched
    assert "clean" in runner.invoke(app, ["doctor"]).output


def test_readyz_fails_once_a_loaded_artifact_vanishes_or_changes(registered):
    """BentoML's /readyz says 200 once the service's __init__ returned; ApiGuard answers it
    503 when a file of the loaded model is gone or changed (a restarted worker would refuse it)."""
    import asyncio

    from serving.guard import ApiGuard
    from training.artifacts import loaded_artifacts_intact

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    guard = ApiGuard(app, limits=None, head_timeout=None)

    def readyz() -> tuple[int, bytes]:
        sent = []

        async def send(message):
            sent.append(message)

        async def receive():
            return {"type": "http.disconnect"}

        scope = {"type": "http", "method": "GET", "path": "/readyz", "headers": []}
        asyncio.run(guard(scope, receive, send))
        return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])

    load_model(URI)
    assert loaded_artifacts_intact() is None
    assert readyz()[0] == 200
    pkl = registered / "python_model.pkl"
    pkl.rename(pkl.with_suffix(".moved"))
    try:
        status, body = readyz()
        assert status == 503 and b"python_model.pkl is missing" in body
    finally:
        pkl.with_suffix(".moved").rename(pkl)
    assert readyz()[0] == 200
    pkl.write_bytes(pkl.read_bytes() + b"x")  # restored by the fixture
    status, body = readyz()
    assert status == 503 and b"changed since it was loaded" in body
