"""Survival accuracy statistics, cross-checked against scikit-survival (GPL: tests only)."""

import numpy as np
import pytest
from lifelines import KaplanMeierFitter
from sksurv import metrics as sk
from sksurv.util import Surv

from models.metrics.survival_accuracy import (
    bootstrap_ci,
    brier_score,
    calibration_slope,
    cumulative_dynamic_auc,
    harrell_c,
    integrated_brier_score,
    km_survival_with_ci,
    uno_c,
)

TIMES = np.linspace(0.5, 4.0, 8)


def simulate(n: int, seed: int, censor_max: float) -> dict:
    """SYNTHETIC exponential survival, rate exp(0.8 x), uniform censoring; times on a 0.01 grid
    (tied times) and a risk score on a 0.1 grid (tied risks)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    pfs, censor = rng.exponential(np.exp(-0.8 * x)), rng.uniform(0.0, censor_max, size=n)
    return {
        "time": np.round(np.minimum(pfs, censor), 2) + 0.01,
        "event": pfs <= censor,
        "risk": np.round(x + rng.normal(0.0, 0.5, size=n), 1),
        "survival": np.exp(-np.outer(np.exp(0.8 * x), TIMES)),
    }


@pytest.fixture(scope="module")
def test_data() -> dict:
    return simulate(300, seed=11, censor_max=5.0)


@pytest.fixture(scope="module")
def train_data() -> dict:
    return simulate(400, seed=12, censor_max=6.0)


@pytest.fixture(params=["test", "train"])
def censoring(request, test_data, train_data):
    """(sksurv survival_train, our keyword arguments): G from the test data or a training set."""
    if request.param == "test":
        return Surv.from_arrays(test_data["event"], test_data["time"]), {}
    kw = {"train_time": train_data["time"], "train_event": train_data["event"]}
    return Surv.from_arrays(train_data["event"], train_data["time"]), kw


def test_fixture_has_ties_and_censoring(test_data):
    assert len(np.unique(test_data["time"])) < len(test_data["time"])
    assert len(np.unique(test_data["risk"])) < len(test_data["risk"])
    assert 0.2 < 1 - test_data["event"].mean() < 0.8


@pytest.mark.parametrize("tau", [1.0, 2.5, 4.0])
def test_uno_c_matches_sksurv(test_data, censoring, tau):
    y_train, kw = censoring
    y_test = Surv.from_arrays(test_data["event"], test_data["time"])
    ref = sk.concordance_index_ipcw(y_train, y_test, test_data["risk"], tau=tau)[0]
    mine = uno_c(test_data["time"], test_data["event"], test_data["risk"], tau, **kw)
    assert mine == pytest.approx(ref, abs=1e-10)


@pytest.mark.parametrize("t", [0.5, 1.5, 3.0])
def test_auc_and_brier_match_sksurv(test_data, censoring, t):
    y_train, kw = censoring
    y_test = Surv.from_arrays(test_data["event"], test_data["time"])
    time, event, risk = test_data["time"], test_data["event"], test_data["risk"]
    auc = sk.cumulative_dynamic_auc(y_train, y_test, risk, t)[0][0]
    assert cumulative_dynamic_auc(time, event, risk, t, **kw) == pytest.approx(auc, abs=1e-10)
    surv = test_data["survival"][:, 2]
    bs = sk.brier_score(y_train, y_test, surv, t)[1][0]
    assert brier_score(time, event, surv, t, **kw) == pytest.approx(bs, abs=1e-10)


def test_integrated_brier_score_matches_sksurv(test_data, censoring):
    y_train, kw = censoring
    y_test = Surv.from_arrays(test_data["event"], test_data["time"])
    ref = sk.integrated_brier_score(y_train, y_test, test_data["survival"], TIMES)
    mine = integrated_brier_score(
        test_data["time"], test_data["event"], test_data["survival"], TIMES, **kw
    )
    assert mine == pytest.approx(ref, abs=1e-10)


def test_harrell_c_matches_sksurv_with_tied_times_and_risks():
    rng = np.random.default_rng(3)
    time, event = np.round(rng.exponential(size=200), 1), rng.uniform(size=200) < 0.7
    risk = np.round(-time + rng.normal(0.0, 1.0, size=200), 1)
    ref = sk.concordance_index_censored(event, time, risk)[0]
    assert harrell_c(time, event, risk) == pytest.approx(ref, abs=1e-12)


def test_perfect_and_reversed_ranking(test_data):
    time, event = test_data["time"], test_data["event"]
    perfect = -time + 1e-3 * event  # an event outranks a censoring at the same time
    assert harrell_c(time, event, perfect) == 1.0
    assert uno_c(time, event, perfect, tau=3.0) == 1.0
    assert cumulative_dynamic_auc(time, event, perfect, 1.5) == pytest.approx(1.0, abs=1e-12)
    assert harrell_c(time, event, -perfect) == 0.0
    assert uno_c(time, event, -perfect, tau=3.0) == 0.0
    assert cumulative_dynamic_auc(time, event, -perfect, 1.5) == pytest.approx(0.0, abs=1e-12)


def test_brier_of_true_survival_beats_a_coin(test_data):
    time, event, surv = test_data["time"], test_data["event"], test_data["survival"]
    coin = np.full_like(surv, 0.5)
    assert brier_score(time, event, surv[:, 2], 1.5) < brier_score(time, event, coin[:, 2], 1.5)
    assert integrated_brier_score(time, event, surv, TIMES) < 0.25
    assert integrated_brier_score(time, event, coin, TIMES) == pytest.approx(0.25, abs=0.02)


def test_calibration_slope_of_true_and_over_spread_survival():
    rng = np.random.default_rng(7)
    n, t = 1500, 6.0
    lin = rng.normal(size=(n, 2)) @ np.array([0.6, -0.4])
    pfs = (-np.log(rng.uniform(size=n)) / (0.035 * np.exp(lin))) ** (1 / 1.3)  # Weibull PH
    censor = rng.uniform(2.0, 20.0, size=n)
    time, event = np.minimum(pfs, censor), pfs <= censor
    true_s = np.exp(-0.035 * np.exp(lin) * t**1.3)
    fit = calibration_slope(time, event, true_s, t)
    assert fit["n"] == n
    assert fit["slope_lower"] < 1.0 < fit["slope_upper"]
    assert fit["slope_upper"] - fit["slope_lower"] < 0.3
    over = calibration_slope(time, event, np.exp(-np.exp(2 * np.log(-np.log(true_s)))), t)
    assert over["slope_lower"] < 0.5 < over["slope_upper"]
    assert over["slope"] == pytest.approx(0.5, abs=0.05)


def test_bootstrap_ci_brackets_the_estimate_on_real_statistics(test_data):
    args = (test_data["time"], test_data["event"], test_data["risk"])
    est, lower, upper = bootstrap_ci(harrell_c, *args, n_boot=100, seed=5)
    assert est == harrell_c(*args)
    assert lower < est < upper  # percentiles of the resampled C (bootstrap_ci never widens)
    # the seed draws the resamples: another seed moves the bounds by Monte Carlo error only
    other = bootstrap_ci(harrell_c, *args, n_boot=100, seed=6)
    assert other[0] == est and other[1:] != (lower, upper)
    assert other[1:] == pytest.approx((lower, upper), abs=0.25 * (upper - lower))
    two_d = bootstrap_ci(
        lambda ti, ev, s: integrated_brier_score(ti, ev, s, TIMES),
        test_data["time"], test_data["event"], test_data["survival"], n_boot=20,
    )
    assert two_d[1] < two_d[0] < two_d[2]


def test_bootstrap_ci_covers_the_true_value_at_its_level():
    """Percentile intervals of a sample mean (normal data, n = 80) cover the population mean
    about 95% of the time and span about 2 x 1.96 standard errors; a 50% level is narrower."""
    rng = np.random.default_rng(0)
    covered, widths, widths_50 = [], [], []
    for i in range(200):
        x = rng.normal(1.0, 2.0, size=80)
        _, lower, upper = bootstrap_ci(np.mean, x, n_boot=200, seed=i)
        covered.append(lower <= 1.0 <= upper)
        widths.append(upper - lower)
        _, lower, upper = bootstrap_ci(np.mean, x, n_boot=200, level=0.5, seed=i)
        widths_50.append(upper - lower)
    assert 0.9 <= np.mean(covered) <= 0.99
    assert np.mean(widths) == pytest.approx(2 * 1.96 * 2.0 / np.sqrt(80), rel=0.1)
    assert np.mean(widths_50) == pytest.approx(2 * 0.674 * 2.0 / np.sqrt(80), rel=0.1)


def test_bootstrap_ci_skips_undefined_resamples():
    calls = iter(range(10_000))

    def flaky(x: np.ndarray) -> float:
        k = next(calls)
        if k % 3 == 1:
            raise ValueError("undefined")
        return float("nan") if k % 3 == 2 else float(x.mean())

    x = np.arange(50.0)
    est, lower, upper = bootstrap_ci(flaky, x, n_boot=60)
    assert est == x.mean()  # call 0: the full sample
    # resample j is call j + 1: only every third one (calls 3, 6, ...) counts, in the order the
    # default seed draws them
    rng = np.random.default_rng(0)
    draws = [x[rng.integers(0, 50, size=50)].mean() for _ in range(60)]
    kept = [d for j, d in enumerate(draws) if (j + 1) % 3 == 0]
    assert (lower, upper) == pytest.approx(tuple(np.quantile(kept, [0.025, 0.975])), abs=1e-12)
    assert (lower, upper) != pytest.approx(tuple(np.quantile(draws, [0.025, 0.975])), abs=1e-12)
    with pytest.raises(ValueError, match="every bootstrap resample"):
        bootstrap_ci(lambda x: float("nan"), np.arange(5.0), n_boot=5)


def test_km_survival_with_ci_is_lifelines_exponential_greenwood(test_data):
    time, event = test_data["time"], test_data["event"]
    kmf = KaplanMeierFitter().fit(time, event)
    ci = kmf.confidence_interval_
    for t in (0.005, 0.7, 2.0, 4.5, 100.0):
        s, lower, upper = km_survival_with_ci(time, event, t)
        assert s == pytest.approx(float(kmf.survival_function_at_times(t).iloc[0]))
        expected = ci[ci.index <= t].iloc[-1].to_numpy() if t >= ci.index[0] else [1.0, 1.0]
        assert (lower, upper) == pytest.approx(tuple(expected), abs=1e-12)
        assert lower <= s <= upper


def test_validation_errors_name_the_argument(test_data):
    time, event, risk = test_data["time"], test_data["event"], test_data["risk"]
    with pytest.raises(ValueError, match="risk has length 299 but time has 300"):
        harrell_c(time, event, risk[:-1])
    with pytest.raises(ValueError, match="time contains non-finite"):
        uno_c(np.r_[np.nan, time[1:]], event, risk, 2.0)
    with pytest.raises(ValueError, match="event must hold only 0/1"):
        brier_score(time, event + 1, np.full(300, 0.5), 1.0)
    with pytest.raises(ValueError, match="survival_at_t must be numeric"):
        brier_score(time, event, ["a"] * 300, 1.0)
    with pytest.raises(ValueError, match="tau must be a finite number"):
        uno_c(time, event, risk, np.inf)
    with pytest.raises(ValueError, match="survival has 8 columns but times has 2"):
        integrated_brier_score(time, event, test_data["survival"], [1.0, 2.0])
    with pytest.raises(ValueError, match="train_event"):
        uno_c(time, event, risk, 2.0, train_time=time)
    with pytest.raises(ValueError, match="no comparable pairs"):
        harrell_c([1.0, 2.0], [0, 0], [0.1, 0.2])


def test_zero_or_undefined_censoring_survival_raises(test_data):
    time, event, risk = test_data["time"], test_data["event"], test_data["risk"]
    # the training follow-up ends (censored) at 1.0: G(1.0) = 0
    train = {"train_time": [0.5, 0.8, 1.0], "train_event": [1, 0, 0]}
    with pytest.raises(ValueError, match=r"G is zero at time 1\b.*smaller tau"):
        uno_c(time, event, risk, 3.0, **train)
    with pytest.raises(ValueError, match=r"G is zero at time 1\b.*smaller t\b"):
        brier_score(time, event, np.full(300, 0.5), 2.0, **train)
    # training follow-up ends with an event at 1.0: G beyond 1.0 is not estimable
    short = {"train_time": [0.5, 0.8, 1.0], "train_event": [0, 1, 1]}
    with pytest.raises(ValueError, match=r"undefined at time .* beyond the last follow-up 1\b"):
        cumulative_dynamic_auc(time, event, risk, 2.0, **short)
    assert 0.5 < uno_c(time, event, risk, 0.9, **short) < 1.0


def test_evaluation_reports_accuracy_per_arm_and_rewards_the_true_curves():
    from models.base import BENEFIT_GRID_MONTHS
    from models.evaluation import survival_accuracy

    rng = np.random.default_rng(8)
    n = 1500
    arm = rng.integers(0, 2, n)
    x = rng.normal(0, 0.8, n)
    rate = np.exp(x) / np.where(arm == 1, 8.0, 4.0)
    t, c = rng.exponential(1 / rate), rng.uniform(2, 20, n)
    time, event = np.minimum(t, c), (t <= c).astype(int)
    # each patient's true curve under each arm (SYNTHETIC)
    s0 = np.exp(-np.outer(np.exp(x) / 4.0, BENEFIT_GRID_MONTHS))
    s1 = np.exp(-np.outer(np.exp(x) / 8.0, BENEFIT_GRID_MONTHS))
    good = survival_accuracy(time, event, arm, s0, s1)
    flat = survival_accuracy(time, event, arm, np.tile(s0.mean(0), (n, 1)),
                             np.tile(s1.mean(0), (n, 1)))
    for a in ("ici", "rt_ici"):
        assert good[a]["uno_c"] > 0.6
        assert good[a]["calibration_slope_12mo"] == pytest.approx(1.0, abs=0.25)
        assert good[a]["integrated_brier_12mo"] < flat[a]["integrated_brier_12mo"]
        assert good[a]["brier_12mo"] < flat[a]["brier_12mo"]
