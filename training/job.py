"""``abscopal train``: select, fit, evaluate, log, register and (maybe) promote a benefit model.

Order matters for "loses nothing": the data is checked before any MLflow run starts; the model is
registered only after every artifact is logged; the champion alias moves last, under a lock.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from rich.progress import Progress

from common.settings import get_settings
from features.manifest import PIPELINE_VERSION
from models import LEARNERS
from models.average_benefit import AverageBenefit
from models.base import ESTIMANDS
from models.heterogeneity import HETEROGENEITY_ALPHA, HeterogeneityTest, blp_test
from models.recommend import RecommendationRule
from training.criterion import (
    SELECTION_ESTIMAND,
    adjusted_pseudo_outcomes,
    benefit_loss,
    promotion_test,
)
from training.data import TrainingData, load_training_data
from training.loading import PROGNOSIS_URI
from training.prognosis_bundle import PROGNOSIS_FEATURE
from training.split import check_folds, cv_folds, holdout_split

CANDIDATES = tuple(LEARNERS)  # every point learner of models.LEARNERS
CONSTANT = "average"  # the constant (average-effect) candidate of selection
# What ``auto`` may serve as individual effects: the DR-learner, the only learner whose effects
# are causally calibrated (models/dr_learner.py) and whose 90% intervals were measured to cover
# (docs/benchmarks.md, "The served product after the selection fix"); the others are
# cross-validated for comparison.
SERVED_LEARNER = "dr"
SELECTION_ALPHA = 0.05  # one-sided level at which the constant model replaces it (pre-specified)
BASELINES = ("trial", "real-world")


@dataclass
class TrainConfig:
    cohort: Path
    arm_col: str | None = None
    time_col: str | None = None
    event_col: str | None = None
    id_col: str | None = None
    time_unit: str = "months"
    endpoint: str = "pfs"
    features: list[str] | None = None
    feature_table: Path | None = None
    learner: str = "auto"
    experiment: str | None = None
    model_name: str | None = None
    register: bool = True
    folds: int = 5
    n_bootstrap: int = 50
    holdout_fraction: float = 0.25
    seed: int = 2025
    heterogeneity_alpha: float = HETEROGENEITY_ALPHA  # pre-specified level of the gate
    # The real-world prognosis model (ici-prognosis@champion, or prognosis_uri): its log risk as
    # an input (the PATH risk learner's external score), and/or the ICI-alone baseline of the
    # served curves ("real-world", which needs the input) instead of the trial's ICI arm.
    prognosis_feature: bool = False
    baseline: str = "trial"
    prognosis_uri: str | None = None
    # Features the outcome-leakage guard (models.guard.check_outcome_leakage) may not refuse:
    # the user vouches that they are baseline despite predicting the outcome very well.
    allow_features: list[str] = field(default_factory=list)


@dataclass
class TrainResult:
    run_id: str
    model_uri: str
    learner: str
    version: str | None = None
    promoted: bool = False
    reason: str = ""
    metrics: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def train(config: TrainConfig, *, progress: Progress | None = None,
          scheduler: str | None = None, client=None) -> TrainResult:
    """Train, log and maybe register. ``scheduler`` (a dask.distributed address) or ``client``:
    cross-validation fits and bootstrap members run as tasks on that cluster, with the same
    result as locally (training/distributed.py)."""
    from training.distributed import on_cluster

    with on_cluster(scheduler, client):
        return _train(config, progress)


def _train(config: TrainConfig, progress: Progress | None) -> TrainResult:
    from models import make_learner
    from models.metrics import average_effect
    from training.registry import register_and_promote, training_key
    from training.tracking import configure, experiment_id

    settings = get_settings()
    if config.learner not in ("auto", *CANDIDATES):
        raise ValueError(f"--learner must be auto or one of {CANDIDATES}, got {config.learner!r}")
    data = load_training_data(
        config.cohort, arm_col=config.arm_col, time_col=config.time_col,
        event_col=config.event_col, id_col=config.id_col, time_unit=config.time_unit,
        endpoint=config.endpoint, features=config.features, feature_table=config.feature_table,
        allow_features=config.allow_features,
    )
    prognosis, prognosis_version = use_prognosis(data, config, settings)
    train_idx, hold_idx = holdout_split(data, config.holdout_fraction, config.seed)
    train_part, holdout = data.subset(train_idx), data.subset(hold_idx)
    check_folds(train_part, config.folds)

    client = configure(settings)
    exp_id = experiment_id(client, config.experiment or settings.experiment, settings)
    model_name = config.model_name or settings.model_name
    started = time.perf_counter()
    with mlflow.start_run(experiment_id=exp_id) as run:
        _log_inputs(config, data, model_name)
        ate = average_effect(data.Y["time"], data.Y["event"], data.T)
        mlflow.log_metrics({f"average_{k}": v for k, v in ate.items()})
        mlflow.log_dict(ate, "average_effect.json")
        candidates = (*CANDIDATES, CONSTANT) if config.learner == "auto" else (config.learner,)
        mlflow.set_tag("abscopal.baseline", config.baseline)
        cv = cross_validate(train_part, candidates, config.folds, config.seed, progress)
        for name, result in cv.items():
            mlflow.log_metrics({f"cv_{name}_{k}": v for k, v in result["metrics"].items()})
        # auto: the DR-learner, unless the constant model's loss is significantly lower (paired
        # one-sided test): then the average effect is served (below) and the DR-learner is still
        # fitted for the curves, the gate and the card. Whether its individual effects are
        # served is the heterogeneity gate's pre-specified test; a strict minimum of two losses
        # whose noise dwarfs their difference decided by chance. The other learners' losses are
        # logged for comparison only: a lower loss by noise once put the T-learner's
        # uncalibrated intervals into service.
        chosen = SERVED_LEARNER if config.learner == "auto" else config.learner
        selected = CONSTANT if config.learner == "auto" and (
            cv[chosen]["metrics"]["constant_better_p_value"] < SELECTION_ALPHA) else chosen
        mlflow.set_tags({"abscopal.learner": chosen, "abscopal.selected": selected})

        step = _step(progress, f"fitting {chosen} and {config.n_bootstrap} bootstrap members")
        estimator = make_learner(
            chosen, n_bootstrap=config.n_bootstrap, random_state=config.seed,
            rule=RecommendationRule(mcid=get_settings().mcid_months),
            feature_timepoints={c: i["timepoint"] for c, i in data.feature_info.items()},
            **learner_params(chosen, data.X.columns),
        ).fit(train_part.Y, train_part.T, train_part.X)
        step = _step(progress, "evaluating on the hold-out and logging the model", step)
        bundle = _make_bundle(estimator, data, chosen)
        bundle.selection = {"chosen": selected, "best_individual": chosen,
                            "criterion": "cross-validated benefit loss against covariate-"
                                         "adjusted doubly robust pseudo-outcomes",
                            "constant_better_p_value": cv[chosen]["metrics"].get(
                                "constant_better_p_value"),
                            "alpha": SELECTION_ALPHA}
        bundle.training["record_hashes"] = train_part.record_hashes()
        # The average a gated model serves is the whole trial's (at n = 72, 54 patients' would
        # be a worse answer: docs/benchmarks.md). The hold-out judges the same procedure on the
        # training part (``judged``), and a version serving the whole trial's average counts
        # every patient as seen, so promotion never scores a model on its own patients.
        if prognosis is not None:
            bundle.prognosis, bundle.baseline = prognosis, config.baseline
            bundle.training["prognosis"] = {
                "uri": config.prognosis_uri or PROGNOSIS_URI, "version": prognosis_version,
                "input": PROGNOSIS_FEATURE, "baseline": config.baseline}
        bundle.average = _average(bundle.alpha, estimator.rule, data, bundle.real_world,
                                  config.seed)
        judged = copy.copy(bundle)
        judged.average = _average(bundle.alpha, estimator.rule, train_part, bundle.real_world,
                                  config.seed)
        bundle.fit_explainer(train_part.X)
        gate = heterogeneity_gate(estimator, holdout, data.T.mean(), config.heterogeneity_alpha)
        bundle.heterogeneity = judged.heterogeneity = gate.to_dict()
        if bundle.serves_average:
            bundle.training["record_hashes"] = data.record_hashes()
        mlflow.log_dict(gate.to_dict(), "heterogeneity.json")
        mlflow.log_metrics({"heterogeneity_p_value": gate.p_value,
                            "heterogeneity_passed": float(gate.passed)})
        mlflow.set_tag("abscopal.effect", "individual" if gate.passed else "average")
        holdout_psi = holdout_pseudo_outcomes(train_part, holdout, config.seed)
        holdout_metrics = evaluate_holdout(judged, holdout, holdout_psi)
        mlflow.log_metrics(numeric_leaves(holdout_metrics, "holdout", (
            "survival_calibration", "survival_accuracy")))
        _log_plots(cv[chosen]["oof"], train_part)
        info = _log_model(bundle, data)
        mlflow.log_metric("train_seconds", time.perf_counter() - started)
        _step(progress, None, step)

    served = {"effect": "average" if bundle.serves_average else "individual"}
    if bundle.serves_average:  # what every patient gets: the whole trial's average
        k, columns = SELECTION_ESTIMAND, bundle.average.columns_
        served.update({"n": data.n, "level": 1 - bundle.alpha, "estimand": k,
                       "estimate": columns[k], "lower": columns[f"{k}_lower"],
                       "upper": columns[f"{k}_upper"]})
    result = TrainResult(run_id=run.info.run_id, model_uri=info.model_uri, learner=chosen,
                         metrics={"selected": selected, "served": served,
                                  "average_effect": ate, "holdout": holdout_metrics,
                                  "heterogeneity": gate.to_dict(),
                                  "cv": {n: r["metrics"] for n, r in cv.items()}})
    if config.register:
        key = training_key(data.fingerprint(), {
            **{k: v for k, v in asdict(config).items() if k not in ("cohort", "feature_table",
                                                                    "experiment", "register")},
            "mcid_months": settings.mcid_months, "model_name": model_name,
            "prognosis_version": prognosis_version,
            # a version of another feature pipeline cannot be loaded by this code: not a duplicate
            "pipeline_version": PIPELINE_VERSION})
        version, promoted, reason = register_and_promote(
            client, settings, info.model_uri, run.info.run_id, model_name,
            new_gain=judged.served_gain(holdout.X, SELECTION_ESTIMAND), holdout=holdout,
            psi=holdout_psi, key=key,
        )
        result.version, result.promoted, result.reason = version, promoted, reason
    else:
        result.reason = "not registered (--no-register)"
    return result


def _average(alpha: float, rule, part: TrainingData, real_world: bool,
             seed: int) -> AverageBenefit:
    """The average effect a gated model serves, from the patients of ``part``."""
    average = AverageBenefit(alpha=alpha, rule=rule).fit(part.Y, part.T)
    if real_world:
        average.fit_ratio_draws(part.Y, part.T, random_state=seed)
    return average


def _step(progress: Progress | None, description: str | None, previous=None):
    """Close the previous step's spinner and open one for the next long step (if any)."""
    if progress is None:
        return None
    if previous is not None:
        progress.update(previous, total=1, completed=1)
    return progress.add_task(description, total=None) if description else None


def cross_validate(
    data: TrainingData, candidates, folds: int, seed: int, progress: Progress | None = None
) -> dict[str, dict]:
    """Out-of-fold predicted gains of each learner and their benefit criterion."""
    # the spinner starts before the pseudo-outcomes, themselves cross-fitted outcome models
    task = progress.add_task("cross-validating learners", total=len(candidates) * folds) \
        if progress else None
    psi = adjusted_pseudo_outcomes(data.Y, data.T, data.X, n_folds=folds,
                                   seed=seed)[SELECTION_ESTIMAND].to_numpy()
    splits = cv_folds(data, folds, seed)
    # one task per (learner, fold): local and in order as before, or Dask tasks inside
    # training.distributed.on_cluster (n_jobs=None: the active backend's own width)
    fits = [(name, test_idx, delayed(_fold_gains)(name, data.Y.iloc[train_idx],
                                                  data.T.iloc[train_idx], data.X.iloc[train_idx],
                                                  data.X.iloc[test_idx], seed))
            for name in candidates for train_idx, test_idx in splits]
    oofs = {name: {k: np.full(data.n, np.nan) for k in ESTIMANDS} for name in candidates}
    results = Parallel(n_jobs=None, return_as="generator")(job for _, _, job in fits)
    for (name, test_idx, _), gains in zip(fits, results, strict=True):
        for k, gain in gains.items():
            oofs[name][k][test_idx] = gain
        if progress:
            progress.advance(task)
    out = {}
    for name in candidates:
        oof = oofs[name]
        constant = np.full(data.n, psi.mean())
        gain = oof[SELECTION_ESTIMAND]
        metrics = {
            "benefit_loss": benefit_loss(psi, gain),
            "benefit_loss_vs_constant": benefit_loss(psi, gain) - benefit_loss(psi, constant),
            "spearman_with_pseudo_outcome": float(
                pd.Series(gain).corr(pd.Series(psi), method="spearman")),
        }
        if name != CONSTANT and CONSTANT in oofs:
            # is the constant model's out-of-fold loss lower than this learner's? (paired test)
            metrics["constant_better_p_value"] = promotion_test(
                psi, oofs[CONSTANT][SELECTION_ESTIMAND], gain)[3]
        out[name] = {"oof": oof, "metrics": metrics}
    return out


def _fold_gains(name: str, Y: pd.DataFrame, T: pd.Series, X: pd.DataFrame,
                X_test: pd.DataFrame, seed: int) -> dict[str, np.ndarray]:
    """One cross-validation fit: ``name`` on a fold's training part, its gains on the rest."""
    from models import make_learner

    if name == CONSTANT:
        average = AverageBenefit().fit(Y, T)
        return {k: np.full(len(X_test), average.columns_[k]) for k in ESTIMANDS}
    learner = make_learner(name, n_bootstrap=0, random_state=seed,
                           **learner_params(name, X.columns))
    learner.fit(Y, T, X)
    return learner.effect_all(X_test)


def use_prognosis(data: TrainingData, config: TrainConfig, settings):
    """Load the prognosis model the settings ask for and add its log risk to the inputs
    (before any MLflow run: no prognosis model, no run). Returns (bundle, version) or (None,
    None)."""
    if config.baseline not in BASELINES:
        raise ValueError(f"--baseline must be one of {BASELINES}; got {config.baseline!r}")
    if not config.prognosis_feature and config.baseline == "trial":
        return None, None
    from training.loading import load_prognosis
    from training.prognosis_bundle import prognosis_feature, prognosis_feature_info

    prognosis, version = load_prognosis(config.prognosis_uri, settings)
    if data.endpoint not in prognosis.models:
        raise ValueError(f"the prognosis model has no {data.endpoint} model (it has "
                         f"{', '.join(prognosis.models)})")
    risk = prognosis_feature(data.available, prognosis, data.endpoint)
    data.X[PROGNOSIS_FEATURE] = risk
    data.available[PROGNOSIS_FEATURE] = risk
    data.feature_info[PROGNOSIS_FEATURE] = prognosis_feature_info(version)
    return prognosis, version


def learner_params(name: str, columns) -> dict:
    """The PATH risk learner takes the prognosis model's score as its external risk."""
    return {"external_risk": PROGNOSIS_FEATURE} if name == "risk" and \
        PROGNOSIS_FEATURE in columns else {}


def heterogeneity_gate(estimator, holdout: TrainingData, propensity: float,
                       alpha: float = HETEROGENEITY_ALPHA) -> HeterogeneityTest:
    """The pre-specified BLP test (models.heterogeneity) of the fitted model on the hold-out.

    The pseudo-outcome is doubly robust with the model's own arm curves as outcome models (fitted
    on the other patients, so valid on these) and the trial's randomisation probability.
    """
    from models.base import BENEFIT_GRID_MONTHS
    from models.pseudo_outcomes import aipw_pseudo_outcomes, augmented_ipcw_outcomes

    s0, s1 = estimator.predict_survival(holdout.X, BENEFIT_GRID_MONTHS)
    time, event = holdout.Y["time"].to_numpy(float), holdout.Y["event"].to_numpy(int)
    arm = holdout.T.to_numpy(int)
    own = np.where(arm[:, None] == 1, s1, s0)
    psi = aipw_pseudo_outcomes(augmented_ipcw_outcomes(time, event, arm, own), arm, s0, s1,
                               propensity)
    gain = estimator.effect(holdout.X, SELECTION_ESTIMAND)  # what would be served
    return blp_test(psi[SELECTION_ESTIMAND].to_numpy(), gain, SELECTION_ESTIMAND, alpha)


def holdout_pseudo_outcomes(train_part: TrainingData, holdout: TrainingData,
                            seed: int) -> np.ndarray:
    """The hold-out's covariate-adjusted pseudo-outcome of the selection estimand, with outcome
    models fitted on the training part (other patients): what evaluation and promotion judge."""
    from models.t_learner import TLearner

    nuisance = TLearner(random_state=seed).fit(train_part.Y, train_part.T, train_part.X)
    return adjusted_pseudo_outcomes(holdout.Y, holdout.T, holdout.X, nuisance=nuisance,
                                    propensity=float(train_part.T.mean()))[
        SELECTION_ESTIMAND].to_numpy()


def evaluate_holdout(bundle, holdout: TrainingData, psi: np.ndarray) -> dict:
    from models import evaluate_benefit

    gain = bundle.served_gain(holdout.X, SELECTION_ESTIMAND)
    metrics = evaluate_benefit(bundle.estimator, holdout.Y, holdout.T, holdout.X)
    metrics["benefit_loss"] = benefit_loss(psi, gain)
    metrics["n"] = holdout.n
    return metrics


def numeric_leaves(metrics: dict, prefix: str, nested: tuple[str, ...] = ()) -> dict:
    """MLflow metrics from an evaluation dict: finite numbers at the top level, and those of the
    ``nested`` blocks flattened to ``<prefix>_<block>_<key>_<key>``."""
    out = {}
    for key, value in metrics.items():
        if isinstance(value, dict) and key in nested:
            out.update(numeric_leaves(value, f"{prefix}_{key}", tuple(value)))
        elif isinstance(value, (int, float)) and not isinstance(value, bool) \
                and np.isfinite(value):
            out[f"{prefix}_{key}"] = float(value)
    return out


def _make_bundle(estimator, data: TrainingData, learner: str):
    from training.bundle import ModelBundle

    training = {
        "cohort": data.cohort_name, "synthetic": data.synthetic, "endpoint": data.endpoint,
        "panel_size_mb": data.panel_size_mb, "fingerprint": data.fingerprint(), "learner": learner,
    }
    return ModelBundle(estimator, data.feature_info, training)


def _log_inputs(config: TrainConfig, data: TrainingData, model_name: str) -> None:
    params = {k: v for k, v in asdict(config).items() if k != "features"}
    params["cohort"] = str(config.cohort)
    params["features"] = ",".join(data.X.columns)[:5000]
    params["model_name"] = model_name
    mlflow.log_params(params)
    fingerprint = data.fingerprint()
    mlflow.log_dict(fingerprint, "data_fingerprint.json")
    mlflow.log_dict({"features": data.feature_info, "dropped": data.dropped_features},
                    "features.json")
    mlflow.set_tags({
        "abscopal.synthetic": str(data.synthetic).lower(),
        "abscopal.cohort": data.cohort_name,
        "abscopal.data_sha256": fingerprint["sha256"],
        **{f"abscopal.{k}": str(v) for k, v in fingerprint.items() if k != "sha256"},
    })


def _log_plots(oof_gains: dict[str, np.ndarray], train_part: TrainingData) -> None:
    import matplotlib.pyplot as plt

    from training import plots

    for name, fig in plots.training_figures(oof_gains, train_part).items():
        mlflow.log_figure(fig, f"plots/{name}.png")
        plt.close(fig)


def _log_model(bundle, data: TrainingData):
    from training.pyfunc import BenefitPyfunc, code_paths, pip_requirements, signature

    extra = [c for c, i in data.feature_info.items() if i["group"] == "clinical (as given)"]
    example = pd.DataFrame([{"patient_id": "example", **data.X[extra].median().to_dict()}])
    model = BenefitPyfunc(bundle)
    model.predict(None, example)  # a model that cannot score its own example is never logged
    pyfunc_logger = logging.getLogger("mlflow.pyfunc")
    level = pyfunc_logger.level
    # MLflow warns that a Python object is pickled: the bundle is our own code, by design.
    pyfunc_logger.setLevel(logging.ERROR)
    try:
        return mlflow.pyfunc.log_model(
            name="model",
            python_model=model,
            signature=signature(extra),
            input_example=example,
            pip_requirements=pip_requirements(),
            code_paths=code_paths(),  # self-contained: the project is not on any index
            metadata={"synthetic": data.synthetic, "cohort": data.cohort_name},
        )
    finally:
        pyfunc_logger.setLevel(level)
