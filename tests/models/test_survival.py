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
