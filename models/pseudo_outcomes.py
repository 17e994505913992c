"""Censoring-adjusted doubly robust pseudo-outcomes for the three benefit estimands.

For an estimand phi(T) (1{T > 6}, 1{T > 12} or min(T, 12)) the IPCW outcome is
    Y* = Delta * phi(T~) / G_arm(min(T~, tau)-),  Delta = 1{event or T~ >= tau},
where a patient censored exactly at tau is known to be progression-free at tau (phi = 1 for the
survival indicators; a progression at exactly tau counts as progressed, S(tau) = P(T > tau)),
with G_arm the Kaplan-Meier survival of the censoring time in the patient's arm (censoring assumed
independent of X within an arm, as in a trial with administrative censoring; weights are capped at
1 / min_censoring_survival for stability). The AIPW pseudo-outcome with the KNOWN randomisation
probability e (not re-estimated: in a trial it is fixed by design)
    psi = mu1(x) - mu0(x) + T (Y* - mu1(x)) / e - (1 - T) (Y* - mu0(x)) / (1 - e)
has conditional mean equal to the true benefit when either the outcome models mu_a (here
cross-fitted T-learner curves) or e is right; e is right by design (Kennedy 2023, DR-learner).
These pseudo-outcomes are also an honest held-out criterion for choosing between learners:
mean (psi - predicted benefit)^2 ranks learners like the unobservable PEHE up to a constant.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from models.base import BENEFIT_GRID_MONTHS, ESTIMANDS, RMST_HORIZON_MONTHS, curve_estimands
from models.survival import km_censoring_survival

HORIZONS = {"pfs_gain_6mo": 6.0, "pfs_gain_12mo": 12.0, "rmst_gain_12mo": RMST_HORIZON_MONTHS}


def ipcw_outcomes(
    time: np.ndarray, event: np.ndarray, arm: np.ndarray, min_censoring_survival: float = 0.1
) -> dict[str, np.ndarray]:
    """Y* for each estimand (survival indicators at 6/12 months, time restricted to 12)."""
    out = {}
    for estimand, tau in HORIZONS.items():
        t_star = np.minimum(time, tau)
        known = (event == 1) | (time >= tau)
        alive = (time > tau) | ((time == tau) & (event == 0))  # censored at tau: no event by tau
        phi = t_star if estimand.startswith("rmst") else alive.astype(float)
        g = np.ones_like(time)
        for a in (0, 1):
            m = arm == a
            g[m] = km_censoring_survival(time[m], event[m], t_star[m])
        out[estimand] = known * phi / np.maximum(g, min_censoring_survival)
    return out


def arm_means_from_curves(s: np.ndarray) -> dict[str, np.ndarray]:
    """mu_a(x) for each estimand from one arm's curves on BENEFIT_GRID_MONTHS."""
    return curve_estimands(s)


def aipw_pseudo_outcomes(
    y_star: dict[str, np.ndarray],
    arm: np.ndarray,
    s_ici: np.ndarray,
    s_rt_ici: np.ndarray,
    propensity: float,
) -> pd.DataFrame:
    """psi for each estimand from IPCW outcomes and (held-out) outcome-model curves."""
    return aipw_from_means(y_star, arm, arm_means_from_curves(s_ici),
                           arm_means_from_curves(s_rt_ici), propensity)


def aipw_from_means(y_star: dict[str, np.ndarray], arm: np.ndarray, mu0: dict, mu1: dict,
                    propensity: float) -> pd.DataFrame:
    """The AIPW formula, once: psi = mu1 - mu0 + A (Y* - mu1) / e - (1 - A) (Y* - mu0) / (1 - e),
    with mu_a per patient (outcome-model curves) or one number per arm (arm means)."""
    e = float(propensity)
    return pd.DataFrame(
        {
            k: mu1[k]
            - mu0[k]
            + arm * (y_star[k] - mu1[k]) / e
            - (1 - arm) * (y_star[k] - mu0[k]) / (1 - e)
            for k in ESTIMANDS
        }
    )


def fold_strata(arm: np.ndarray, event: np.ndarray, n_parts: int) -> np.ndarray:
    """Arm x event strata for splitting into ``n_parts``. A censored stratum too small to reach
    every part (few censored patients before progression, as in small ICI trials) joins its arm's
    events: only events must reach every part, and StratifiedKFold needs n_parts per stratum."""
    strata = 2 * np.asarray(arm, dtype=int) + np.asarray(event, dtype=int)
    for a in (0, 1):
        censored = strata == 2 * a
        if 0 < censored.sum() < n_parts:
            strata[censored] = 2 * a + 1
    return strata


def cross_fit_folds(
    arm: np.ndarray, event: np.ndarray, n_folds: int, random_state: int | None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Folds stratified by arm and event, so every training part has events in both arms."""
    strata = fold_strata(arm, event, n_folds)
    skf = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=random_state)
    return list(skf.split(np.zeros(len(arm)), strata))


def augmented_ipcw_outcomes(
    time: np.ndarray, event: np.ndarray, arm: np.ndarray, s_own: np.ndarray,
    min_censoring_survival: float = 0.1,
) -> dict[str, np.ndarray]:
    """Y* with the censoring augmentation (AIPCW; Tsiatis, Semiparametric Theory and Missing
    Data 2006, ch. 10; Robins & Rotnitzky 1992): the IPCW term of ``ipcw_outcomes`` plus, for each
    censoring time u before the horizon, the patient's expected outcome given survival to u,
    E[phi | T > u, x], weighted by dM_C(u) / G(u-). Censored patients then contribute their
    predicted outcome instead of nothing, which lowers the variance; the mean is unchanged
    whatever the outcome model (the augmentation has mean zero when G is right).

    ``s_own``: each patient's survival curve under their own arm on BENEFIT_GRID_MONTHS (from a
    model fitted on other patients).
    """
    grid = BENEFIT_GRID_MONTHS
    widths = np.diff(grid)
    # integral of S from 0 to each grid point (left Riemann sum, as the RMST estimand)
    cumulative = np.concatenate([np.zeros((len(time), 1)), np.cumsum(s_own[:, :-1] * widths,
                                                                     axis=1)], axis=1)
    out = ipcw_outcomes(time, event, arm, min_censoring_survival)
    for estimand, tau in HORIZONS.items():
        augmentation = np.zeros(len(time))
        j_tau = int(np.flatnonzero(np.isclose(grid, tau))[0])
        for a in (0, 1):
            rows = np.flatnonzero(arm == a)
            t, e = time[rows], event[rows]
            censored = (e == 0) & (t < tau)
            if not censored.any():
                continue
            c = np.unique(t[censored])  # censoring times before the horizon
            at_risk = (t[None, :] >= c[:, None]).sum(axis=1)
            d_lambda = np.array([np.sum(t[censored] == ck) for ck in c]) / at_risk
            g = np.maximum(km_censoring_survival(t, e, c), min_censoring_survival)  # G(c-)
            j = np.clip(np.searchsorted(grid, c, side="right") - 1, 0, len(grid) - 1)
            s = s_own[rows]
            s_at = np.maximum(s[:, j], 1e-12)  # S(c_k | x_i): (n_arm, K)
            if estimand.startswith("rmst"):
                integral_at = cumulative[rows][:, j] + (c - grid[j]) * s[:, j]
                remaining = np.maximum(cumulative[rows][:, [j_tau]] - integral_at, 0.0)
                m = c[None, :] + remaining / s_at
            else:
                m = np.minimum(s[:, [j_tau]] / s_at, 1.0)
            weight = m / g[None, :]
            compensator = ((t[:, None] >= c[None, :]) * weight * d_lambda[None, :]).sum(axis=1)
            jump = np.zeros(len(rows))
            k = np.searchsorted(c, t[censored])
            jump[censored] = weight[np.flatnonzero(censored), k]
            augmentation[rows] = jump - compensator
        out[estimand] = out[estimand] + augmentation
    return out
