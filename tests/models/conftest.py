"""Small deterministic SYNTHETIC trials shared by the model tests."""

from __future__ import annotations

import pytest

from tests.models.synthetic import make_trial


@pytest.fixture(scope="session")
def trial():
    """1,000 patients, heterogeneous effect (RT helps most when x2 is high)."""
    return make_trial(n=1000, seed=0)


@pytest.fixture(scope="session")
def test_trial():
    """An independent draw from the same synthetic population (held-out evaluation)."""
    return make_trial(n=1000, seed=1)


@pytest.fixture(scope="session")
def small_trial():
    return make_trial(n=300, seed=2)


@pytest.fixture(scope="session")
def null_trial():
    """No effect of RT for anyone (beta = gamma = 0)."""
    return make_trial(n=400, beta=0.0, gamma=0.0, seed=3)
