"""A small SYNTHETIC randomised trial with a known heterogeneous effect (tests only).

Exponential PFS with rate lambda(x, arm) = base * exp(0.5 x0 - 0.3 x1 + arm * (beta + gamma x2)):
RT lowers the hazard when beta + gamma x2 < 0, so with gamma < 0 patients with high x2 (a
stand-in for a "cold" tumour) benefit most. Uniform administrative censoring. The true benefit of
every estimand is computed in closed form from the two exponential curves.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

BASE_RATE = 0.12  # per month: median PFS about 5.8 months at x = 0 under ICI alone


def true_curves(X: pd.DataFrame, beta: float, gamma: float, times: np.ndarray):
    lin = 0.5 * X["x0"].to_numpy() - 0.3 * X["x1"].to_numpy()
    rate0 = BASE_RATE * np.exp(lin)
    rate1 = rate0 * np.exp(beta + gamma * X["x2"].to_numpy())
    return np.exp(-np.outer(rate0, times)), np.exp(-np.outer(rate1, times)), rate0, rate1


def make_trial(
    n: int = 1000, beta: float = -0.4, gamma: float = -0.6, seed: int = 0, p_missing: float = 0.05
):
    """(Y, T, X, truth) with ``truth`` holding the true gains (SYNTHETIC data)."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 5)), columns=[f"x{i}" for i in range(5)])
    T = rng.permutation(np.arange(n) % 2)
    _, _, rate0, rate1 = true_curves(X, beta, gamma, np.array([0.0]))
    rate = np.where(T == 1, rate1, rate0)
    pfs = rng.exponential(1.0 / rate)
    censor = rng.uniform(6.0, 30.0, size=n)
    Y = pd.DataFrame({"time": np.minimum(pfs, censor), "event": (pfs <= censor).astype(int)})
    truth = pd.DataFrame(
        {
            "pfs_gain_6mo": np.exp(-rate1 * 6) - np.exp(-rate0 * 6),
            "pfs_gain_12mo": np.exp(-rate1 * 12) - np.exp(-rate0 * 12),
            "rmst_gain_12mo": (1 - np.exp(-rate1 * 12)) / rate1 - (1 - np.exp(-rate0 * 12)) / rate0,
        }
    )
    Xm = X.copy()
    Xm.loc[rng.random(n) < p_missing, "x3"] = np.nan  # a noise feature with missing values
    return Y, T, Xm, truth
