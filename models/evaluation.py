"""Every benefit metric for a fitted model on one cohort, as a JSON-ready dict."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.base import BENEFIT_GRID_MONTHS, ESTIMANDS, validate_fit_inputs
from models.metrics import (
    auroc_benefiters,
    average_effect,
    c_for_benefit,
    calibration_of_benefit,
    harrell_c,
    pehe,
    policy_regret,
    qini_curve,
    spearman,
)
from models.metrics.average import km_survival_with_variance
from models.metrics.survival_accuracy import (
    brier_score,
    calibration_slope,
    integrated_brier_score,
    uno_c,
)
from models.pseudo_outcomes import arm_means_from_curves


def _true_gains(truth, n: int) -> dict[str, np.ndarray]:
    """{estimand: true gain per row} from an array / Series (the 6-month gain) or a DataFrame
    with any of the ESTIMANDS as columns."""
    if isinstance(truth, pd.DataFrame):
        columns = {k: truth[k] for k in ESTIMANDS if k in truth.columns}
        if "pfs_gain_6mo" not in columns:
            raise ValueError("truth must have a column 'pfs_gain_6mo' (the true 6-month PFS gain)")
    else:
        columns = {"pfs_gain_6mo": truth}
    out = {}
    for k, v in columns.items():
        gain = np.asarray(v, dtype=float).ravel()
        if len(gain) != n or not np.isfinite(gain).all():
            raise ValueError(f"truth must hold {n} finite true values of {k}; got {len(gain)}")
        out[k] = gain
    return out


def survival_calibration(time, event, arm, s0: np.ndarray, s1: np.ndarray,
                         horizons=(6.0, 12.0)) -> dict:
    """Per arm and horizon: the mean predicted S(t) of every patient under that arm against the
    arm's Kaplan-Meier S(t) with its 95% Greenwood interval (randomisation makes the arm's
    patients a sample of all). Curves are on BENEFIT_GRID_MONTHS."""
    out = {}
    for a, name, s in ((0, "ici", s0), (1, "rt_ici", s1)):
        for h in horizons:
            j = int(np.flatnonzero(np.isclose(BENEFIT_GRID_MONTHS, h))[0])
            km, var = km_survival_with_variance(time[arm == a], event[arm == a], h)
            half = 1.959964 * np.sqrt(var)
            out[f"{name}_{h:.0f}mo"] = {
                "mean_predicted": float(np.mean(s[:, j])), "kaplan_meier": km,
                "km_lower": max(km - half, 0.0), "km_upper": min(km + half, 1.0),
                "inside_km_ci": bool(abs(np.mean(s[:, j]) - km) <= half)}
    return out


def survival_accuracy(time, event, arm, s0: np.ndarray, s1: np.ndarray,
                      horizon: float = 12.0) -> dict:
    """Per arm, on that arm's patients and their own arm's curve: Uno's C of the predicted RMST
    up to ``horizon`` (Uno et al. 2011), IPCW Brier score at 6 and 12 months and integrated over
    0.5-12 months (Graf et al. 1999), and the calibration slope at 12 months (Crowson et al.
    2016). A statistic the data cannot support (no event before a time) is NaN."""
    grid = BENEFIT_GRID_MONTHS
    every_half = np.flatnonzero(np.isclose(np.mod(grid, 0.5), 0) & (grid >= 0.5) & (grid <= 12))
    j6, j12 = (int(np.flatnonzero(np.isclose(grid, h))[0]) for h in (6.0, 12.0))
    out = {}
    for a, name, s in ((0, "ici", s0), (1, "rt_ici", s1)):
        t, e, curve = time[arm == a], event[arm == a], s[arm == a]
        rmst = curve[:, :j12] @ np.diff(grid[: j12 + 1])
        stats = {
            "uno_c": lambda t=t, e=e, r=rmst: uno_c(t, e, -r, horizon),
            "brier_6mo": lambda t=t, e=e, c=curve: brier_score(t, e, c[:, j6], 6.0),
            "brier_12mo": lambda t=t, e=e, c=curve: brier_score(t, e, c[:, j12], 12.0),
            "integrated_brier_12mo": lambda t=t, e=e, c=curve: integrated_brier_score(
                t, e, c[:, every_half], grid[every_half]),
            "calibration_slope_12mo": lambda t=t, e=e, c=curve: calibration_slope(
                t, e, c[:, j12], 12.0)["slope"],
        }
        out[name] = {}
        for key, fn in stats.items():
            try:
                out[name][key] = float(fn())
            except (ValueError, ArithmeticError):
                out[name][key] = float("nan")
    return out


def evaluate_benefit(model, Y: pd.DataFrame, T, X: pd.DataFrame, truth=None) -> dict:
    """Harrell C per arm, C-for-benefit, calibration of benefit, Qini, average effect (+ truth),
    and per arm the survival curves' calibration and accuracy (Uno's C, Brier, IBS, slope).

    Prognosis: Harrell's C in each arm of the predicted 12-month RMST under the patient's own arm.
    Benefit: C-for-benefit on the predicted 12-month RMST gain (its pair outcome is "who
    progressed later", which RMST gain ranks); calibration of benefit and Qini on the 6-month PFS
    gain. ``truth``: the true 6-month gain per row (array, Series, or DataFrame with column
    ``pfs_gain_6mo`` and optionally ``rmst_gain_12mo``) adds PEHE, Spearman, AUROC for true
    benefiters (true gain > 0) and the regret of "RT if predicted gain > 0" against the oracle
    (6-month gain), and PEHE and Spearman of the RMST gain when given.
    """
    time, event, arm, Xf = validate_fit_inputs(Y, T, X)
    s0, s1 = model.predict_survival(Xf, BENEFIT_GRID_MONTHS)
    own_rmst = np.where(
        arm == 1,
        arm_means_from_curves(s1)["rmst_gain_12mo"],
        arm_means_from_curves(s0)["rmst_gain_12mo"],
    )
    if hasattr(model, "effect_all"):
        gains = model.effect_all(Xf)
    else:
        gains = {k: model.effect(Xf, k) for k in ESTIMANDS}
    g6, g_rmst = gains["pfs_gain_6mo"], gains["rmst_gain_12mo"]
    out: dict = {
        "n": len(time),
        "n_per_arm": {"ici": int((arm == 0).sum()), "rt_ici": int((arm == 1).sum())},
        "events_per_arm": {"ici": int(event[arm == 0].sum()), "rt_ici": int(event[arm == 1].sum())},
        "harrell_c_ici": harrell_c(time[arm == 0], event[arm == 0], own_rmst[arm == 0]),
        "harrell_c_rt_ici": harrell_c(time[arm == 1], event[arm == 1], own_rmst[arm == 1]),
        "c_for_benefit": c_for_benefit(time, event, arm, g_rmst),
        "calibration_of_benefit": calibration_of_benefit(time, event, arm, g6),
        "qini": qini_curve(time, event, arm, g6),
        "average_effect": average_effect(time, event, arm),
        "mean_predicted": {k: float(np.mean(v)) for k, v in gains.items()},
        "survival_calibration": survival_calibration(time, event, arm, s0, s1),
        "survival_accuracy": survival_accuracy(time, event, arm, s0, s1),
    }
    if truth is not None:
        true = _true_gains(truth, len(time))
        true6 = true["pfs_gain_6mo"]
        out["truth"] = {
            "pehe_6mo": pehe(g6, true6),
            "spearman_6mo": spearman(g6, true6),
            "auroc_benefiters_6mo": auroc_benefiters(g6, true6),
            "policy_regret_6mo": policy_regret(g6, true6),
        }
        if "rmst_gain_12mo" in true:
            out["truth"]["pehe_rmst_12mo"] = pehe(g_rmst, true["rmst_gain_12mo"])
            out["truth"]["spearman_rmst_12mo"] = spearman(g_rmst, true["rmst_gain_12mo"])
    return out
