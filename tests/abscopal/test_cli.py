"""The command line's paper cuts: --version, units on printed figures, progress while training."""

from __future__ import annotations

import re
from importlib.metadata import version

import rich.progress
from typer.testing import CliRunner

import abscopal
from abscopal.cli import app
from tests.conftest import write_small_trial


def test_version_prints_the_package_version():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"abscopal {abscopal.__version__}"
    assert abscopal.__version__ == version("abscopal")  # pyproject and package agree


def test_train_shows_progress_and_units(tmp_path, monkeypatch):
    tasks: list[str] = []

    class Recording(rich.progress.Progress):
        def add_task(self, description, *args, **kwargs):
            tasks.append(description)
            return super().add_task(description, *args, **kwargs)

    monkeypatch.setattr(rich.progress, "Progress", Recording)
    cohort = write_small_trial(tmp_path / "t.csv", n=160)
    result = CliRunner().invoke(app, ["train", "--cohort", str(cohort), "--learner", "risk",
                                      "--folds", "2", "--bootstrap", "10", "--no-register",
                                      "--heterogeneity-alpha", "0"])  # the gate cannot pass
    assert result.exit_code == 0, result.output
    assert tasks[0] == "cross-validating learners"
    assert "fitting risk and 10 bootstrap members" in tasks
    assert re.search(r"holdout_benefit_loss: \d+\.\d months\^2 \(mean squared error", result.output)
    assert re.search(r"RMST difference -?\d+\.\d\d months", result.output)
    assert re.search(r"more accurate than the average \(slope > 0\.5\): one-sided p = "
                     r"\d\.\d\d", result.output)
    assert re.search(r"served: every patient gets the trial's average effect \(all 160 "
                     r"patients\): 12-month RMST gain -?\d+\.\d\d months \(90% interval",
                     result.output)


def test_bento_without_a_champion_says_how_to_train_one():
    result = CliRunner().invoke(app, ["bento"])  # the test's own, empty MLflow store
    assert result.exit_code == 2
    assert "no model at models:/rt-benefit@champion" in result.output
    assert "abscopal train --cohort" in result.output


def test_the_learner_choices_are_the_models_learners():
    from abscopal.cli import Learner
    from models import LEARNERS
    from training.job import CANDIDATES

    assert [choice.value for choice in Learner] == ["auto", *LEARNERS]
    assert CANDIDATES == tuple(LEARNERS)


def test_doctor_names_a_promotion_lock_whose_process_is_gone():
    import os
    import subprocess
    import sys

    from training.promotion_lock import lock_name
    from training.tracking import configure

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    configure().create_registered_model(lock_name("rt-benefit"), tags={
        "abscopal.host": os.uname().nodename, "abscopal.pid": dead})
    result = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code == 0, result.output
    assert "stale lock: promotion lock rt-benefit.promotion-lock held by host " in result.output
    assert "run `abscopal doctor --fix` to clean up" in result.output
    fixed = CliRunner().invoke(app, ["doctor", "--fix"])
    assert "fixed: " in fixed.output
    assert "the tracking store is clean" in CliRunner().invoke(app, ["doctor"]).output
