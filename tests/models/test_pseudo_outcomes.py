"""IPCW outcomes: who counts as known at a horizon, and what each patient contributes."""

from __future__ import annotations

import numpy as np
import pytest

from models.pseudo_outcomes import ipcw_outcomes


def test_censored_exactly_at_the_horizon_is_progression_free_there():
    # whole-month data: patient 0 censored at exactly 6 months, patient 1 progressed at 6 months
    time = np.array([6.0, 6.0, 3.0, 9.0, 14.0, 2.0, 7.0, 1.0])
    event = np.array([0, 1, 1, 1, 0, 0, 1, 1])
    y = ipcw_outcomes(time, event, np.arange(len(time)) % 2)
    assert y["pfs_gain_6mo"][0] > 0  # was 0: counted as progressed
    assert y["pfs_gain_6mo"][1] == 0  # progressed at 6 months: not progression-free at 6
    assert y["pfs_gain_6mo"][5] == 0  # censored before 6: unknown, weight 0
    assert y["pfs_gain_6mo"][3] > 0 and y["pfs_gain_12mo"][3] == 0


def test_administrative_cut_at_the_horizon_gives_the_true_survival():
    """Everyone followed to exactly 6 months: the IPCW mean of the 6-month indicator is the
    share progression-free at 6 (the bug gave 0, every survivor counted as progressed)."""
    rng = np.random.default_rng(0)
    t_true = rng.exponential(8.0, 20000)
    time, event = np.minimum(t_true, 6.0), (t_true <= 6.0).astype(int)
    y = ipcw_outcomes(time, event, rng.integers(0, 2, len(time)))
    assert abs(y["pfs_gain_6mo"].mean() - (t_true > 6).mean()) < 1e-9


def test_augmented_ipcw_equals_ipcw_without_censoring_and_lowers_variance_with_it():
    from models.base import BENEFIT_GRID_MONTHS
    from models.pseudo_outcomes import augmented_ipcw_outcomes, ipcw_outcomes

    rng = np.random.default_rng(4)
    n = 4000
    arm = rng.integers(0, 2, n)
    rate = np.exp(rng.normal(0, 0.5, n)) / np.where(arm == 1, 8.0, 5.0)
    t = rng.exponential(1 / rate)
    curves = np.exp(-np.outer(rate, BENEFIT_GRID_MONTHS))  # each patient's true curve
    # no censoring: the augmentation is zero
    plain = ipcw_outcomes(t, np.ones(n, int), arm)
    augmented = augmented_ipcw_outcomes(t, np.ones(n, int), arm, curves)
    for k in plain:
        np.testing.assert_allclose(augmented[k], plain[k])
    # heavy censoring: same mean (the truth), smaller spread
    c = rng.uniform(0, 15, n)
    time, event = np.minimum(t, c), (t <= c).astype(int)
    plain = ipcw_outcomes(time, event, arm)
    augmented = augmented_ipcw_outcomes(time, event, arm, curves)
    true_rmst = ((1 - np.exp(-rate * 12.0)) / rate).mean()
    true_s6 = np.exp(-rate * 6.0).mean()
    se = augmented["rmst_gain_12mo"].std() / np.sqrt(n)
    assert augmented["rmst_gain_12mo"].mean() == pytest.approx(true_rmst, abs=3 * se)
    assert augmented["pfs_gain_6mo"].mean() == pytest.approx(true_s6, abs=0.03)
    for k in ("rmst_gain_12mo", "pfs_gain_6mo", "pfs_gain_12mo"):
        assert augmented[k].std() < 0.85 * plain[k].std(), k
