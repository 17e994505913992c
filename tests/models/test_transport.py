"""The trial's relative effect carried onto another baseline."""

from __future__ import annotations

import numpy as np
import pytest

from models.transport import hazard_ratio_curve, transport

T = np.linspace(0, 24, 49)


def test_own_baseline_returns_the_trial_curves():
    s0, s1 = np.exp(-T / 3.0), 0.3 + 0.7 * np.exp(-T / 5.0)  # a plateau in the RT arm
    np.testing.assert_allclose(transport(s0, s1, s0), s1, atol=1e-12)


def test_proportional_hazards_carry_the_hazard_ratio():
    s0, s1 = np.exp(-T / 3.0), np.exp(-0.6 * T / 3.0)
    real_world = np.exp(-T / 6.0)
    np.testing.assert_allclose(transport(s0, s1, real_world), real_world ** 0.6, atol=1e-12)
    assert hazard_ratio_curve(s0, s1)[1:] == pytest.approx(np.full(48, 0.6))


def test_ratio_is_one_at_time_zero_and_curves_stay_in_range():
    s0, s1 = np.exp(-T / 3.0), np.exp(-T / 2.0)  # harm: RT worse
    out = transport(s0, s1, np.exp(-T / 10.0))
    assert out[0] == 1.0 and ((out >= 0) & (out <= 1)).all()
    assert (out <= np.exp(-T / 10.0) + 1e-12).all()
