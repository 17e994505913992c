"""Issue 13 item 7: a renamed outcome is refused by testing the data, not the feature names."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from models.guard import MAX_CONCORDANCE, OutcomeLeakError, check_outcome_leakage
from tests.conftest import write_small_trial
from training.data import TrainingDataError, load_training_data
from training.job import TrainConfig, _log_inputs, train

LEAKY = ["age", "pdl1_tps", "pfs_copy", "progressed_6mo"]


def leaky_trial(path: Path, n: int = 200) -> Path:
    """The small SYNTHETIC trial plus the outcome under two other names."""
    write_small_trial(path, n=n)
    frame = pd.read_csv(path)
    rng = np.random.default_rng(1)
    frame["pfs_copy"] = frame["pfs_months"] + rng.normal(0, 0.5, len(frame))
    frame["progressed_6mo"] = ((frame["pfs_event"] == 1) & (frame["pfs_months"] <= 6)).astype(int)
    frame.to_csv(path, index=False)
    return path


def test_renamed_outcome_is_refused_naming_both_features_and_leaves_no_run(tmp_path):
    cohort = leaky_trial(tmp_path / "leaky.csv")
    config = TrainConfig(cohort=cohort, features=LEAKY, learner="risk", folds=2, n_bootstrap=10)
    with pytest.raises(TrainingDataError) as refused:
        train(config)
    message = str(refused.value)
    assert "pfs_copy (concordance with the outcome 0.9" in message
    assert "progressed_6mo (concordance with the outcome over pairs" in message
    assert "--allow-feature pfs_copy --allow-feature progressed_6mo" in message
    assert "age" not in message.split("itself")[1] and "pdl1_tps" not in message
    client = MlflowClient()
    experiments = client.search_experiments()
    assert not client.search_runs([e.experiment_id for e in experiments]) if experiments else True


def test_the_cli_refuses_the_leak_and_the_override_flag_reaches_the_config(tmp_path, monkeypatch):
    from abscopal.cli import app

    cohort = leaky_trial(tmp_path / "leaky.csv")
    args = ["train", "--cohort", str(cohort), "--features", ",".join(LEAKY), "--no-register"]
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code != 0
    assert "pfs_copy" in refused.output and "progressed_6mo" in refused.output
    assert "Traceback" not in refused.output

    seen = {}

    def capture(config, progress=None, **options):  # e.g. scheduler=
        seen["config"] = config
        raise SystemExit(0)

    monkeypatch.setattr("training.job.train", capture)
    CliRunner().invoke(app, [*args, "--allow-feature", "pfs_copy,progressed_6mo",
                             "--allow-feature", "age"])
    assert seen["config"].allow_features == ["pfs_copy", "progressed_6mo", "age"]


def test_allowed_features_pass_and_the_override_is_recorded(tmp_path):
    cohort = leaky_trial(tmp_path / "leaky.csv")
    allow = ["pfs_copy", "progressed_6mo"]
    data = load_training_data(cohort, features=LEAKY, allow_features=allow)
    assert list(data.X.columns) == LEAKY
    check = data.feature_info["pfs_copy"]["leakage_check"]  # shown in the model card's features
    assert check["allowed_by_user"] and check["concordance"] > 0.9
    assert "leakage_check" not in data.feature_info["age"]
    config = TrainConfig(cohort=cohort, features=LEAKY, allow_features=allow)
    with mlflow.start_run() as run:
        _log_inputs(config, data, "leaky")
    params = MlflowClient().get_run(run.info.run_id).data.params
    assert "pfs_copy" in params["allow_features"] and "progressed_6mo" in params["allow_features"]
    with pytest.raises(TrainingDataError, match="not among the selected features"):
        load_training_data(cohort, features=["age", "tmb"], allow_features=["nlr"])


def test_a_legitimate_virtual_trial_passes_with_every_default_feature(tmp_path):
    from cohorts.simulate import write_trial

    cohort = write_trial(tmp_path / "trial", n_patients=300, seed=11)
    data = load_training_data(cohort)
    assert data.X.shape[1] > 20  # the whole default baseline selection was tested
    figures = check_outcome_leakage(data.X, data.Y["time"], data.Y["event"])
    assert max(f["concordance"] for f in figures.values()) < MAX_CONCORDANCE - 0.1


def test_sparse_and_constant_features_are_skipped_not_refused():
    rng = np.random.default_rng(0)
    time = rng.exponential(5, 200)
    event = np.ones(200)
    sparse = np.full(200, np.nan)
    sparse[:15] = time[:15]  # a copy of the time, but on 15 rows only: too few to judge
    X = pd.DataFrame({"sparse": sparse, "constant": np.ones(200), "copy": time})
    with pytest.raises(OutcomeLeakError) as refused:
        check_outcome_leakage(X, time, event)
    assert "copy (" in str(refused.value) and "sparse" not in str(refused.value)
    figures = check_outcome_leakage(X, time, event, allow=["copy"])
    assert set(figures) == {"copy"}


def test_large_cohorts_are_judged_on_a_subset_of_pairs():
    from models.guard import untied_concordance

    rng = np.random.default_rng(2)
    time = rng.exponential(5, 12_000)
    event = (rng.uniform(size=12_000) < 0.7).astype(float)
    progressed = ((event == 1) & (time <= 6)).astype(float)
    assert untied_concordance(progressed, time, event, max_rows=2000) == 1.0
    assert untied_concordance(rng.normal(size=12_000), time, event, max_rows=2000) < 0.6
