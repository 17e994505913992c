"""``abscopal predict`` and ``abscopal evaluate``: offline scoring and evaluation of a model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from cohorts import read_cohort
from cohorts.io import TRUTH_FILE
from common.atomic import atomic_path
from models.recommend import RECOMMENDATIONS
from training.bundle import NO_CURVES
from training.criterion import SELECTION_ESTIMAND, benefit_loss, pseudo_outcomes
from training.loading import LoadedModel, load_model


def predict_cohort(model_uri: str | None, cohort_path: str | Path, out: str | Path,
                   id_col: str | None = None) -> pd.DataFrame:
    """One row per patient: patient_id, PREDICTION_COLUMNS, warnings. Outcomes in the cohort are
    ignored; only the columns the model reads are validated (others are carried unread)."""
    table = score_cohort(load_model(model_uri), cohort_path, id_col)
    with atomic_path(out) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    return table


def score_cohort(loaded: LoadedModel, cohort_path: str | Path,
                 id_col: str | None = None) -> pd.DataFrame:
    """``predict_cohort``'s table, in memory (the Python API's ``predict`` on a cohort)."""
    import features
    from training.data import clinical_inputs

    rename = {id_col: "patient_id"} if id_col and id_col != "patient_id" else None
    cohort = read_cohort(cohort_path, rename=rename, endpoint=None,
                         used=clinical_inputs(loaded.bundle.feature_names))
    return loaded.bundle.predict_table(features.raw_inputs_from_cohort(cohort))


def evaluate_cohort(
    model: str | LoadedModel | None, cohort_path: str | Path, out: str | Path | None = None,
    **read,
) -> dict:
    """Benefit metrics of a model (a URI, None for the champion, or a loaded model) on a
    randomised cohort (plus truth-based ones when known)."""
    import features
    from models import evaluate_benefit
    from training.data import clinical_inputs, read_trial

    loaded = model if isinstance(model, LoadedModel) else load_model(model)
    bundle = loaded.bundle
    trial = read_trial(cohort_path, endpoint=bundle.training.get("endpoint", "pfs"),
                       used=clinical_inputs(bundle.feature_names), **read)
    # the serving path's inputs (the prognosis model's risk included), in the outcomes' order
    X = bundle.features_for(features.raw_inputs_from_cohort(trial.cohort)).reindex(trial.Y.index)
    truth = _truth(Path(cohort_path), X.index)
    metrics = evaluate_benefit(bundle.estimator, trial.Y, trial.T, X, truth=truth)
    psi = pseudo_outcomes(trial.Y, trial.T)[SELECTION_ESTIMAND]
    metrics["benefit_loss"] = benefit_loss(psi, bundle.served_gain(X, SELECTION_ESTIMAND))
    metrics["average_predicted_gain"] = average_predicted_gain(bundle.estimator, X, bundle.alpha)
    recommended = bundle.predict(X, times=NO_CURVES).recommendation
    shares = pd.Series(recommended).value_counts(normalize=True)
    metrics["recommendations"] = {r: float(shares.get(r, 0.0)) for r in RECOMMENDATIONS}
    metrics["model"] = {"uri": loaded.uri, "name": loaded.name, "version": loaded.version,
                        "run_id": loaded.run_id, "synthetic_training_data": bundle.synthetic}
    metrics["cohort"] = {"path": str(cohort_path), "n": len(X),
                         "synthetic": bool(trial.cohort.meta.synthetic)}
    if out is not None:
        with atomic_path(out) as tmp:
            tmp.write_text(json.dumps(_jsonable(metrics), indent=2) + "\n")
    return metrics


def average_predicted_gain(estimator, X: pd.DataFrame, alpha: float) -> dict:
    """The cohort's mean predicted gain per estimand, with a bootstrap interval over members."""
    if not hasattr(estimator, "member_effects"):
        return {k: {"estimate": float(np.mean(v))} for k, v in estimator.effect_all(X).items()}
    out = {}
    for k, draws in estimator.member_effects(X).items():
        means = draws.mean(axis=1)  # one cohort-average gain per bootstrap member
        out[k] = {
            "estimate": float(means.mean()),
            "lower": float(np.quantile(means, alpha / 2)),
            "upper": float(np.quantile(means, 1 - alpha / 2)),
        }
    return out


def _truth(cohort_dir: Path, index: pd.Index) -> pd.DataFrame | None:
    path = cohort_dir / TRUTH_FILE if cohort_dir.is_dir() else None
    if path is None or not path.exists():
        return None
    truth = pd.read_csv(path, dtype={"patient_id": str}).set_index("patient_id")
    # Score against the conditional truth E[gain | inputs] (cond_*: what a model can estimate);
    # truth.csv files without it (older simulator versions) give the individual true_* gains.
    prefix = "cond_" if "cond_pfs_gain_6mo" in truth.columns else "true_"
    truth = truth[[c for c in truth.columns if c.startswith(prefix)]]
    truth = truth.rename(columns=lambda c: c.removeprefix(prefix))
    return truth.reindex(index)


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    return value
