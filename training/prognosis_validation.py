"""Leave-one-cohort-out validation of the prognosis model, side by side with its comparators.

For each cohort held out, every method is fitted on the other cohorts (minus probable duplicates
of the held-out patients, ``prognosis_data.probable_duplicates``) and judged on the held-out
patients: Harrell's and Uno's C with bootstrap CIs, the time-dependent AUC at 6 months and, for
methods that give survival curves, mean predicted S(6) and S(12) against the held-out Kaplan-Meier
with its CI and the calibration slope at 12 months. Methods:

- ``prognosis``: models.prognosis.PrognosisModel (what ``train-prognosis`` registers);
- ``cox``: a penalised Cox model on the same inputs (models.prognosis.LinearCoxPrognosis);
- ``loris``: the published LORIS score (models.loris; missing inputs filled from training);
- ``tmb``: TMB alone (higher = lower risk).

With a single group the same statistics come from K-fold cross-validation by patient.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold

from models.loris import loris_fill_values, loris_score
from models.metrics.survival_accuracy import (
    bootstrap_ci,
    calibration_slope,
    cumulative_dynamic_auc,
    harrell_c,
    km_survival_with_ci,
    uno_c,
)
from models.prognosis import LinearCoxPrognosis, PrognosisModel
from training.prognosis_data import PrognosisData, probable_duplicates

METHODS = ("prognosis", "cox", "loris", "tmb")
CALIBRATION_MONTHS = (6.0, 12.0)
AUC_MONTHS = 6.0
UNO_TAU_MONTHS = 24.0


def held_out_predictions(data: PrognosisData, endpoint: str, *, params: dict | None = None,
                         seed: int = 0, folds: int = 5) -> pd.DataFrame:
    """One row per patient with an outcome: held-out group, time, event, each method's log risk
    (higher = worse) and predicted S(6), S(12) where the method has curves."""
    y = data.Y(endpoint)
    X = data.X.loc[y.index]
    groups = data.groups.loc[y.index].to_numpy()
    splits = _splits(groups, folds, seed)
    parts = []
    for name, test in splits:
        train = np.setdiff1d(np.arange(len(y)), test)
        train = train[~probable_duplicates(X.iloc[test], X.iloc[train])]
        Xtr, Ytr, Xte = X.iloc[train], y.iloc[train], X.iloc[test]
        out = pd.DataFrame({"held_out": name, "time": y["time"].to_numpy()[test],
                            "event": y["event"].to_numpy()[test].astype(int),
                            "n_training": len(train)}, index=Xte.index)
        for method, model in (("prognosis", PrognosisModel(random_state=seed, **(params or {}))),
                              ("cox", LinearCoxPrognosis())):
            model.fit(Ytr, Xtr)
            out[f"{method}_risk"] = model.predict_log_risk(Xte)
            s = model.predict_survival(Xte, CALIBRATION_MONTHS)
            for k, t in enumerate(CALIBRATION_MONTHS):
                out[f"{method}_s{int(t)}"] = s[:, k]
        out["loris_risk"] = -loris_score(Xte, loris_fill_values(Xtr))
        out["tmb_risk"] = -Xte["tmb"].to_numpy(float) if "tmb" in Xte else np.nan
        parts.append(out)
    return pd.concat(parts)


def _splits(groups: np.ndarray, folds: int, seed: int) -> list[tuple[str, np.ndarray]]:
    names = list(dict.fromkeys(groups))
    if len(names) > 1:
        return [(str(g), np.flatnonzero(groups == g)) for g in names]
    kfold = KFold(folds, shuffle=True, random_state=seed)
    return [(f"fold {k + 1}", test) for k, (_, test) in enumerate(kfold.split(groups))]


def validation_table(pred: pd.DataFrame, *, n_boot: int = 200, seed: int = 0) -> pd.DataFrame:
    """Statistics per held-out group and method, plus a ``pooled`` row over all held-out patients
    (C on the pooled predictions: each patient scored by a model that never saw their cohort)."""
    rows = []
    for name, part in [*pred.groupby("held_out", sort=False), ("pooled", pred)]:
        time, event = part["time"].to_numpy(float), part["event"].to_numpy(int)
        for method in METHODS:
            risk = part[f"{method}_risk"].to_numpy(float)
            ok = np.isfinite(risk)
            row = {"held_out": name, "method": method, "n": int(ok.sum()),
                   "events": int(event[ok].sum())}
            if ok.sum() < 10 or event[ok].sum() < 2:
                rows.append(row)
                continue
            t, e, r = time[ok], event[ok], risk[ok]
            row.update(_ci("harrell_c", harrell_c, (t, e, r), n_boot, seed))
            tau = min(UNO_TAU_MONTHS, float(np.quantile(t, 0.9)))
            row.update(_ci("uno_c", lambda a, b, c, tau=tau: uno_c(a, b, c, tau), (t, e, r),
                           n_boot, seed))
            row["uno_tau"] = tau
            row["auc_6mo"] = _safe(lambda t=t, e=e, r=r: cumulative_dynamic_auc(t, e, r,
                                                                                 AUC_MONTHS))
            if f"{method}_s12" in part:
                row.update(_calibration(part.loc[ok], method))
            rows.append(row)
    return pd.DataFrame(rows)


def _ci(name, statistic, arrays, n_boot, seed) -> dict:
    try:
        est, lo, hi = bootstrap_ci(statistic, *arrays, n_boot=n_boot, seed=seed)
    except ValueError:
        return {name: np.nan, f"{name}_lower": np.nan, f"{name}_upper": np.nan}
    return {name: est, f"{name}_lower": lo, f"{name}_upper": hi}


def _safe(fn) -> float:
    try:
        return float(fn())
    except ValueError:
        return float("nan")


def _calibration(part: pd.DataFrame, method: str) -> dict:
    time, event = part["time"].to_numpy(float), part["event"].to_numpy(int)
    out = {}
    for t in CALIBRATION_MONTHS:
        km, lo, hi = km_survival_with_ci(time, event, t)
        predicted = float(part[f"{method}_s{int(t)}"].mean())
        out.update({f"s{int(t)}_predicted": predicted, f"s{int(t)}_km": km,
                    f"s{int(t)}_km_lower": lo, f"s{int(t)}_km_upper": hi,
                    f"s{int(t)}_inside_ci": bool(lo <= predicted <= hi)})
    try:
        slope = calibration_slope(time, event, part[f"{method}_s12"].to_numpy(float), 12.0)
        out.update({k: v for k, v in slope.items() if k != "n"})
    except (ValueError, ArithmeticError):
        out.update({"slope": np.nan, "slope_lower": np.nan, "slope_upper": np.nan})
    return out


def leave_one_cohort_out(data: PrognosisData, endpoint: str, *, params: dict | None = None,
                         n_boot: int = 200, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-patient held-out predictions, the validation table)."""
    pred = held_out_predictions(data, endpoint, params=params, seed=seed)
    return pred, validation_table(pred, n_boot=n_boot, seed=seed)
