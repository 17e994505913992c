"""The heterogeneity gate's test and the average effect it serves when the test fails."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter

from models.average_benefit import AverageBenefit
from models.heterogeneity import HeterogeneityTest, blp_test


def test_calibrated_heterogeneous_predictions_pass():
    rng = np.random.default_rng(0)
    tau = rng.normal(2.0, 1.5, 3000)
    psi = tau + rng.normal(0, 8.0, 3000)  # pseudo-outcomes are noisy, unbiased
    t = blp_test(psi, tau)
    assert t.passed and t.slope == pytest.approx(1.0, abs=0.3) and t.average == pytest.approx(
        2.0, abs=0.4)


def test_constant_or_uninformative_predictions_fail_at_the_stated_rate():
    rng = np.random.default_rng(1)
    assert not blp_test(rng.normal(2, 8, 500), np.full(500, 2.0)).passed  # constant: p = 1
    # predictions unrelated to a homogeneous effect: rejected in about 5% of trials, not more
    rejected = [blp_test(2.0 + rng.normal(0, 8, 400), rng.normal(2, 1, 400)).passed
                for _ in range(400)]
    assert 0.02 <= np.mean(rejected) <= 0.09


@pytest.mark.parametrize("n", [1, 3, 200])
def test_a_degenerate_test_is_strict_json_and_reads_back(n):
    """A constant prediction (or too few patients) has no slope standard error: the card shows
    null there, since the server's JSON encoder refuses inf and NaN."""
    import json

    d = blp_test(np.linspace(-5.0, 9.0, n), np.full(n, 2.0)).to_dict()
    json.dumps(d, allow_nan=False)
    assert d["slope_se"] is None and d["passed"] is False and d["p_value"] == 1.0
    assert (d["average_se"] is None) == (n == 1)
    back = HeterogeneityTest.from_dict(d)
    assert back.beats_average_p_value == 1.0 and back.to_dict() == d


def _exponential_trial(seed: int, n: int, means: tuple[float, float], first_censoring: float):
    """A randomised trial with exponential PFS (``means`` per arm, months) and uniform censoring
    from ``first_censoring`` to 30 months: (arm, time, event)."""
    rng = np.random.default_rng(seed)
    arm = np.arange(n) % 2
    t_true = rng.exponential(np.where(arm == 1, means[1], means[0]))
    cens = rng.uniform(first_censoring, 30, n)
    return arm, np.minimum(t_true, cens), (t_true <= cens).astype(int)


def test_average_benefit_is_the_kaplan_meier_difference_with_a_wald_interval():
    arm, time, event = _exponential_trial(2, 600, (3.0, 6.0), 2.0)
    y = pd.DataFrame({"time": time, "event": event})
    avg = AverageBenefit(alpha=0.1).fit(y, arm)
    cols = avg.benefit_columns(3)
    km = [KaplanMeierFitter().fit(y["time"][arm == a], y["event"][arm == a]) for a in (0, 1)]
    s6 = [float(k.survival_function_at_times(6.0).iloc[0]) for k in km]
    np.testing.assert_allclose(cols["pfs_gain_6mo"], s6[1] - s6[0])
    assert (cols["pfs_gain_6mo_lower"] < cols["pfs_gain_6mo"]).all()
    assert (cols["rmst_gain_12mo_lower"] > 1.0).all()  # a clear 2-3 month average gain
    assert (cols["probability_of_benefit"] > 0.95).all()
    assert set(cols["recommendation"]) == {"uncertain"}  # nothing individual
    s0, s1 = avg.predict_survival(3, np.array([0.0, 6.0]))
    np.testing.assert_allclose(s1[:, 1] - s0[:, 1], cols["pfs_gain_6mo"])


def test_survival_calibration_compares_mean_predicted_with_kaplan_meier():
    from models.base import BENEFIT_GRID_MONTHS
    from models.evaluation import survival_calibration

    n = 2000
    arm, time, event = _exponential_trial(3, n, (4.0, 8.0), 6.0)
    # the true curves (what a calibrated model predicts) and a pessimistic model
    s0 = np.tile(np.exp(-BENEFIT_GRID_MONTHS / 4.0), (n, 1))
    s1 = np.tile(np.exp(-BENEFIT_GRID_MONTHS / 8.0), (n, 1))
    good = survival_calibration(time, event, arm, s0, s1)
    assert all(v["inside_km_ci"] for v in good.values())
    assert good["rt_ici_12mo"]["mean_predicted"] == pytest.approx(np.exp(-1.5))
    bad = survival_calibration(time, event, arm, s0 * 0.7, s1 * 0.7)
    for key in ("ici_6mo", "rt_ici_6mo", "rt_ici_12mo"):  # 30% too low: outside the KM interval
        assert not bad[key]["inside_km_ci"], key


def test_beats_average_tells_predictions_more_accurate_than_the_mean_from_noisier_ones():
    """Slope > 1/2 <=> lower PEHE than the average: calibrated predictions show it; predictions
    as noisy as the heterogeneity they carry (slope 1/2, PEHE equal to the average's) do not,
    though they pass the heterogeneity test."""
    rng = np.random.default_rng(4)
    n = 20_000
    tau = rng.normal(2.0, 1.0, n)
    psi = tau + rng.normal(0, 6.0, n)
    calibrated = blp_test(psi, tau)
    assert calibrated.beats_average_p_value < 0.01
    noisy = tau + rng.normal(0, 1.0, n)  # Cov(tau, c) / Var(c) = 1/2
    assert np.mean((noisy - tau) ** 2) == pytest.approx(np.var(tau), rel=0.05)
    half = blp_test(psi, noisy)
    assert half.passed and half.slope == pytest.approx(0.5, abs=0.1)
    assert 0.05 < half.beats_average_p_value < 0.95
    assert blp_test(psi, np.full(n, 2.0)).beats_average_p_value == 1.0
    d = half.to_dict()
    assert d["beats_average_p_value"] == half.beats_average_p_value
    assert type(half).from_dict(d) == half
