"""The Bento: built from the session's champion into a temporary BENTOML_HOME by `abscopal bento`,
served by `bentoml serve <tag>` on 127.0.0.1 with no MLflow store, answering as `abscopal predict`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import httpx
import mlflow
import pytest
import yaml

from common import OFFLINE_ENV
from common.settings import project_root
from serving.process import ServerProcess, free_port
from tests.serving.conftest import assert_response_matches_table, records_from_csv
from training.loading import bento_model_tag
from training.scoring import predict_cohort

pytestmark = pytest.mark.slow  # a live server or a build: run by make test, not make test-fast


def test_bentofile_packages_are_the_core_dependencies():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    pyproject = tomllib.loads((project_root() / "pyproject.toml").read_text())
    bentofile = yaml.safe_load((project_root() / "bentofile.yaml").read_text())
    assert bentofile["python"]["packages"] == pyproject["project"]["dependencies"]


def test_bento_model_tag_only_inside_a_bento(tmp_path):
    assert bento_model_tag("rt-benefit") is None  # a source checkout is no Bento
    (tmp_path / "bento.yaml").write_text(
        "models:\n- tag: ici-prognosis:aaa\n- tag: rt-benefit:bbb\n")
    assert bento_model_tag("rt-benefit", tmp_path) == "rt-benefit:bbb"
    assert bento_model_tag("other", tmp_path) is None


@pytest.fixture(scope="module")
def bento(trained_model, tmp_path_factory):
    home = tmp_path_factory.mktemp("bentoml_home")
    env = {"MLFLOW_TRACKING_URI": trained_model.tracking_uri,
           "ABSCOPAL_TRACKING_URI": trained_model.tracking_uri, "BENTOML_HOME": str(home),
           **OFFLINE_ENV}
    built = subprocess.run([sys.executable, "-m", "abscopal", "bento"], env={**os.environ, **env},
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    tag = built.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"abscopal:[a-z0-9]+", tag)
    return home, tag


def test_bento_carries_the_champion_and_its_provenance(bento, trained_model):
    home, tag = bento
    name, version = tag.split(":")
    root = home / "bentos" / name / version
    info = yaml.safe_load((root / "bento.yaml").read_text())
    labels = info["labels"]
    result = trained_model.result
    mlflow.set_tracking_uri(trained_model.tracking_uri)
    fingerprint = mlflow.artifacts.load_dict(f"runs:/{result.run_id}/data_fingerprint.json")
    assert labels["mlflow_model_name"] == "rt-benefit"
    assert labels["mlflow_model_version"] == result.version
    assert labels["mlflow_run_id"] == result.run_id
    assert labels["training_data_sha256"] == fingerprint["sha256"]
    assert labels["synthetic"] == "true"
    [model] = info["models"]
    assert model["tag"].startswith("rt-benefit:")
    assert (root / "src" / "serving" / "service.py").is_file()
    assert not (root / "src" / "tests").exists() and not (root / "src" / "mlflow.db").exists()
    model_dir = home / "models" / "rt-benefit" / model["tag"].split(":")[1]
    assert yaml.safe_load((model_dir / "model.yaml").read_text())["labels"] == {
        k: labels[k] for k in ("mlflow_model_name", "mlflow_model_version", "mlflow_run_id",
                               "training_data_sha256", "synthetic")}


def test_bento_serves_without_mlflow(bento, champion, tmp_path):
    home, tag = bento
    absent = tmp_path / "no_store" / "mlflow.db"
    port = free_port()
    server = ServerProcess(
        [sys.executable, "-m", "bentoml", "serve", tag, "--host", "127.0.0.1",
         "--port", str(port)], port, tmp_path / "bento.log", cwd=tmp_path, workers=1,
        env={"BENTOML_HOME": str(home), "MLFLOW_TRACKING_URI": f"sqlite:///{absent}",
             "ABSCOPAL_TRACKING_URI": f"sqlite:///{absent}", "ABSCOPAL_MODEL_URI": None,
             "ABSCOPAL_API_TOKEN": None, "ABSCOPAL_WORKERS": "1", "OMP_NUM_THREADS": "1"})
    try:
        server.wait_ready(timeout=180)
        records = records_from_csv(champion.cohort, 3)
        response = httpx.post(f"{server.url}/predict", json={"patients": records}, timeout=60)
        assert response.status_code == 200, response.text
        body = response.json()
    finally:
        server.stop()
    table = predict_cohort(None, champion.cohort, tmp_path / "p.csv").set_index("patient_id")
    assert [p["patient_id"] for p in body["predictions"]] == [r["patient_id"] for r in records]
    assert_response_matches_table(body, table)
    model = body["model"]
    assert model["uri"].startswith("bentoml:rt-benefit:")
    assert (model["name"], model["version"]) == ("rt-benefit", champion.result.version)
    gate = champion.result.metrics["heterogeneity"]  # the gate's result, and whether it beats
    assert model["heterogeneity"] == {**gate, "beats_average_p_value": pytest.approx(  # the mean
        gate["beats_average_p_value"])}
    assert not absent.parent.exists()  # no MLflow store was created or read


def test_a_changed_bento_model_is_not_loaded(bento, tmp_path):
    home, tag = bento
    info = yaml.safe_load((home / "bentos" / tag.replace(":", "/") / "bento.yaml").read_text())
    model_tag = info["models"][0]["tag"]
    pickle = (home / "models" / model_tag.replace(":", "/") / "mlflow_model"
              / "python_model.pkl")
    original = pickle.read_bytes()
    pickle.write_bytes(original[: len(original) // 2])  # truncated
    try:
        run = subprocess.run(
            [sys.executable, "-c", "from training.loading import load_model; "
             f"load_model('bentoml:{model_tag}')"],
            env={**os.environ, "BENTOML_HOME": str(home)}, cwd=tmp_path, capture_output=True,
            text=True, timeout=120)
    finally:
        pickle.write_bytes(original)
    assert run.returncode != 0
    assert "ModelIntegrityError" in run.stderr and "python_model.pkl" in run.stderr
