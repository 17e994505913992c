from __future__ import annotations

import json
import os
import subprocess
import sys

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from tests.conftest import write_small_trial
from training import job, registry
from training.criterion import SELECTION_ESTIMAND, pseudo_outcomes
from training.data import TrainingDataError, load_training_data
from training.job import TrainConfig, train
from training.split import holdout_split


def fast_config(cohort, **overrides) -> TrainConfig:
    return TrainConfig(**{"cohort": cohort, "learner": "risk", "folds": 3, "n_bootstrap": 10,
                          "seed": 3, **overrides})


def test_training_run_is_complete(champion):
    result = champion.result
    client = MlflowClient()
    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["abscopal.synthetic"] == "true"
    assert {"cv_risk_benefit_loss", "cv_t_benefit_loss", "cv_s_benefit_loss",
            "cv_dr_benefit_loss", "holdout_benefit_loss", "average_hazard_ratio"} <= set(
        run.data.metrics
    )
    artifacts = {a.path for a in client.list_artifacts(result.run_id, "plots")}
    assert artifacts == {
        "plots/calibration_of_benefit.png", "plots/qini.png", "plots/km_by_predicted_benefit.png"
    }
    fingerprint = mlflow.artifacts.load_dict(f"runs:/{result.run_id}/data_fingerprint.json")
    assert fingerprint["n"] == 400 and fingerprint["n_ici"] + fingerprint["n_rt_ici"] == 400
    champion_version = client.get_model_version_by_alias("rt-benefit", "champion")
    assert str(champion_version.version) == result.version and result.promoted


def test_pyfunc_returns_full_prediction(champion):
    model = mlflow.pyfunc.load_model(champion.result.model_uri)
    out = model.predict(pd.DataFrame([{"patient_id": "x", "pdl1_tps": 0.0, "tmb": 3.0},
                                      {"pdl1_tps": 80.0}]))
    assert list(out["patient_id"]) == ["x", "patient-2"]
    assert len(out.loc[0, "survival_ici"]) == len(out.loc[0, "months"]) == 49
    assert (out["pfs_gain_6mo_lower"] <= out["pfs_gain_6mo_upper"]).all()


def test_promotion_needs_a_significantly_better_holdout_loss(tmp_path, monkeypatch):
    cohort = write_small_trial(tmp_path / "t.csv", n=200)
    first = train(fast_config(cohort))
    assert first.promoted
    # identical data and settings: no second, identical version
    again = train(fast_config(cohort))
    assert again.version == "1" and not again.promoted and "identical" in again.reason

    def champion(gain):
        def score(uri, holdout):
            return gain(holdout), "", np.ones(holdout.n, bool)
        return score

    # a champion that predicts every held-out pseudo-outcome exactly cannot be beaten
    def exact(h):
        return pseudo_outcomes(h.Y, h.T)[SELECTION_ESTIMAND].to_numpy()

    monkeypatch.setattr(job, "holdout_pseudo_outcomes", lambda part, h, seed: exact(h))
    monkeypatch.setattr(registry, "champion_holdout_gain", champion(exact))
    second = train(fast_config(cohort, seed=4))
    assert not second.promoted and "kept champion v1: not shown better" in second.reason
    # a far-off champion loses the paired one-sided test
    monkeypatch.setattr(registry, "champion_holdout_gain", champion(
        lambda h: np.full(h.n, 1e3)))
    third = train(fast_config(cohort, seed=5))
    assert third.promoted and third.version == "3" and "one-sided p" in third.reason
    alias = MlflowClient().get_model_version_by_alias("rt-benefit", "champion")
    assert str(alias.version) == "3"
    # the first training again, by code whose feature pipeline changed: not a duplicate of v1,
    # which that code refuses to load
    monkeypatch.setattr(job, "PIPELINE_VERSION", "next")
    assert train(fast_config(cohort)).version == "4"


def test_champion_is_scored_only_on_patients_it_was_not_trained_on(tmp_path):
    cohort = write_small_trial(tmp_path / "t.csv", n=200)
    first = train(fast_config(cohort, heterogeneity_alpha=1.0))  # individual effects served
    data = load_training_data(cohort)
    old_train, _ = holdout_split(data, 0.25, 3)
    _, new_hold = holdout_split(data, 0.25, 4)  # another seed: overlaps the old training part
    holdout = data.subset(new_hold)
    gain, why, usable = registry.champion_holdout_gain(first.model_uri, holdout)
    assert why == "" and len(gain) == holdout.n
    expected = ~np.isin(new_hold, old_train)
    assert 0 < expected.sum() < holdout.n
    np.testing.assert_array_equal(usable, expected)
    # a champion serving the whole trial's average has seen every patient of it
    average = train(fast_config(cohort, heterogeneity_alpha=0.0, model_name="avg"))
    assert average.metrics["served"]["effect"] == "average"
    assert not registry.champion_holdout_gain(average.model_uri, holdout)[2].any()


def test_failure_leaves_a_failed_run_and_no_model(tmp_path, monkeypatch):
    cohort = write_small_trial(tmp_path / "t.csv", n=200)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(job, "_log_model", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        train(fast_config(cohort))
    client = MlflowClient()
    runs = client.search_runs([client.get_experiment_by_name("abscopal").experiment_id])
    assert [r.info.status for r in runs] == ["FAILED"]
    assert client.search_registered_models() == []


def test_bad_cohort_starts_no_run(tmp_path):
    cohort = write_small_trial(tmp_path / "t.csv", n=200)
    pd.read_csv(cohort).assign(arm=1).to_csv(cohort, index=False)
    with pytest.raises(TrainingDataError, match="two-arm"):
        train(fast_config(cohort))
    assert MlflowClient().get_experiment_by_name("abscopal") is None


def _cli(*args, env) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "abscopal", *args], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=env,
    )


@pytest.mark.slow
def test_two_trainings_against_one_store_both_complete(tmp_path):
    cohort = write_small_trial(tmp_path / "t.csv", n=200)
    (tmp_path / "shared").mkdir()  # a store is created only in an existing directory
    uri = f"sqlite:///{tmp_path / 'shared' / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "ABSCOPAL_TRACKING_URI": uri,
           "OMP_NUM_THREADS": "1"}
    args = ["train", "--cohort", str(cohort), "--learner", "risk", "--folds", "3",
            "--bootstrap", "10", "--json"]
    procs = [_cli(*args, "--seed", str(seed), env=env) for seed in (1, 2)]
    outputs = [p.communicate(timeout=600) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    versions = sorted(json.loads(out.strip().splitlines()[-1])["version"] for out, _ in outputs)
    assert versions == ["1", "2"]


@pytest.mark.slow
def test_selection_includes_the_constant_model_and_serves_the_average_when_it_wins(
        tmp_path, monkeypatch):
    cohort = write_small_trial(tmp_path / "t.csv", n=200)
    real = job.cross_validate

    def constant_wins(data, candidates, folds, seed, progress=None):
        assert job.CONSTANT in candidates
        out = real(data, candidates, folds, seed, progress)
        out[job.CONSTANT]["metrics"]["benefit_loss"] = -1.0  # as if it predicted best
        out["dr"]["metrics"]["constant_better_p_value"] = 0.001  # and significantly so
        return out

    monkeypatch.setattr(job, "cross_validate", constant_wins)
    result = train(fast_config(cohort, learner="auto", heterogeneity_alpha=1.0))
    bundle = mlflow.pyfunc.load_model(result.model_uri).unwrap_python_model().bundle
    assert bundle.selection["chosen"] == "average" and bundle.serves_average
    assert "constant model" in bundle.gate_note()
    assert MlflowClient().get_run(result.run_id).data.tags["abscopal.selected"] == "average"


def test_adjusted_pseudo_outcomes_are_unbiased_and_no_noisier(tmp_path):
    from training.criterion import adjusted_pseudo_outcomes

    data = load_training_data(write_small_trial(tmp_path / "t.csv", n=600))
    plain = pseudo_outcomes(data.Y, data.T)[SELECTION_ESTIMAND]
    adjusted = adjusted_pseudo_outcomes(data.Y, data.T, data.X, n_folds=3, seed=1)[
        SELECTION_ESTIMAND]
    assert adjusted.index.equals(data.Y.index)
    assert abs(adjusted.mean() - plain.mean()) < 3 * plain.std() / np.sqrt(len(plain))
    assert adjusted.std() < 1.05 * plain.std()


def test_model_of_another_feature_pipeline_is_refused_at_load(champion, monkeypatch):
    import training.bundle
    from training.artifacts import ModelIntegrityError

    monkeypatch.setattr(training.bundle, "PIPELINE_VERSION", "2")
    with pytest.raises(ModelIntegrityError, match="pipeline version 1; this code builds version 2"):
        mlflow.pyfunc.load_model(champion.result.model_uri)


@pytest.mark.slow
def test_auto_serves_the_dr_learner_even_when_another_learner_scores_lower(tmp_path,
                                                                          monkeypatch):
    """The other learners are cross-validated for comparison, but only the DR-learner (causally
    calibrated, its intervals measured to cover) or the constant model can be served."""
    cohort = write_small_trial(tmp_path / "t.csv", n=200)
    real = job.cross_validate

    def t_wins(data, candidates, folds, seed, progress=None):
        assert set(candidates) == {*job.CANDIDATES, job.CONSTANT}
        out = real(data, candidates, folds, seed, progress)
        out["t"]["metrics"]["benefit_loss"] = -1.0  # as if it predicted best
        out["dr"]["metrics"]["constant_better_p_value"] = 0.5
        return out

    monkeypatch.setattr(job, "cross_validate", t_wins)
    result = train(fast_config(cohort, learner="auto", heterogeneity_alpha=1.0))
    assert result.learner == "dr"
    tags = MlflowClient().get_run(result.run_id).data.tags
    assert tags["abscopal.learner"] == "dr" and tags["abscopal.selected"] == "dr"
    assert "cv_t_benefit_loss" in MlflowClient().get_run(result.run_id).data.metrics


@pytest.mark.slow
def test_a_constant_model_lower_by_chance_does_not_replace_the_dr_learner(tmp_path,
                                                                         monkeypatch):
    """The constant model replaces the DR-learner only when its loss is significantly lower; a
    lower loss within the noise leaves the decision to the heterogeneity gate."""
    cohort = write_small_trial(tmp_path / "t.csv", n=200)
    real = job.cross_validate

    def constant_lower_by_chance(data, candidates, folds, seed, progress=None):
        out = real(data, candidates, folds, seed, progress)
        out[job.CONSTANT]["metrics"]["benefit_loss"] = out["dr"]["metrics"]["benefit_loss"] - 0.1
        out["dr"]["metrics"]["constant_better_p_value"] = 0.3
        return out

    monkeypatch.setattr(job, "cross_validate", constant_lower_by_chance)
    result = train(fast_config(cohort, learner="auto", heterogeneity_alpha=1.0))
    assert result.metrics["selected"] == "dr"
    assert "cv_dr_constant_better_p_value" in MlflowClient().get_run(result.run_id).data.metrics


def test_cross_validation_tests_each_learner_against_the_constant(tmp_path):
    """Each learner's out-of-fold loss is compared with the constant model's by a paired test on
    the same patients; its p-value is part of the learner's metrics (the constant has none)."""
    data = load_training_data(write_small_trial(tmp_path / "t.csv", n=300))
    cv = job.cross_validate(data, ("t", job.CONSTANT), folds=3, seed=1)
    p = cv["t"]["metrics"]["constant_better_p_value"]
    assert 0.0 <= p <= 1.0
    assert "constant_better_p_value" not in cv[job.CONSTANT]["metrics"]
