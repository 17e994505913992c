"""`mlflow run . -e train` retrains and registers through an MLflow Projects run (MLproject)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from mlflow import MlflowClient

from common.settings import project_root
from tests.conftest import write_small_trial


def test_entry_points_mirror_the_cli():
    project = yaml.safe_load((project_root() / "MLproject").read_text())
    points = project["entry_points"]
    assert {"main", "simulate", "features", "train", "evaluate"} <= set(points)
    for name in ("simulate", "features", "train", "evaluate"):
        assert points[name]["command"].startswith(f"abscopal {name} ")
        for param in points[name]["parameters"]:
            if param != "extra":
                assert f"{{{param}}}" in points[name]["command"], (name, param)


def test_mlflow_run_train_retrains_and_registers(tmp_path):
    cohort = write_small_trial(tmp_path / "trial.csv", n=160)
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
           "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    run = subprocess.run(
        [str(bin_dir / "mlflow"), "run", str(project_root()), "-e", "train",
         "-P", f"cohort={cohort}", "-P", "learner=risk", "-P", "folds=2", "-P", "bootstrap=10",
         "-P", "model_name=mlproject-test", "-P", "extra=--id-col patient_id --json",
         "--env-manager", "local", "--experiment-name", "abscopal"],
        env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    client = MlflowClient()  # the test's own store (MLFLOW_TRACKING_URI)
    project_run = client.get_run(result["run_id"])
    # the training logged into the Projects run itself
    assert project_run.data.tags["mlflow.project.entryPoint"] == "train"
    assert project_run.info.status == "FINISHED"
    assert "holdout_benefit_loss" in project_run.data.metrics
    assert result["version"] == "1" and result["promoted"]
    champion = client.get_model_version_by_alias("mlproject-test", "champion")
    assert champion.run_id == result["run_id"]
