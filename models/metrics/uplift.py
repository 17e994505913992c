"""Qini / uplift curve on survival at a horizon (Kaplan-Meier based)."""

from __future__ import annotations

import numpy as np

from models.survival import km_survival_at


def qini_curve(
    time: np.ndarray,
    event: np.ndarray,
    arm: np.ndarray,
    predicted_gain: np.ndarray,
    horizon: float = 6.0,
    n_points: int = 10,
) -> dict:
    """Uplift from treating the top fraction f of patients ranked by predicted gain.

    For f in (1/n_points, ..., 1): u(f) = KM S_RT(h) - KM S_ICI(h) among the top-f patients and
    q(f) = f * u(f): extra progression-free patients at h per patient in the whole population if
    only the top f get RT (vs nobody). AUUC = area under q over [0, 1] (trapezoid, q(0) = 0);
    the random ranking gives f * u(1) with area u(1)/2, and qini = AUUC - u(1)/2 (> 0 when the
    ranking puts benefiters first). Fractions whose top group lacks an arm are NaN and skipped.
    """
    time, event = np.asarray(time, float), np.asarray(event, int)
    arm, pred = np.asarray(arm, int), np.asarray(predicted_gain, float)
    order = np.argsort(-pred, kind="stable")
    n = len(pred)
    fractions = np.arange(1, n_points + 1) / n_points
    values = []
    for f in fractions:
        top = order[: int(np.ceil(f * n))]
        t1, t0 = top[arm[top] == 1], top[arm[top] == 0]
        if len(t1) == 0 or len(t0) == 0:
            values.append(float("nan"))
            continue
        uplift = km_survival_at(time[t1], event[t1], horizon) - km_survival_at(
            time[t0], event[t0], horizon
        )
        values.append(float(f * uplift))
    values = np.array(values)
    ok = ~np.isnan(values)
    x = np.concatenate([[0.0], fractions[ok]])
    y = np.concatenate([[0.0], values[ok]])
    auuc = float(np.trapezoid(y, x))
    overall = values[-1]
    return {
        "fraction": fractions.tolist(),
        "qini": values.tolist(),
        "auuc": auuc,
        "qini_coefficient": float(auuc - overall / 2),
    }
