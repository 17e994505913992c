"""The mixture-cure learner recovers a plateau and a cure fraction the Cox learners cannot draw."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from models.cure import CureLearner
from models.dr_learner import DRLearner


def _true_survival(x: np.ndarray, arm: float, t: np.ndarray) -> np.ndarray:
    """A known mixture-cure model: cure logit -1 + 0.5 x + arm (0.3 + 1.0 x) (RT adds most
    responders where x is high), Weibull(shape 1.3) scale exp(0.8 + 0.4 arm) months for the
    others."""
    cure = _cure(x, arm)[:, None]
    scale = np.exp(0.8 + 0.4 * arm)
    return cure + (1 - cure) * np.exp(-((t[None, :] / scale) ** 1.3))


def _cure(x: np.ndarray, arm) -> np.ndarray:
    return expit(-1.0 + 0.5 * x + arm * (0.3 + 1.0 * x))


def _trial(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    arm = rng.permutation(np.repeat([0, 1], n // 2))
    cured = rng.random(n) < _cure(x, arm)
    uncured_time = np.exp(0.8 + 0.4 * arm) * rng.weibull(1.3, size=n)
    event_time = np.where(cured, np.inf, uncured_time)
    follow_up = rng.uniform(12.0, 36.0, size=n)
    time = np.minimum(event_time, follow_up)
    Y = pd.DataFrame({"time": time, "event": (event_time <= follow_up).astype(int)})
    X = pd.DataFrame({"x": x, "noise": rng.normal(size=n)})
    return Y, arm, X


@pytest.fixture(scope="module")
def fitted():
    Y, arm, X = _trial(1200, seed=3)
    # a light ridge: two inputs here (the default is for dozens of correlated ones)
    return CureLearner(penalizer=0.01).fit(Y, arm, X), X


def test_recovers_each_arms_plateau_and_early_curve(fitted):
    model, X = fitted
    times = np.array([3.0, 6.0, 12.0, 30.0])
    s0, s1 = model.predict_survival(X, times)
    x = X["x"].to_numpy()
    true0, true1 = _true_survival(x, 0.0, times), _true_survival(x, 1.0, times)
    assert np.abs(s0.mean(axis=0) - true0.mean(axis=0)).max() < 0.04
    assert np.abs(s1.mean(axis=0) - true1.mean(axis=0)).max() < 0.04
    # the plateau is individual: patients with high x are cured more often in both arms
    high, low = x > 1, x < -1
    assert s0[high, -1].mean() > s0[low, -1].mean() + 0.2


def test_ranks_patients_by_their_true_gain(fitted):
    model, X = fitted
    grid = np.linspace(0, 12, 241)
    s0, s1 = model.predict_survival(X, grid)
    x = X["x"].to_numpy()
    true_gain = np.trapezoid(_true_survival(x, 1.0, grid) - _true_survival(x, 0.0, grid), grid,
                             axis=1)
    gain = np.trapezoid(s1 - s0, grid, axis=1)
    assert np.corrcoef(gain, true_gain)[0, 1] > 0.8


def test_missing_values_and_skewed_inputs_are_handled():
    Y, arm, X = _trial(400, seed=4)
    X = X.assign(skewed=np.exp(3 * X["noise"]))
    X.loc[X.index[::5], "x"] = np.nan
    model = CureLearner().fit(Y, arm, X)
    assert model.log_columns_.tolist() == [False, False, True]
    s0, s1 = model.predict_survival(X, np.array([6.0]))
    assert np.isfinite(s0).all() and np.isfinite(s1).all()


def test_dr_learner_with_the_cure_nuisance_calibrates_its_plugin_gain():
    Y, arm, X = _trial(800, seed=5)
    with pytest.raises(ValueError, match="needs a calibration"):
        DRLearner(nuisance="cure", final_stage="plugin", calibration=None).fit(Y, arm, X)
    model = DRLearner(nuisance="cure", final_stage="plugin", cure_penalizer=0.01).fit(Y, arm, X)
    effect = model.effect(X, "rmst_gain_12mo")
    grid = np.linspace(0, 12, 241)
    x = X["x"].to_numpy()
    true_gain = np.trapezoid(_true_survival(x, 1.0, grid) - _true_survival(x, 0.0, grid), grid,
                             axis=1)
    assert abs(effect.mean() - true_gain.mean()) < 0.5
    assert pd.Series(effect).corr(pd.Series(true_gain), method="spearman") > 0.6
