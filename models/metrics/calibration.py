"""Calibration of benefit: predicted vs Kaplan-Meier observed benefit in quantile groups."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.survival import km_survival_at


def calibration_of_benefit(
    time: np.ndarray,
    event: np.ndarray,
    arm: np.ndarray,
    predicted_gain: np.ndarray,
    horizon: float = 6.0,
    n_groups: int = 5,
) -> dict:
    """Groups by quantile of predicted gain in S(horizon); observed = KM S_RT(h) - KM S_ICI(h).

    Returns the per-group table and the intercept and slope of the weighted least-squares line
    observed = intercept + slope * predicted (weights = group size, so small groups count less).
    Perfect calibration: intercept 0, slope 1; slope < 1 means predictions spread too widely.
    """
    time, event = np.asarray(time, float), np.asarray(event, int)
    arm, pred = np.asarray(arm, int), np.asarray(predicted_gain, float)
    # ranks, so tied predictions never produce empty or duplicate bins
    groups = pd.qcut(pd.Series(pred).rank(method="first"), n_groups, labels=False).to_numpy()
    rows = []
    for g in range(n_groups):
        m = groups == g
        m1, m0 = m & (arm == 1), m & (arm == 0)
        if not m1.any() or not m0.any():
            continue
        rows.append(
            {
                "group": g,
                "n": int(m.sum()),
                "predicted": float(pred[m].mean()),
                "observed": km_survival_at(time[m1], event[m1], horizon)
                - km_survival_at(time[m0], event[m0], horizon),
            }
        )
    table = pd.DataFrame(rows)
    intercept = slope = float("nan")
    if len(table) >= 2 and table["predicted"].nunique() > 1:
        w = table["n"].to_numpy(float)
        A = np.column_stack([np.ones(len(table)), table["predicted"]])
        sw = np.sqrt(w)[:, None]
        coef, *_ = np.linalg.lstsq(A * sw, table["observed"].to_numpy() * sw[:, 0], rcond=None)
        intercept, slope = float(coef[0]), float(coef[1])
    return {"intercept": intercept, "slope": slope, "groups": table.to_dict(orient="records")}
