"""Accuracy of survival predictions on held-out cohorts: discrimination (Harrell's and Uno's C,
time-dependent AUC), overall error (Brier, integrated Brier), calibration slope, bootstrap CIs.

Risk convention: a higher ``risk`` means an earlier event. The IPCW statistics follow
scikit-survival's conventions (its ``CensoringDistributionEstimator``): G is the Kaplan-Meier
curve of the censoring times (events at a tied time leave the risk set first), evaluated as a
right-continuous step at each needed time; risks within 1e-8 of each other count as tied (1/2).
G is only evaluated where a statistic needs it; where it is zero (or undefined, beyond the last
follow-up of the censoring data) a ValueError names the time and asks for a smaller tau / t.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter
from scipy.stats import norm

from models.metrics.average import km_survival_with_variance
from models.metrics.concordance import harrell_c as _c_of_survival_score

TIED_TOL = 1e-8


def _arrays(**named) -> list[np.ndarray]:
    """Float arrays of one common length, finite; ``event`` (0/1 or bool) becomes bool."""
    out: list[np.ndarray] = []
    first = next(iter(named))
    for name, value in named.items():
        try:
            a = np.asarray(value, dtype=float)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{name} must be numeric") from err
        ndim = 2 if name == "survival" else 1
        if a.ndim != ndim or len(a) == 0:
            raise ValueError(f"{name} must be a non-empty {ndim}-D array, got shape {a.shape}")
        if not np.isfinite(a).all():
            raise ValueError(f"{name} contains non-finite values")
        if out and len(a) != len(out[0]):
            raise ValueError(f"{name} has length {len(a)} but {first} has {len(out[0])}")
        if "survival" in name and ((a < 0) | (a > 1)).any():
            raise ValueError(f"{name} must hold probabilities in [0, 1]")
        if name.endswith("event"):
            if not np.isin(a, (0.0, 1.0)).all():
                raise ValueError(f"{name} must hold only 0/1 (or booleans)")
            a = a.astype(bool)
        out.append(a)
    return out


def _scalar(value: float, name: str) -> float:
    if not np.isfinite(value := float(value)):
        raise ValueError(f"{name} must be a finite number, got {value}")
    return value


def _censoring(time, event, train_time, train_event) -> Callable[[np.ndarray, str], np.ndarray]:
    """G(x) = P(C > x) by reverse Kaplan-Meier on the training data (else the test data)."""
    if (train_time is None) != (train_event is None):
        raise ValueError("give both train_time and train_event, or neither")
    if train_time is not None:
        time, event = _arrays(train_time=train_time, train_event=train_event)
    knots, inv, counts = np.unique(time, return_inverse=True, return_counts=True)
    deaths = np.bincount(inv, weights=event)
    censored = counts - deaths
    at_risk = len(time) - np.cumsum(counts) + counts - deaths  # events leave first at ties
    ratio = np.divide(censored, at_risk, out=np.zeros(len(knots)), where=censored > 0)
    surv = np.cumprod(1.0 - ratio)

    def g(x: np.ndarray, hint: str) -> np.ndarray:
        x = np.atleast_1d(np.asarray(x, dtype=float))
        if surv[-1] > 0 and (x > knots[-1]).any():
            raise ValueError(f"censoring survival G undefined at time {x.max():g}, beyond the "
                             f"last follow-up {knots[-1]:g} of the censoring data; use a "
                             f"smaller {hint}")
        idx = np.searchsorted(knots, x, side="right") - 1
        out = np.where(idx >= 0, surv[np.maximum(idx, 0)], 1.0)
        if (out <= 0).any():
            raise ValueError(f"censoring survival G is zero at time {x[out <= 0].min():g}; "
                             f"use a smaller {hint}")
        return out

    return g


def harrell_c(time, event, risk) -> float:
    """Harrell's C (Harrell et al., JAMA 1982) with higher ``risk`` = earlier event (lifelines,
    tied risks count 1/2). The existing ``concordance.harrell_c`` takes a survival score."""
    time, event, risk = _arrays(time=time, event=event, risk=risk)
    try:
        return _c_of_survival_score(time, event, -risk)
    except ZeroDivisionError as err:
        raise ValueError("no comparable pairs: Harrell's C is undefined") from err


def uno_c(time, event, risk, tau: float, *, train_time=None, train_event=None) -> float:
    """Uno's IPCW C truncated at tau (Uno et al., Stat Med 2011): pairs whose earlier time is an
    event before tau, weighted by G(T_i)^-2; as ``sksurv.metrics.concordance_index_ipcw``."""
    time, event, risk = _arrays(time=time, event=event, risk=risk)
    g = _censoring(time, event, train_time, train_event)
    use = np.flatnonzero(event & (time < _scalar(tau, "tau")))
    if len(use) == 0:
        raise ValueError(f"no events before tau = {tau:g}: Uno's C is undefined")
    weight = g(time[use], "tau") ** -2.0
    num = den = 0.0
    for rows in np.array_split(np.arange(len(use)), 1 + len(use) * len(time) // 4_000_000):
        i = use[rows]
        ti = time[i, None]
        comparable = (time > ti) | ((time == ti) & ~event)
        diff = risk - risk[i, None]
        score = np.where(np.abs(diff) <= TIED_TOL, 0.5, (diff < 0).astype(float))
        num += weight[rows] @ (score * comparable).sum(axis=1)
        den += weight[rows] @ comparable.sum(axis=1)
    if den == 0:
        raise ValueError("no comparable pairs before tau: Uno's C is undefined")
    return float(num / den)


def cumulative_dynamic_auc(time, event, risk, t: float, *, train_time=None,
                           train_event=None) -> float:
    """Cumulative/dynamic AUC(t): cases T <= t with an event, weighted 1/G(T), against controls
    T > t (Uno et al., JASA 2007; Hung & Chiang, Can J Stat 2010); trapezoidal ROC area, as
    ``sksurv.metrics.cumulative_dynamic_auc`` at one time."""
    time, event, risk = _arrays(time=time, event=event, risk=risk)
    g = _censoring(time, event, train_time, train_event)
    case, control = event & (time <= _scalar(t, "t")), time > t
    if not case.any() or not control.any():
        raise ValueError(f"t = {t:g} leaves no cases (events at or before t) or no controls")
    w = np.zeros(len(time))
    w[case] = 1.0 / g(time[case], "t")
    order = np.argsort(-risk, kind="stable")
    group = np.cumsum(np.r_[True, np.abs(np.diff(risk[order])) > TIED_TOL]) - 1
    tpr = np.r_[0.0, np.cumsum(np.bincount(group, weights=w[order]))] / w.sum()
    fpr = np.r_[0.0, np.cumsum(np.bincount(group, weights=control[order]))] / control.sum()
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def _brier(time, event, surv, t: float, g) -> float:
    case, control = event & (time <= t), time > t
    loss = np.zeros(len(time))
    loss[case] = surv[case] ** 2 / g(time[case], "t")
    if control.any():
        loss[control] = (1.0 - surv[control]) ** 2 / g(t, "t")[0]
    return float(loss.mean())


def brier_score(time, event, survival_at_t, t: float, *, train_time=None,
                train_event=None) -> float:
    """IPCW Brier score at t (Graf et al., Stat Med 1999): cases T <= t weighted 1/G(T), those
    still event-free weighted 1/G(t), censored before t weight 0; as ``sksurv.metrics``."""
    time, event, surv = _arrays(time=time, event=event, survival_at_t=survival_at_t)
    return _brier(time, event, surv, _scalar(t, "t"),
                  _censoring(time, event, train_time, train_event))


def integrated_brier_score(time, event, survival, times, *, train_time=None,
                           train_event=None) -> float:
    """Trapezoidal integral of the Brier score (Graf et al. 1999) over ``times`` (strictly
    increasing, >= 2) divided by times[-1] - times[0]; ``survival[:, k]`` is S(times[k])."""
    time, event, survival = _arrays(time=time, event=event, survival=survival)
    (times,) = _arrays(times=times)
    if len(times) < 2 or (np.diff(times) <= 0).any():
        raise ValueError("times must be strictly increasing with at least two points")
    if survival.shape[1] != len(times):
        raise ValueError(f"survival has {survival.shape[1]} columns but times has {len(times)}")
    g = _censoring(time, event, train_time, train_event)
    bs = np.array([_brier(time, event, survival[:, k], tk, g) for k, tk in enumerate(times)])
    return float(np.sum(np.diff(times) * (bs[1:] + bs[:-1]) / 2) / (times[-1] - times[0]))


def calibration_slope(time, event, predicted_survival_at_t, t: float) -> dict:
    """Calibration slope (Crowson, Atkinson & Therneau, Stat Methods Med Res 2016): Cox model of
    the outcome censored at t on lp = log(-log S_pred(t)), S clipped to [1e-6, 1 - 1e-6].
    1 = well-spread predictions; < 1 = too extreme; > 1 = too modest. Wald 95% CI."""
    time, event, s = _arrays(time=time, event=event,
                             predicted_survival_at_t=predicted_survival_at_t)
    t = _scalar(t, "t")
    status = event & (time <= t)
    if not status.any():
        raise ValueError(f"no events at or before t = {t:g}: the calibration slope is undefined")
    s = np.clip(s, 1e-6, 1 - 1e-6)
    df = pd.DataFrame({"time": np.minimum(time, t), "event": status.astype(int),
                       "lp": np.log(-np.log(s))})
    row = CoxPHFitter().fit(df, "time", "event").summary.loc["lp"]
    return {"slope": float(row["coef"]), "slope_lower": float(row["coef lower 95%"]),
            "slope_upper": float(row["coef upper 95%"]), "n": len(time)}


def bootstrap_ci(statistic: Callable[..., float], *arrays, n_boot: int = 200,
                 level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """(estimate, lower, upper): percentile bootstrap resampling patients (rows, jointly across
    ``arrays``); resamples where the statistic is NaN or raises ValueError are skipped."""
    arrays = tuple(np.asarray(a) for a in arrays)
    if not arrays or len({len(a) for a in arrays}) != 1:
        raise ValueError("arrays must be one or more arrays with the same number of rows")
    if not 0 < level < 1 or n_boot < 1:
        raise ValueError("level must lie in (0, 1) and n_boot be positive")
    estimate = float(statistic(*arrays))
    rng, n, stats = np.random.default_rng(seed), len(arrays[0]), []
    for _ in range(n_boot):
        idx = rng.integers(0, n, size=n)
        try:
            value = float(statistic(*(a[idx] for a in arrays)))
        except ValueError:
            continue
        if np.isfinite(value):
            stats.append(value)
    if not stats:
        raise ValueError("the statistic was undefined on every bootstrap resample")
    lower, upper = np.quantile(stats, [(1 - level) / 2, (1 + level) / 2])
    return estimate, float(lower), float(upper)


def km_survival_with_ci(time, event, t: float) -> tuple[float, float, float]:
    """Kaplan-Meier S(t) and its 95% CI by the exponential Greenwood (log(-log)) formula, as
    lifelines' KaplanMeierFitter (Kalbfleisch & Prentice 2002); (1, 1, 1) before any event."""
    time, event = _arrays(time=time, event=event)
    s, var = km_survival_with_variance(time, event.astype(int), _scalar(t, "t"))
    if s <= 0 or s >= 1:
        return float(s), float(s), float(s)
    half = norm.ppf(0.975) * np.sqrt(var) / (s * np.log(s))  # negative: log(s) < 0
    lower, upper = np.exp(-np.exp(np.log(-np.log(s)) + np.array([-half, half])))
    return float(s), float(lower), float(upper)
