"""``BootstrapBenefit.predict``: one Prediction, and the fast path behind StackableCoxMembers
(SYNTHETIC data)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from models import (
    ESTIMANDS,
    PREDICTION_COLUMNS,
    SURVIVAL_GRID_MONTHS,
    DRLearner,
    RiskBasedLearner,
    SLearner,
    TLearner,
    make_learner,
)
from models.base import StackableCoxMembers
from models.prediction import ESTIMAND_COLUMNS, Prediction


class UnstackedSLearner(SLearner):
    """An S-learner that opts out of the fast path: the ensemble must loop over its members."""

    stacked_cox_terms = None


@pytest.fixture(scope="module")
def fitted(small_trial):
    Y, T, X, _ = small_trial
    return make_learner("s", n_bootstrap=6, n_jobs=1, random_state=8).fit(Y, T, X)


def test_the_protocol_names_the_cox_learners_only():
    for kind in (SLearner, TLearner, RiskBasedLearner, DRLearner):
        assert issubclass(kind, StackableCoxMembers)
    assert not issubclass(UnstackedSLearner, StackableCoxMembers)


@pytest.fixture(scope="module")
def fitted_dr(small_trial):
    Y, T, X, _ = small_trial
    X = X.copy()
    X.iloc[::7, 1] = np.nan  # missing values follow each split's default direction
    return make_learner("dr", n_bootstrap=5, n_jobs=1, random_state=8).fit(Y, T, X), X


def test_dr_learner_members_stack_with_the_loops_numbers(fitted_dr, monkeypatch):
    """The DR-learner's members at once (its cross-fitting T-learners' curves, its final
    stages in one compiled forest, its isotonic maps as tables): the member loop's answer."""
    fitted, X = fitted_dr
    X = X.iloc[:40]
    looped = copy.copy(fitted)
    looped.__dict__.pop("_stack", None)
    monkeypatch.setattr(looped, "_stackable", lambda: False)
    assert fitted._stackable()
    fast, slow = fitted.predict(X, bands=True), looped.predict(X, bands=True)
    for a, b in ((fast.survival_ici, slow.survival_ici),
                 (fast.survival_rt_ici, slow.survival_rt_ici),
                 *zip(fast.bands, slow.bands, strict=True)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    for c in ESTIMAND_COLUMNS:
        np.testing.assert_allclose(fast.estimands[c], slow.estimands[c], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(fast.recommendation, slow.recommendation)
    # without bands: the same answer to the bit (the CLI's table equals the banded pyfunc's)
    plain = fitted.predict(X)
    np.testing.assert_array_equal(plain.survival_ici, fast.survival_ici)
    pd.testing.assert_frame_equal(plain.to_frame(), fast.to_frame(), check_exact=True)
    # the effects are the members' calibrated final stages, not their curves' gains
    draws = fitted.member_effects(X)
    for k in ESTIMANDS:
        np.testing.assert_allclose(
            draws[k], [m.effect_all(X)[k] for m in fitted.members_], rtol=0, atol=1e-12)
    s0, s1 = fitted.members_[0].predict_survival(X, np.array([6.0]))
    assert not np.allclose(draws["pfs_gain_6mo"][0], s1[:, 0] - s0[:, 0], atol=1e-3)
    # one patient, as the server asks
    np.testing.assert_allclose(fitted.predict(X.iloc[[3]]).estimands["rmst_gain_12mo_lower"],
                               slow.estimands["rmst_gain_12mo_lower"][3:4], rtol=0, atol=1e-12)
    # transport needs one hazard ratio per member: the mean of two Cox curves has none
    times = np.array([3.0, 12.0])
    np.testing.assert_allclose(fitted.hazard_ratio_draws(X, times),
                               looped.hazard_ratio_draws(X, times), rtol=0, atol=0)


def test_dr_learner_with_another_nuisance_takes_the_member_loop(fitted_dr):
    fitted, _ = fitted_dr
    other = copy.copy(fitted)
    other.__dict__.pop("_stack", None)
    other.members_ = [copy.copy(m) for m in fitted.members_]
    other.members_[2].nuisance = "cure"
    assert fitted._stackable() and not other._stackable()


def test_a_learner_without_the_protocol_takes_the_member_loop_with_the_same_numbers(
        fitted, small_trial, monkeypatch):
    X = small_trial[2].iloc[:40]
    looped = copy.copy(fitted)
    looped.__dict__.pop("_stack", None)
    looped.members_ = [copy.copy(m) for m in fitted.members_]
    for m in looped.members_:
        m.__class__ = UnstackedSLearner
    assert fitted._stackable() and not looped._stackable()
    calls = []
    monkeypatch.setattr(type(fitted), "_member_draws_loop",
                        lambda self, *a, **k: calls.append(1) or LOOP(self, *a, **k))
    fast = fitted.predict(X, bands=True)
    assert not calls  # the stacked path
    slow = looped.predict(X, bands=True)
    assert calls  # the member loop
    for a, b in ((fast.survival_ici, slow.survival_ici),
                 (fast.survival_rt_ici, slow.survival_rt_ici),
                 *zip(fast.bands, slow.bands, strict=True)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    for c in ESTIMAND_COLUMNS:  # RMST: RmstTable's interpolation, within 1e-9 months
        np.testing.assert_allclose(fast.estimands[c], slow.estimands[c], rtol=0, atol=1e-9)
    np.testing.assert_array_equal(fast.recommendation, slow.recommendation)
    # the transported effect's hazard ratios: (scale, curve) stacked, (M, n, G) looped; equal
    # where the ICI arm has a hazard and the curves do not underflow (a curve clipped at 1e-300
    # gives the loop a wrong ratio; the stacked terms are exact)
    times = np.array([3.0, 6.0, 12.0, 18.0, 24.0])
    scale, curve = fitted.hazard_ratio_draws(X, times)
    ratios = looped.hazard_ratio_draws(X, times)
    kept = np.array([m.predict_survival(X, times)[1] > 1e-250 for m in fitted.members_])
    assert kept.mean() > 0.99
    stacked = np.nan_to_num(scale[:, :, None] * curve[:, None, :], nan=1.0)
    np.testing.assert_allclose(stacked[kept], ratios[kept], rtol=1e-6)


LOOP = type(make_learner("s", n_bootstrap=2))._member_draws_loop


def test_prediction_holds_the_table_and_the_curves(fitted, small_trial):
    X = small_trial[2].iloc[:30].set_axis(pd.Index([f"p{i}" for i in range(30)],
                                                   name="patient_id"))
    prediction = fitted.predict(X)
    assert isinstance(prediction, Prediction) and prediction.bands is None
    assert prediction.survival_ici.shape == (30, len(SURVIVAL_GRID_MONTHS))
    table = prediction.to_frame()
    assert list(table.columns) == PREDICTION_COLUMNS and table.index.equals(X.index)
    for k in ESTIMANDS:
        estimate, lower, upper = prediction.interval(k)
        np.testing.assert_array_equal(table[f"{k}_lower"], lower)
        np.testing.assert_array_equal(table[k], estimate)
        np.testing.assert_array_equal(table[f"{k}_upper"], upper)
    with pytest.raises(ValueError, match="unknown estimand 's_ici_6mo'"):
        prediction.interval("s_ici_6mo")
    # without curves (``abscopal predict``'s table): the same estimands, to the bit
    bare = fitted.predict(X, times=np.array([]))
    assert bare.survival_ici.shape == (30, 0)
    pd.testing.assert_frame_equal(bare.to_frame(), table, check_exact=True)
