"""Shared survival statistics for Cox-type learners: the Breslow baseline hazard and S(t | x).

A Cox-type model gives a log relative risk f(x); with the Breslow estimator of the baseline
cumulative hazard H0, S(t | x) = exp(-H0(t) exp(f(x))) (Breslow 1972, ties handled Breslow's way,
as in lifelines' CoxPHFitter).
"""

from __future__ import annotations

import numpy as np


def breslow_cumulative_hazard(
    time: np.ndarray, event: np.ndarray, log_risk: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Breslow H0 at event times: H0(t) = sum_{t_i <= t} d_i / sum_{j: t_j >= t_i} exp(f_j).

    Returns (event_times, cumulative_hazard), both increasing. Predictions must use log risks on
    the same scale as ``log_risk`` (the same fitted model).
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    risk = np.exp(np.asarray(log_risk, dtype=float))
    order = np.argsort(time, kind="stable")
    t_sorted, e_sorted, r_sorted = time[order], event[order], risk[order]
    # risk-set sums: total risk of everyone with time >= t (reverse cumulative sum)
    at_risk = np.cumsum(r_sorted[::-1])[::-1]
    uniq, first = np.unique(t_sorted, return_index=True)
    deaths = np.add.reduceat(e_sorted.astype(float), first)
    keep = deaths > 0
    hazard = deaths[keep] / at_risk[first][keep]
    return uniq[keep], np.cumsum(hazard)


def step_at(knots: np.ndarray, values: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Right-continuous step function (0 before the first knot) evaluated at ``times``."""
    idx = np.searchsorted(knots, np.asarray(times, dtype=float), side="right") - 1
    return np.where(idx >= 0, values[np.clip(idx, 0, None)], 0.0)


def cox_survival(
    knots: np.ndarray, cumhaz: np.ndarray, log_risk: np.ndarray, times: np.ndarray
) -> np.ndarray:
    """S(t | x) = exp(-H0(t) exp(f(x))) for each row of ``log_risk`` and each of ``times``."""
    h0 = step_at(knots, cumhaz, times)
    return np.exp(-np.outer(np.exp(np.asarray(log_risk, dtype=float)), h0))


def km_censoring_survival(time: np.ndarray, event: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Left limit G(t-) of the Kaplan-Meier survival of the censoring time (censoring = event)."""
    from lifelines import KaplanMeierFitter

    kmf = KaplanMeierFitter().fit(time, 1 - np.asarray(event))
    sf = kmf.survival_function_
    knots = sf.index.to_numpy(dtype=float)
    vals = sf.iloc[:, 0].to_numpy(dtype=float)
    # left limit: value of the step just before t (strictly smaller knot)
    idx = np.searchsorted(knots, np.asarray(at, dtype=float), side="left") - 1
    return np.where(idx >= 0, vals[np.clip(idx, 0, None)], 1.0)


def km_survival_at(time: np.ndarray, event: np.ndarray, t: float) -> float:
    """Kaplan-Meier S(t) (lifelines); NaN when there are no patients."""
    from lifelines import KaplanMeierFitter

    if len(time) == 0:
        return float("nan")
    kmf = KaplanMeierFitter().fit(np.asarray(time, float), np.asarray(event, int))
    return float(kmf.survival_function_at_times(t).iloc[0])
