"""Shared survival statistics for Cox-type learners: baseline hazards and S(t | x).

A Cox-type model gives a log relative risk f(x) and S(t | x) = exp(-H0(t) exp(f(x))). Two
estimators of the baseline cumulative hazard H0 from the patients the model was fitted on:

- ``breslow_cumulative_hazard`` (Breslow 1972, ties handled Breslow's way, as in lifelines'
  CoxPHFitter): exact when proportional hazards hold and f is the true log risk;
- ``km_matched_cumulative_hazard``: at each Kaplan-Meier knot, the H0 whose mean predicted
  survival over the same patients equals their Kaplan-Meier S(t). Their mean curve is then the
  Kaplan-Meier by construction, whether hazards are proportional or not; where the Kaplan-Meier
  flattens (a cure fraction), H0 flattens. New patients' mean curve matches it only as far as
  f is distributed alike on them: a boosted f is more spread on the patients it was fitted on
  (one 150-patient arm of a virtual trial: sd 0.96 on its own patients, 0.74 on new ones; 1.59
  and 0.95 for a bootstrap resample of it), which leaves new patients' mean S(12) a few points
  low (docs/benchmarks.md, "Calibrated baselines").
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


KM_ZERO_MATCH = 1e-12  # a Kaplan-Meier S(t) of 0 is matched to this mean survival (finite H0)


def km_matched_cumulative_hazard(
    time: np.ndarray, event: np.ndarray, log_risk: np.ndarray, max_iter: int = 100
) -> tuple[np.ndarray, np.ndarray]:
    """H0 at event times such that mean_i exp(-H0(t) exp(f_i)) = Kaplan-Meier S(t) of the same
    patients, at every event time t.

    Returns (event_times, cumulative_hazard), non-decreasing. Each knot is a 1-D root find,
    all knots at once: g(H) = log mean_i exp(-H r_i) - log S(t) is decreasing and convex in H
    (a log-sum-exp of linear functions), so Newton's method started below the root climbs to
    it without overshooting; the start -log S(t) / mean_i r_i is below the root by Jensen's
    inequality (mean exp(-H r) >= exp(-H mean r)). A Kaplan-Meier S(t) of 0 (the last patient
    had the event) is matched to ``KM_ZERO_MATCH``: a large, finite H0.
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    f = np.asarray(log_risk, dtype=float)
    order = np.argsort(time, kind="stable")
    t_sorted, e_sorted = time[order], event[order]
    uniq, first = np.unique(t_sorted, return_index=True)
    deaths = np.add.reduceat(e_sorted.astype(float), first)
    at_risk = len(time) - first
    keep = deaths > 0
    km = np.cumprod(1.0 - deaths[keep] / at_risk[keep])
    log_s = np.log(np.maximum(km, KM_ZERO_MATCH))
    # scale the risks by their largest value: exp(f - max f) <= 1, H0 rescaled at the end
    shift = f.max()
    r = np.exp(f - shift)
    h = -log_s / r.mean()  # Jensen: a lower bound of every root
    active = np.ones(len(h), dtype=bool)
    for _ in range(max_iter):
        a = np.flatnonzero(active)
        if not len(a):
            break
        z = -np.outer(h[a], r)  # (K, n)
        top = z.max(axis=1, keepdims=True)
        w = np.exp(z - top)
        total = w.sum(axis=1)
        value = top[:, 0] + np.log(total / len(r)) - log_s[a]  # >= 0 below the root
        slope = -(w @ r) / total  # < 0
        step = np.maximum(-value / slope, 0.0)
        h[a] += step
        active[a] = step > 1e-13 * np.maximum(h[a], 1.0)
    cumhaz = np.maximum.accumulate(h) * np.exp(-shift)
    return uniq[keep], cumhaz


BASELINE_HAZARDS = ("km_matched", "breslow")


def baseline_cumulative_hazard(
    method: str, time: np.ndarray, event: np.ndarray, log_risk: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """H0 by ``method``: "km_matched" (``km_matched_cumulative_hazard``) or "breslow"."""
    if method == "km_matched":
        return km_matched_cumulative_hazard(time, event, log_risk)
    if method == "breslow":
        return breslow_cumulative_hazard(time, event, log_risk)
    raise ValueError(f"unknown baseline_hazard {method!r}; expected one of "
                     f"{', '.join(BASELINE_HAZARDS)}")


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


class RmstTable:
    """RMST_b(f) = sum_j w_j exp(-exp(f) h_j) of many Cox models b (step baselines at levels
    h_j, covering widths w_j of the time axis), as functions of the log risk f.

    Why: scoring 1,000 patients with a 50-member ensemble would take 100 exponentials per
    member, arm and patient (~10 M). Each RMST_b is a smooth function of f, so it is tabulated
    once on POINTS log risks with its derivative and read by cubic Hermite interpolation: error
    <= step^4 / 384 * max|RMST''''| (below 1e-9 months here; tests check against the exact sum),
    and exact sums for log risks outside the table.
    """

    LOG_RISK_RANGE = (-12.0, 12.0)
    POINTS = 4096

    def __init__(self, levels: np.ndarray, widths: np.ndarray):
        self.levels = np.asarray(levels, dtype=float)  # (B, L), padded with any level of width 0
        self.widths = np.asarray(widths, dtype=float)  # (B, L)
        lo, hi = self.LOG_RISK_RANGE
        self.step = (hi - lo) / (self.POINTS - 1)
        risk = np.exp(lo + self.step * np.arange(self.POINTS))
        # per model and interval k, the cubic a0 + a1 t + a2 t^2 + a3 t^3 (t in [0, 1]) through
        # the values and slopes at both ends, stored side by side: one cache line per look-up
        self.coef = np.empty((len(self.levels), self.POINTS - 1, 4))
        for b, (h, w) in enumerate(zip(self.levels, self.widths, strict=True)):
            survival = np.exp(-np.outer(risk, h))  # (POINTS, L)
            value = survival @ w
            slope = -risk * (survival @ (w * h)) * self.step  # d RMST / dt
            g0, g1, d0, d1 = value[:-1], value[1:], slope[:-1], slope[1:]
            self.coef[b] = np.column_stack([g0, d0, 3 * (g1 - g0) - 2 * d0 - d1,
                                            2 * (g0 - g1) + d0 + d1])
        self.coef = self.coef.ravel()

    def exact(self, log_risk: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """sum_j w_j exp(-exp(f) h_j) for log risks ``log_risk`` of models ``rows``."""
        survival = np.exp(-np.exp(log_risk)[:, None] * self.levels[rows])
        return np.einsum("nl,nl->n", survival, self.widths[rows])

    def __call__(self, log_risk: np.ndarray) -> np.ndarray:
        """RMST of model b at log risks ``log_risk[b]``: (B, n) -> (B, n)."""
        f = np.asarray(log_risk, dtype=float)
        lo, hi = self.LOG_RISK_RANGE
        u = (np.clip(f, lo, hi) - lo) / self.step
        k = np.minimum(u.astype(np.int64), self.POINTS - 2)
        t = u - k
        at = 4 * (k + (np.arange(len(f)) * (self.POINTS - 1))[:, None])
        a0, a1, a2, a3 = (self.coef.take(at + j) for j in range(4))
        out = a0 + t * (a1 + t * (a2 + t * a3))
        outside = (f < lo) | (f > hi)
        if outside.any():
            rows, cols = np.nonzero(outside)
            out[rows, cols] = self.exact(f[rows, cols], rows)
        return out
