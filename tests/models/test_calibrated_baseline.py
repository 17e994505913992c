"""Kaplan-Meier-matched baselines: each arm's mean predicted curve is calibrated (issue 11)."""

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter

from models import DRLearner, SLearner, TLearner, make_learner
from models.survival import (
    KM_ZERO_MATCH,
    breslow_cumulative_hazard,
    cox_survival,
    km_matched_cumulative_hazard,
    step_at,
)

CURE = 0.3


def _km(time, event, at):
    kmf = KaplanMeierFitter().fit(np.asarray(time, float), np.asarray(event, int))
    return kmf.survival_function_at_times(at).to_numpy()


def test_km_matched_with_equal_risks_is_minus_log_kaplan_meier():
    # times 1,1,2,3,4 with events 1,1,0,1,1: KM 3/5, then 3/5 * 1/2, then 0
    time, event = np.array([1.0, 1.0, 2.0, 3.0, 4.0]), np.array([1, 1, 0, 1, 1])
    knots, cumhaz = km_matched_cumulative_hazard(time, event, np.full(5, 0.7))
    np.testing.assert_allclose(knots, [1.0, 3.0, 4.0])
    expected = -np.log([0.6, 0.3, KM_ZERO_MATCH]) / np.exp(0.7)
    np.testing.assert_allclose(cumhaz, expected, rtol=1e-10)


def test_km_matched_mean_curve_equals_kaplan_meier_and_is_monotone():
    rng = np.random.default_rng(0)
    f = rng.normal(0.0, 1.5, 500)
    pfs = rng.exponential(5.0 / np.exp(f))
    censor = rng.exponential(10.0, 500)
    time, event = np.minimum(pfs, censor), (pfs <= censor).astype(int)
    for shift in (0.0, 40.0):  # log risks on any scale: H0 rescales by exp(-shift)
        knots, cumhaz = km_matched_cumulative_hazard(time, event, f + shift)
        mean_curve = cox_survival(knots, cumhaz, f + shift, knots).mean(axis=0)
        np.testing.assert_allclose(mean_curve, _km(time, event, knots), rtol=0, atol=1e-9)
        assert np.isfinite(cumhaz).all() and (np.diff(cumhaz) >= 0).all()
    # Breslow's mean curve is not the Kaplan-Meier (it is exact for a correct PH model only)
    knots_b, cumhaz_b = breslow_cumulative_hazard(time, event, f)
    assert not np.allclose(cox_survival(knots_b, cumhaz_b, f, knots_b).mean(axis=0),
                           _km(time, event, knots_b), atol=1e-3)


def test_unknown_baseline_is_a_clear_error(small_trial):
    Y, T, X, _ = small_trial
    for learner in (TLearner, SLearner, DRLearner):
        with pytest.raises(ValueError, match="unknown baseline_hazard 'cox'"):
            learner(baseline_hazard="cox").fit(Y, T, X)
    dr = DRLearner(baseline_hazard="breslow").fit(Y, T, X)
    assert dr.nuisance_[0].baseline_hazard == "breslow"
    # the measured defaults (docs/benchmarks.md, "Calibrated baselines")
    assert TLearner().baseline_hazard == DRLearner().baseline_hazard == "km_matched"
    assert SLearner().baseline_hazard == "breslow"


@pytest.mark.parametrize("learner", [TLearner, SLearner])
def test_training_patients_mean_curve_equals_their_arm_kaplan_meier(learner, small_trial):
    """On the patients it was fitted on, each arm's mean predicted S(t) is the arm's KM at
    every knot (the S-learner: one baseline per arm, at that arm's log risks f(x, arm))."""
    Y, T, X, _ = small_trial
    model = learner(baseline_hazard="km_matched").fit(Y, T, X)
    fits = model.models_ if learner is TLearner else model.fits_
    assert not np.array_equal(fits[0].knots, fits[1].knots)  # a baseline per arm
    for a in (0, 1):
        own = T == a
        knots = fits[a].knots
        curve = model.predict_survival(X[own], knots)[a].mean(axis=0)
        np.testing.assert_allclose(curve, _km(Y["time"][own], Y["event"][own], knots),
                                   rtol=0, atol=1e-6)
        assert (np.diff(fits[a].cumhaz) >= 0).all()


def test_breslow_option_keeps_the_shared_s_learner_baseline(small_trial):
    Y, T, X, _ = small_trial
    model = SLearner(baseline_hazard="breslow").fit(Y, T, X)
    assert model.fits_[0].cumhaz is model.fits_[1].cumhaz
    assert model.fits_[0].booster is model.fits_[1].booster


def test_stacked_s_ensemble_uses_each_arm_baseline(small_trial):
    Y, T, X, _ = small_trial
    model = make_learner("s", n_bootstrap=4, n_jobs=1, random_state=1,
                         baseline_hazard="km_matched").fit(Y, T, X)
    times = np.array([3.0, 6.0, 18.0])
    loop = model._member_draws_loop(X.iloc[:30], times)
    stacked = model._member_draws_stacked(X.iloc[:30], times)
    for a, b in zip(loop[:2], stacked[:2], strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    _, baselines = SLearner.stacked_cox_terms(model.members_, X.iloc[:30], {})
    (k0, h0), (k1, h1) = baselines[0]
    assert not (len(k0) == len(k1) and np.allclose(h0, h1))


# A trial with a cure fraction: 30% never progress, exponential PFS otherwise (non-proportional
# hazards between arms through x1), exponential censoring (mean 30 months). SYNTHETIC.
def _cure_trial(n, seed):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=[f"x{i}" for i in range(4)])
    T = rng.permutation(np.arange(n) % 2)
    pfs = np.where(rng.random(n) < CURE, np.inf, rng.exponential(1.0 / _rate(X, T)))
    censor = rng.exponential(30.0, n)
    Y = pd.DataFrame({"time": np.minimum(pfs, censor), "event": (pfs <= censor).astype(int)})
    return Y, T, X


def _rate(X, arm):
    return 0.15 * np.exp(0.6 * X["x0"] - 0.4 * X["x1"] * arm - 0.5 * arm).to_numpy()


def _true_mean_survival(X, arm, t):
    return float(np.mean(CURE + (1 - CURE) * np.exp(-t * _rate(X, arm))))


@pytest.fixture(scope="module")
def cure_errors():
    """Mean predicted minus true S(t) per arm on a fresh 4,000-patient sample of the same law,
    for T and S learners with each baseline, fitted on 6 independent 600-patient trials."""
    _, _, X_new = _cure_trial(4000, 99_999)
    times = np.array([12.0, 120.0])
    truth = np.array([[_true_mean_survival(X_new, a, t) for t in times] for a in (0, 1)])
    rows = []
    for seed in range(6):
        Y, T, X = _cure_trial(600, seed)
        for learner in (TLearner, SLearner):
            for baseline in ("km_matched", "breslow"):
                model = learner(baseline_hazard=baseline).fit(Y, T, X)
                fits = model.models_ if learner is TLearner else model.fits_
                last_event = Y["time"][Y["event"] == 1].max()
                for a in (0, 1):
                    assert (np.diff(fits[a].cumhaz) >= 0).all()
                    # the plateau: H0 is flat after the last event
                    assert np.ptp(step_at(fits[a].knots, fits[a].cumhaz, [last_event, 1e6])) == 0
                curves = model.predict_survival(X_new, times)
                for a in (0, 1):
                    error = curves[a].mean(axis=0) - truth[a]
                    rows.append({"seed": seed, "learner": learner.__name__,
                                 "baseline": baseline, "arm": a,
                                 "s12": error[0], "s120": error[1]})
    return pd.DataFrame(rows)


def test_cure_fraction_mean_survival_is_calibrated_per_arm(cure_errors):
    """KM-matched: mean predicted S(12) within 0.03 of the truth per arm and learner (averaged
    over the 6 training trials: one arm of 300 has a Kaplan-Meier S(12) standard error of about
    0.03, so a single trial's error is mostly its Kaplan-Meier's sampling error), and the cure
    plateau S(120) within 0.05. Breslow under-predicts S(12) by more than 0.015 in every arm
    (about 0.03-0.06 here, stable across seeds)."""
    mean = cure_errors.groupby(["learner", "arm", "baseline"])[["s12", "s120"]].mean()
    km = mean.xs("km_matched", level="baseline")
    breslow = mean.xs("breslow", level="baseline")
    assert (km["s12"].abs() < 0.03).all(), km
    assert (km["s120"].abs() < 0.05).all(), km
    assert (breslow["s12"] < km["s12"] - 0.015).all(), mean
