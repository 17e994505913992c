import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from lifelines.datasets import load_rossi

from models.survival import (
    breslow_cumulative_hazard,
    cox_survival,
    km_censoring_survival,
    km_survival_at,
    step_at,
)


def test_breslow_matches_lifelines_on_a_linear_cox_model():
    rossi = load_rossi()
    cph = CoxPHFitter().fit(rossi, "week", "arrest")
    covs = rossi.drop(columns=["week", "arrest"])
    log_risk = cph.predict_log_partial_hazard(covs).to_numpy()
    knots, cumhaz = breslow_cumulative_hazard(rossi["week"], rossi["arrest"], log_risk)
    ref = cph.baseline_cumulative_hazard_.iloc[:, 0]
    np.testing.assert_allclose(
        step_at(knots, cumhaz, ref.index.to_numpy()), ref.to_numpy(), rtol=1e-6
    )
    # and the resulting survival curves agree with lifelines' predictions at event times
    times = knots[::5]
    ours = cox_survival(knots, cumhaz, log_risk[:10], times)
    theirs = cph.predict_survival_function(covs.iloc[:10], times=times).to_numpy().T
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_breslow_hand_example_with_ties():
    # times 1,1,2,3 with events 1,1,0,1 and risks 1: H(1) = 2/4, H(3) = 2/4 + 1/1
    knots, cumhaz = breslow_cumulative_hazard(
        np.array([1.0, 1.0, 2.0, 3.0]), np.array([1, 1, 0, 1]), np.zeros(4)
    )
    np.testing.assert_allclose(knots, [1.0, 3.0])
    np.testing.assert_allclose(cumhaz, [0.5, 1.5])
    np.testing.assert_allclose(
        step_at(knots, cumhaz, [0.5, 1.0, 2.9, 3.0, 9.0]), [0, 0.5, 0.5, 1.5, 1.5]
    )


def test_km_helpers_against_hand_values():
    time = np.array([1.0, 2.0, 3.0, 4.0])
    event = np.array([1, 0, 1, 0])
    assert km_survival_at(time, event, 3.5) == pytest.approx(0.75 * 0.5)
    # censoring KM: censoring "events" at 2 and 4; left limit at 2 is 1, just after is 2/3
    np.testing.assert_allclose(
        km_censoring_survival(time, event, np.array([2.0, 3.0])), [1.0, 2 / 3]
    )


def test_cox_survival_shape_and_bounds():
    s = cox_survival(
        np.array([1.0, 2.0]), np.array([0.1, 0.3]), np.array([0.0, 1.0]), np.array([0, 1, 5])
    )
    assert s.shape == (2, 3)
    assert (s[:, 0] == 1).all() and (np.diff(s, axis=1) <= 0).all()
    assert pd.Series(s.ravel()).between(0, 1).all()


def test_rmst_table_matches_the_exact_sum_inside_and_outside_its_range():
    """Cubic Hermite reading of the tabulated RMST(log risk) is within 1e-9 months of the sum
    it replaces; log risks beyond the table are summed exactly."""
    from models.survival import RmstTable

    rng = np.random.default_rng(5)
    levels = np.cumsum(rng.exponential(0.04, size=(6, 120)), axis=1)
    widths = np.full((6, 120), 0.05)
    widths[:, 100:] = 0.0  # padding levels carry no width
    table = RmstTable(levels, widths)
    f = rng.normal(0.0, 3.0, size=(6, 400))
    f[:, :4] = [-20.0, 20.0, RmstTable.LOG_RISK_RANGE[0], RmstTable.LOG_RISK_RANGE[1]]
    exact = np.array([(np.exp(-np.exp(f[b])[:, None] * levels[b]) @ widths[b])
                      for b in range(6)])
    got = table(f)
    np.testing.assert_allclose(got, exact, rtol=0, atol=1e-9)
    np.testing.assert_allclose(got[:, :2], exact[:, :2], rtol=0, atol=1e-12)  # outside: exact
    assert np.all(np.diff(table(np.linspace(-5, 5, 50)[None].repeat(6, 0)), axis=1) < 0)
