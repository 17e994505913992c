"""The interval bench's constructions are what its docstring says, on known draws."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm

from models.ensemble import BootstrapBenefit

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCHMARKS))  # it imports benefit_bench as the script would
    try:
        spec = importlib.util.spec_from_file_location("interval_bench",
                                                      BENCHMARKS / "interval_bench.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module


@pytest.fixture()
def draws() -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.gamma(2.0, 1.0, size=(50, 40))  # skewed, so the constructions differ


def test_percentile_is_the_products_interval(bench, draws):
    theta = draws.mean(axis=0) + 0.3
    est, lo, hi, _ = bench.interval("percentile", draws, theta)
    want = BootstrapBenefit._interval(draws, bench.ALPHA)
    for got, expected in zip((est, lo, hi), want, strict=True):
        np.testing.assert_allclose(got, expected)


def test_weibull_holds_the_nominal_mass_and_linear_less(bench):
    """With B = 20 members from a known distribution, the linear interval holds about
    (B - 1)(1 - alpha)/(B + 1) = 0.81 of it, the weibull one about 0.90."""
    rng = np.random.default_rng(0)
    draws = rng.normal(size=(20, 20000))  # 20,000 patients, each with 20 standard-normal members
    theta = np.zeros(draws.shape[1])
    for construction, mass in (("percentile", 0.814), ("weibull", 0.9)):
        _, lo, hi, _ = bench.interval(construction, draws, theta)
        held = (norm.cdf(hi) - norm.cdf(lo)).mean()
        assert held == pytest.approx(mass, abs=0.01), construction


def test_shifted_constructions_move_the_members(bench, draws):
    m = draws.mean(axis=0)
    theta = m + np.linspace(-1, 1, draws.shape[1])
    est, lo, hi, moved = bench.interval("centred", draws, theta)
    np.testing.assert_allclose(est, theta)
    np.testing.assert_allclose(moved.mean(axis=0), theta)
    np.testing.assert_allclose(hi - lo, np.subtract(*np.quantile(draws, [0.95, 0.05], axis=0)))
    est, _, _, _ = bench.interval("bias-corrected", draws, theta)
    np.testing.assert_allclose(est, 2 * theta - m)
    _, lo, hi, moved = bench.interval("basic", draws, theta)
    q_lo, q_hi = np.quantile(draws, [0.05, 0.95], axis=0)
    np.testing.assert_allclose(lo, 2 * theta - q_hi)
    np.testing.assert_allclose(hi, 2 * theta - q_lo)
    np.testing.assert_allclose(moved.mean(axis=0), 2 * theta - m)  # what the rule reads


def test_decile_rows_show_where_and_on_which_side_an_interval_misses(bench):
    """Estimates 1 too high in the smallest-gain decile, exact elsewhere; half-width 0.5: that
    decile's row shows the bias, the width and no coverage, the others full coverage."""
    true = np.linspace(-2.0, 5.0, 200)
    est = true + np.where(true < np.quantile(true, 0.1), 1.0, 0.0)
    told = np.where(true > 4.0, "add_rt", np.where(true < 0.0, "no_added_benefit", "uncertain"))
    rows = bench.decile_rows(est, est - 0.5, est + 0.5, true, told)
    assert [r["decile"] for r in rows] == list(range(10))
    assert rows[0]["bias"] == pytest.approx(1.0) and rows[0]["coverage"] == 0.0
    assert all(r["bias"] == pytest.approx(0.0) and r["coverage"] == 1.0 for r in rows[1:])
    assert all(r["half_width"] == pytest.approx(0.5) for r in rows)
    assert rows[0]["true_gain"] < rows[9]["true_gain"]
    assert rows[0]["no_added_benefit"] == 1.0 and rows[0]["add_rt"] == 0.0
    assert rows[9]["add_rt"] == 1.0 and rows[4]["add_rt"] == rows[4]["no_added_benefit"] == 0.0
