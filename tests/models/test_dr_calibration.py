"""Causal calibration of the DR-learner (models.dr_learner, step 4)."""

from __future__ import annotations

import numpy as np
import pytest

from models.dr_learner import DRLearner, LinearCalibration, fit_calibrator


def test_linear_calibration_recovers_a_shrunk_prediction():
    rng = np.random.default_rng(0)
    truth = rng.normal(2.0, 1.5, size=4000)
    shrunk = 2.0 + 0.4 * (truth - 2.0)  # a learner that shrinks every patient towards the mean
    psi = truth + rng.normal(0, 8.0, size=truth.size)  # noisy unbiased pseudo-outcome
    cal = fit_calibrator("linear", shrunk, psi)
    assert isinstance(cal, LinearCalibration)
    assert cal.slope == pytest.approx(2.5, abs=0.6)
    assert np.mean((cal(shrunk) - truth) ** 2) < 0.3 * np.mean((shrunk - truth) ** 2)


def test_calibration_never_reverses_the_ranking():
    rng = np.random.default_rng(1)
    predicted = rng.normal(size=500)
    psi = -predicted + rng.normal(0, 0.1, size=500)  # anti-calibrated: worse than a constant
    linear = fit_calibrator("linear", predicted, psi)
    assert linear.slope == 0.0
    assert np.ptp(linear(predicted)) == 0.0
    iso = fit_calibrator("isotonic", predicted, psi)
    assert np.all(np.diff(iso(np.sort(predicted))) >= 0)


@pytest.mark.parametrize(("n_estimators", "direction"), [(10, "stretch"), (100, "shrink")])
def test_calibrated_effects_are_closer_to_the_truth(trial, test_trial, n_estimators, direction):
    """An under-fitted final stage (10 trees) is stretched, an over-fitted one (100 trees on
    noisy pseudo-outcomes) shrunk; either way the error against the true gain falls."""
    Y, T, X, _ = trial
    _, _, X_new, truth = test_trial
    common = dict(n_estimators=n_estimators, learning_rate=0.05, random_state=0)
    plain = DRLearner(calibration=None, **common).fit(Y, T, X)
    linear = DRLearner(calibration="linear", **common).fit(Y, T, X)
    true = truth["rmst_gain_12mo"].to_numpy()
    err_plain = np.mean((plain.effect(X_new) - true) ** 2)
    err_linear = np.mean((linear.effect(X_new) - true) ** 2)
    slope = linear.calibrators_["rmst_gain_12mo"].slope
    assert slope > 1.5 if direction == "stretch" else slope < 0.8
    assert err_linear < 0.8 * err_plain


def test_null_trial_calibration_shrinks_noise(null_trial):
    Y, T, X, _ = null_trial
    plain = DRLearner(random_state=0, calibration=None).fit(Y, T, X)
    iso = DRLearner(random_state=0, calibration="isotonic").fit(Y, T, X)
    assert np.std(iso.effect(X)) < np.std(plain.effect(X))


def test_unknown_calibration_is_refused(small_trial):
    Y, T, X, _ = small_trial
    with pytest.raises(ValueError, match="calibration must be one of"):
        DRLearner(calibration="platt").fit(Y, T, X)


def test_effects_stay_within_what_each_estimand_can_be(small_trial):
    """Pseudo-outcomes range far wider than the gain; the served effect never leaves [-1, 1]
    (survival differences) or [-12, 12] months (12-month RMST difference), even when the
    calibration map is fitted on wildly scaled pseudo-outcomes."""
    Y, T, X, _ = small_trial
    model = DRLearner(random_state=0).fit(Y, T, X)
    for estimand in model.calibrators_:
        stretched = fit_calibrator("linear", np.linspace(-1, 1, 50), np.linspace(-40, 40, 50))
        model.calibrators_[estimand] = stretched
    effects = model.effect_all(X)
    for estimand, gain in effects.items():
        bound = 12.0 if estimand.startswith("rmst") else 1.0
        assert np.all(np.abs(gain) <= bound)
        assert np.isclose(np.abs(gain).max(), bound)  # the clip was needed
