"""Pointwise intervals of the two arms' PFS curves, on every prediction path (SYNTHETIC data).

Each band is checked against its definition computed here independently: the bootstrap members'
percentiles (np.quantile over each member's own curves), lifelines' Kaplan-Meier confidence
interval for the average-effect model, and the draws of S_ici ** r for the real-world baseline.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter

from models import SURVIVAL_GRID_MONTHS, make_learner
from models.average_benefit import AverageBenefit
from models.base import BENEFIT_GRID_MONTHS
from models.ensemble import percentile_band
from models.transport import hazard_ratio_curve, transported_benefit


def members_quantiles(model, X, times, alpha):
    """np.quantile of each member's curves, member by member: the band's definition."""
    curves = [m.predict_survival(X, times) for m in model.members_]
    return [np.quantile(np.array([c[arm] for c in curves]), [alpha / 2, 1 - alpha / 2], axis=0)
            for arm in (0, 1)]


@pytest.mark.parametrize("n_members", [2, 3, 10, 50, 51])
@pytest.mark.parametrize("alpha", [0.01, 0.1, 0.5])
def test_percentile_band_is_numpy_quantile(n_members, alpha):
    rng = np.random.default_rng(n_members)
    draws = rng.random((n_members, 2, 7, 600))  # more columns than the kernel's block
    draws[rng.random(draws.shape) < 0.3] = 0.5  # ties
    lower, upper = percentile_band(draws, alpha)
    expected = np.quantile(draws, [alpha / 2, 1 - alpha / 2], axis=0)
    np.testing.assert_array_equal(lower, expected[0])
    np.testing.assert_array_equal(upper, expected[1])
    with pytest.raises(ValueError, match="alpha"):
        percentile_band(draws, 1.0)


@pytest.fixture(scope="module", params=["s", "t", "risk"])
def ensemble(request, small_trial):
    Y, T, X, _ = small_trial
    return make_learner(request.param, n_bootstrap=8, n_jobs=1, random_state=5).fit(Y, T, X)


def test_ensemble_bands_are_the_members_percentiles(ensemble, small_trial):
    X = small_trial[2].iloc[:30]
    assert ensemble._stackable()  # the fast path (Cox terms of all members at once)
    banded = ensemble.predict(X, alpha=0.1, bands=True)
    bands = banded.bands
    np.testing.assert_array_equal(banded.months, SURVIVAL_GRID_MONTHS)  # the default times
    (lo0, hi0), (lo1, hi1) = members_quantiles(ensemble, X, SURVIVAL_GRID_MONTHS, 0.1)
    for got, want in ((bands.ici_lower, lo0), (bands.ici_upper, hi0),
                      (bands.rt_ici_lower, lo1), (bands.rt_ici_upper, hi1)):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    # the member-by-member loop (every other learner's path) gives the same bands
    loop = ensemble._member_draws_loop(X, SURVIVAL_GRID_MONTHS, band_alpha=0.1)[3]
    np.testing.assert_allclose(loop, np.stack([[lo0, hi0], [lo1, hi1]]), rtol=0, atol=1e-12)
    # the rest of the answer is the one without bands
    plain = ensemble.predict(X, SURVIVAL_GRID_MONTHS, 0.1)
    assert plain.bands is None
    np.testing.assert_array_equal(plain.survival_ici, banded.survival_ici)
    pd.testing.assert_frame_equal(plain.to_frame(), banded.to_frame(), check_exact=True)


def test_ensemble_bands_are_ordered_monotone_and_in_range(ensemble, small_trial):
    X = small_trial[2].iloc[:60]
    bands = ensemble.predict(X, SURVIVAL_GRID_MONTHS, 0.1, bands=True).bands
    for lower, upper in ((bands.ici_lower, bands.ici_upper),
                         (bands.rt_ici_lower, bands.rt_ici_upper)):
        assert ((lower >= 0) & (upper <= 1)).all()
        assert (upper - lower >= 0).all() and (upper - lower).max() > 0.01
        # percentiles of non-increasing curves are non-increasing
        assert (np.diff(lower, axis=1) <= 0).all() and (np.diff(upper, axis=1) <= 0).all()
        np.testing.assert_array_equal(lower[:, 0], 1.0)  # S(0) = 1 for every member


def test_band_narrows_as_members_agree(ensemble, small_trial):
    """The band is the members' spread, not a fixed width: members that agree give a narrower
    band, identical members the curve itself (a percentile band need not contain a skewed
    ensemble's mean curve, so that is not what is tested)."""
    X = small_trial[2].iloc[:20]
    width = {}
    for agreeing in (0, 4, 8):
        model = copy.copy(ensemble)
        model.members_ = [ensemble.members_[0]] * agreeing + ensemble.members_[agreeing:]
        prediction = model.predict(X, SURVIVAL_GRID_MONTHS, 0.1, bands=True)
        s0, s1, bands = prediction.survival_ici, prediction.survival_rt_ici, prediction.bands
        width[agreeing] = (bands.rt_ici_upper - bands.rt_ici_lower).mean()
    assert width[0] > width[4] > width[8] == 0.0
    np.testing.assert_allclose(bands.ici_lower, s0, rtol=0, atol=1e-15)
    np.testing.assert_allclose(bands.rt_ici_upper, s1, rtol=0, atol=1e-15)


def test_member_loop_in_parts_equals_one_pass(ensemble, small_trial, monkeypatch):
    X = small_trial[2].iloc[:25]
    whole = ensemble._member_draws_loop(X, SURVIVAL_GRID_MONTHS, band_alpha=0.2)
    monkeypatch.setattr(type(ensemble), "_LOOP_BAND_ROWS", 7)
    parts = ensemble._member_draws_loop(X, SURVIVAL_GRID_MONTHS, band_alpha=0.2)
    for a, b in ((whole[0], parts[0]), (whole[1], parts[1]), (whole[3], parts[3]),
                 (whole[2]["rmst_gain_12mo"], parts[2]["rmst_gain_12mo"])):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)  # rows scored apart


def km_interval(time, event, alpha, times):
    """lifelines' own confidence interval of the Kaplan-Meier curve at ``times`` (steps)."""
    ci = KaplanMeierFitter(alpha=alpha).fit(time, event).confidence_interval_
    at = np.searchsorted(ci.index.to_numpy(float), times, side="right") - 1
    return ci.to_numpy()[at, 0], ci.to_numpy()[at, 1]


@pytest.mark.parametrize("alpha", [0.1, 0.3])
def test_average_effect_bands_are_lifelines_kaplan_meier_intervals(small_trial, alpha):
    Y, T, _, _ = small_trial
    model = AverageBenefit(alpha=alpha).fit(Y, T)
    bands = model.survival_band(3, SURVIVAL_GRID_MONTHS)
    s0, s1 = model.predict_survival(3, SURVIVAL_GRID_MONTHS)
    time, event, arm = Y["time"].to_numpy(), Y["event"].to_numpy(), np.asarray(T)
    for a, lower, upper, curve in ((0, bands.ici_lower, bands.ici_upper, s0),
                                   (1, bands.rt_ici_lower, bands.rt_ici_upper, s1)):
        want_lower, want_upper = km_interval(time[arm == a], event[arm == a], alpha,
                                             SURVIVAL_GRID_MONTHS)
        np.testing.assert_allclose(lower, np.tile(want_lower, (3, 1)), rtol=0, atol=1e-12)
        np.testing.assert_allclose(upper, np.tile(want_upper, (3, 1)), rtol=0, atol=1e-12)
        # the exponential Greenwood interval contains the Kaplan-Meier curve and stays in [0, 1]
        assert ((lower <= curve + 1e-12) & (curve <= upper + 1e-12)).all()
        assert ((lower >= 0) & (upper <= 1)).all() and (upper - lower).max() > 0.05


def test_average_effect_band_where_the_curve_reaches_zero():
    """The last patient progresses: S = 0 from then on, and so is the band (no NaN)."""
    time = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    event = np.array([1, 0, 1, 1, 0, 1])
    model = AverageBenefit(alpha=0.1)
    model.km_ = [KaplanMeierFitter().fit(time, event)] * 2  # fitted at 95 %: the band is 90 %
    times = np.array([0.0, 0.5, 2.5, 5.5, 6.0, 9.0])
    bands = model.survival_band(1, times)
    want_lower, want_upper = km_interval(time, event, 0.1, times)
    np.testing.assert_allclose(bands.ici_lower[0], want_lower, rtol=0, atol=1e-12)
    np.testing.assert_allclose(bands.rt_ici_upper[0], want_upper, rtol=0, atol=1e-12)
    assert bands.ici_upper[0, 0] == 1.0 and bands.ici_upper[0, -1] == 0.0


def test_transported_band_is_the_draws_percentiles():
    """Real-world baseline: the RT curve's band is the percentile band of S_ici ** r over the
    draws of the trial's effect; the baseline itself has no band. Both forms of the draws (the
    curves' ratios, and a Cox member's scale x curve) give the same band."""
    rng = np.random.default_rng(3)
    grid = np.concatenate([BENEFIT_GRID_MONTHS, [6.0, 12.0], SURVIVAL_GRID_MONTHS])
    n, n_draws = 7, 40
    base = np.exp(-np.outer(rng.uniform(0.03, 0.2, n), grid))  # real-world S_ici, (n, G)
    h0 = 0.1 * grid * np.exp(rng.normal(0, 0.2, (n_draws, 1)))  # trial ICI arm, per draw
    h1 = 0.07 * grid ** 1.1 * np.exp(rng.normal(0, 0.3, (n_draws, 1)))
    f = rng.normal(0, 0.3, (n_draws, 2, n))  # per draw, arm and patient
    s_trial = [np.exp(-h[:, None, :] * np.exp(f[:, a, :, None])) for a, h in ((0, h0), (1, h1))]
    ratios = hazard_ratio_curve(*s_trial)  # (M, n, G)
    from models.recommend import RecommendationRule

    rule = RecommendationRule()
    columns, s_ici, s_rt, bands = transported_benefit(base, ratios, 0.1, rule, bands=True)
    np.testing.assert_array_equal(s_ici, base[:, len(BENEFIT_GRID_MONTHS) + 2:])
    assert columns["s_ici_6mo"] == pytest.approx(base[:, len(BENEFIT_GRID_MONTHS)])
    assert bands.ici_lower is None and bands.ici_upper is None
    k = len(BENEFIT_GRID_MONTHS) + 2
    draws = base[None, :, k:] ** ratios[:, :, k:]
    want = np.quantile(draws, [0.05, 0.95], axis=0)
    np.testing.assert_allclose(bands.rt_ici_lower, want[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(bands.rt_ici_upper, want[1], rtol=0, atol=1e-12)
    np.testing.assert_allclose(s_rt, draws.mean(axis=0), rtol=0, atol=1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        curve = np.where(h0 > 1e-9, h1 / h0, np.nan)
    scaled = transported_benefit(base, (np.exp(f[:, 1] - f[:, 0]), curve), 0.1, rule, bands=True)
    np.testing.assert_allclose(scaled[3].rt_ici_lower, want[0], rtol=0, atol=1e-9)
    np.testing.assert_allclose(scaled[3].rt_ici_upper, want[1], rtol=0, atol=1e-9)
    assert transported_benefit(base, ratios, 0.1, rule)[3] is None  # only when asked
