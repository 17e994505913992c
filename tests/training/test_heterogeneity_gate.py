"""The heterogeneity gate end to end: a trial the size of PEMBRO-RT cannot support individual
effects, so the model serves the trial's average effect and recommends nothing individual."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cohorts.simulate import write_trial
from models.metrics import average_effect
from training.data import load_training_data
from training.job import TrainConfig, holdout_pseudo_outcomes, train
from training.loading import load_model
from training.split import holdout_split


@pytest.mark.slow
def test_a_72_patient_trial_serves_the_average_and_no_individual_recommendation(tmp_path):
    write_trial(tmp_path / "trial", n_patients=72, seed=3)
    result = train(TrainConfig(cohort=tmp_path / "trial", folds=3, n_bootstrap=10, seed=3))
    gate = result.metrics["heterogeneity"]
    assert gate["n"] == 18 and not gate["passed"]
    bundle = load_model(result.model_uri).bundle
    assert bundle.serves_average
    write_trial(tmp_path / "new", n_patients=200, seed=30)
    from cohorts import read_cohort
    from features import raw_inputs_from_cohort

    X = bundle.features_for(raw_inputs_from_cohort(read_cohort(tmp_path / "new")))
    prediction = bundle.predict(X)
    table = prediction.to_frame()
    assert (table["recommendation"] == "uncertain").mean() >= 0.9
    assert table["rmst_gain_12mo"].nunique() == 1  # one average effect for everyone
    # the whole trial's average (all 72 patients): what the hold-out judged is the same
    # procedure on the 54 training patients, and every patient counts as seen for promotion
    ate = result.metrics["average_effect"]
    assert table["rmst_gain_12mo"].iloc[0] == pytest.approx(ate["rmst_difference"])
    served = result.metrics["served"]  # what `abscopal train` says every patient gets
    assert served["effect"] == "average" and served["n"] == 72
    assert served["estimate"] == pytest.approx(table["rmst_gain_12mo"].iloc[0])
    assert served["lower"] == pytest.approx(table["rmst_gain_12mo_lower"].iloc[0])
    data = load_training_data(tmp_path / "trial")
    assert sorted(bundle.training["record_hashes"]) == data.record_hashes()
    train_part = data.subset(holdout_split(data, 0.25, 3)[0])
    judged = average_effect(train_part.Y["time"], train_part.Y["event"], train_part.T)
    holdout = data.subset(holdout_split(data, 0.25, 3)[1])
    psi = holdout_pseudo_outcomes(train_part, holdout, 3)
    assert result.metrics["holdout"]["benefit_loss"] == pytest.approx(
        float(np.mean((psi - judged["rmst_difference"]) ** 2)), rel=1e-6)
    assert bundle.drivers(X) == [[] for _ in range(len(X))]
    months, s0, s1 = prediction.months, prediction.survival_ici, prediction.survival_rt_ici
    assert np.allclose(s0, s0[0]) and np.allclose(s1, s1[0])  # the arms' Kaplan-Meier curves
    assert s0.shape == (len(X), len(months))
    assert "average effect" in bundle.gate_note()


class _Served:
    """An estimator whose curves carry no heterogeneity but whose served effect does (as a
    DR-learner's final stage differs from its nuisance curves)."""

    def __init__(self, gain):
        self.gain = gain

    def predict_survival(self, X, times):
        s = np.exp(-np.outer(np.ones(len(X)), times) / 6.0)
        return s, s ** 0.8

    def effect(self, X, estimand):
        return self.gain


def test_the_gate_tests_the_effect_that_would_be_served(tmp_path):
    """The gate regresses the held-out pseudo-outcome on the served effect, not on the gain of
    the estimator's curves: a served effect that tracks the true gains passes, its negation does
    not, whatever the curves say."""
    from training.data import load_training_data
    from training.job import heterogeneity_gate

    trial = write_trial(tmp_path / "trial", n_patients=1500, seed=5)
    data = load_training_data(trial)
    truth = pd.read_csv(trial / "truth.csv", dtype={"patient_id": str}).set_index("patient_id")
    true_gain = truth.loc[data.Y.index, "cond_rmst_gain_12mo"].to_numpy()
    assert heterogeneity_gate(_Served(true_gain), data, 0.5).passed
    assert not heterogeneity_gate(_Served(-true_gain), data, 0.5).passed
