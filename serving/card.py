"""The model card served at ``GET /model``: what the model is, what it was trained on, how well it
did, and what it must not be used for. Built once at start-up from the bundle and its MLflow run.
"""

from __future__ import annotations

import math
import warnings

import mlflow

from training.loading import LoadedModel

INTENDED_USE = (
    "Research use only: estimating, for groups and individual patients in translational research "
    "and trial design, the progression-free-survival benefit of adding stereotactic radiotherapy "
    "to immune checkpoint inhibitors in advanced NSCLC."
)
LIMITS = [
    "Not a medical device; not validated for clinical decision making. Do not use it to choose "
    "treatment for a patient.",
    "Estimates transfer only to patients like the training cohort (see training_data); values "
    "outside the training range are flagged in each prediction's warnings.",
    "Missing inputs are imputed by the model and flagged; predictions with many imputed inputs "
    "are less reliable.",
    "Individual intervals are bootstrap percentile intervals; the DR-learner's include its causal "
    "calibration. On virtual trials where the heterogeneity test passed they covered about 90% "
    "of patients' conditional gains, less for patients whose gain is far from the average "
    "(their estimates are shrunk towards it), and they do not cover model misspecification "
    "(docs/benchmarks.md). When the trial's average is served, its interval is a confidence "
    "interval of the average gain, not of a patient's.",
    "Drivers are TreeSHAP attributions of a tree surrogate of the predicted 12-month RMST gain; "
    "their fidelity is surrogate_r2 (1 = the surrogate reproduces the model exactly).",
]
SYNTHETIC_NOTICE = (
    "SYNTHETIC training data: this model was trained on simulated patients. Its predictions "
    "demonstrate the software only and carry no clinical meaning. Research use only, not a "
    "medical device."
)
REAL_NOTICE = "Trained on real patient data; research use only, not a medical device."


def notice(synthetic: bool) -> str:
    return SYNTHETIC_NOTICE if synthetic else REAL_NOTICE


def run_metrics(run_id: str | None) -> dict[str, dict[str, float]]:
    """Holdout and cross-validation metrics logged by ``abscopal train`` (training/job.py)."""
    if run_id is None:
        return {"holdout": {}, "cv": {}}
    metrics = mlflow.MlflowClient().get_run(run_id).data.metrics
    out: dict[str, dict[str, float]] = {"holdout": {}, "cv": {}}
    for key, value in sorted(metrics.items()):
        prefix, _, name = key.partition("_")
        if prefix in out and math.isfinite(value):
            out[prefix][name] = value
    return out


def model_card(loaded: LoadedModel) -> dict:
    bundle = loaded.bundle
    training = dict(bundle.training)
    fingerprint = training.get("fingerprint") or {}
    estimator = bundle.estimator
    return {
        "model": {
            "name": loaded.name, "version": loaded.version, "run_id": loaded.run_id,
            "uri": loaded.uri, "learner": training.get("learner"),
            "bootstrap_members": len(getattr(estimator, "members_", [])) or None,
            "interval_level": 1 - bundle.alpha,
            "recommendation_rule": _rule(estimator),
            "effect": "average" if bundle.serves_average else "individual",
            "heterogeneity": bundle.heterogeneity_report,
            "selection": bundle.__dict__.get("selection"),
            "baseline": bundle.__dict__.get("baseline", "trial"),
            "prognosis": training.get("prognosis"),
        },
        "prognosis_model": _prognosis_card(bundle),
        "synthetic": bundle.synthetic,
        "notice": notice(bundle.synthetic),
        "intended_use": INTENDED_USE,
        "limits": LIMITS,
        "training_data": {
            "cohort": training.get("cohort"),
            "synthetic": bundle.synthetic,
            "endpoint": training.get("endpoint"),
            "panel_size_mb": training.get("panel_size_mb"),
            "fingerprint": fingerprint,
            "feature_ranges": {k: list(v) for k, v in bundle.ranges_.items()},
        },
        "metrics": run_metrics(loaded.run_id),
        "features": [{"name": name, **info} for name, info in bundle.feature_info.items()],
        "explanations": {"method": "TreeSHAP on a gradient-boosted surrogate of the "
                                   "predicted 12-month RMST gain",
                         "surrogate_r2": bundle.surrogate_r2_},
        "api": api_facts(loaded),
        "outputs": {
            "survival": "progression-free survival probability on a 0-24 month grid under ICI "
                        "alone (ici) and RT then ICI (rt_ici)",
            "pfs_gain_6mo": "absolute gain in P(progression-free at 6 months) from adding RT",
            "pfs_gain_12mo": "absolute gain in P(progression-free at 12 months) from adding RT",
            "rmst_gain_12mo": "gain in restricted mean PFS time up to 12 months, in months",
            "probability_of_benefit": "P(12-month RMST gain >= MCID, model.recommendation_rule) "
                                      "under the distribution behind the intervals: the share "
                                      "of bootstrap members with a gain of at least the MCID, "
                                      "or the normal approximation of the trial's average "
                                      "effect when that is served",
            "recommendation": "add_rt if P >= 0.9, no_added_benefit if P(gain < MCID) >= 0.9, "
                              "else uncertain (rule in models/recommend.py)",
        },
    }


def api_facts(loaded: LoadedModel) -> dict:
    """What a client (the web page at /) needs besides the OpenAPI document: the batch limit,
    and the columns of ``abscopal predict``'s CSV, taken from the function that writes it
    (``ModelBundle.predict_table``) so the page's download has the same columns."""
    from common.settings import get_settings

    bundle = loaded.bundle
    with warnings.catch_warnings():  # an empty record: its feature notes mean nothing here
        warnings.simplefilter("ignore")
        table = bundle.predict_table(bundle.raw_from_records([{"patient_id": "columns"}]))
    return {"max_patients_per_request": get_settings().max_patients_per_request,
            "prediction_csv_columns": [str(c) for c in table.columns]}


def _rule(estimator) -> dict:
    """The trained model's recommendation thresholds (MCID in months of 12-month RMST gain)."""
    from models.recommend import RecommendationRule

    rule = getattr(estimator, "rule", None) or RecommendationRule()
    return {"mcid_months": rule.mcid, "level": rule.level}


def _prognosis_card(bundle) -> dict | None:
    """The card of the real-world prognosis model this benefit model embeds (train-prognosis)."""
    prognosis = bundle.__dict__.get("prognosis")
    if prognosis is None:
        return None
    return {**bundle.training.get("prognosis", {}), **prognosis.card}
