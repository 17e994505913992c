"""``abscopal train-prognosis``: validate, fit, log, register and maybe promote the ICI prognosis
model (``ici-prognosis``) on real ICI-treated patients.

1. Leave-one-cohort-out validation of each endpoint (training.prognosis_validation), every method
   side by side; ``learner="auto"`` picks, per endpoint, the learner (boosted or linear Cox) with
   the higher pooled held-out Harrell's C (the pooled figure of the chosen one is then slightly
   optimistic: it won a choice between two).
2. A hold-out of ``holdout_fraction`` of the patients, stratified by cohort and event, is kept
   out of the final fit: promotion compares the new model with the champion on those of them
   that neither model was trained on (paired one-sided test of the IPCW Brier loss at 6 and 12
   months, the same rule and level as the benefit model).
3. The final model per endpoint is fitted on the remaining patients, logged with its card and
   registered only after every artifact is logged.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from common.settings import get_settings
from models.prognosis import LinearCoxPrognosis, PrognosisModel
from training.prognosis_data import ENDPOINTS, PrognosisData, load_prognosis_data
from training.prognosis_validation import CALIBRATION_MONTHS, leave_one_cohort_out

PROGNOSIS_MODEL_NAME = "ici-prognosis"
LEARNERS = {"boost": PrognosisModel, "cox": LinearCoxPrognosis}


@dataclass
class PrognosisConfig:
    cohort: Path
    time_col: str | None = None
    event_col: str | None = None
    id_col: str | None = None
    group_col: str | None = None
    time_unit: str = "months"
    endpoint: str = "pfs"  # the endpoint promotion judges; every endpoint present is fitted
    learner: str = "auto"
    experiment: str | None = None
    model_name: str = PROGNOSIS_MODEL_NAME
    register: bool = True
    n_bootstrap: int = 200  # bootstrap resamples of the validation CIs
    holdout_fraction: float = 0.2
    seed: int = 2025


@dataclass
class PrognosisResult:
    run_id: str
    model_uri: str
    learners: dict[str, str]
    version: str | None = None
    promoted: bool = False
    reason: str = ""
    validation: dict = field(default_factory=dict)


def train_prognosis(config: PrognosisConfig, *, progress=None) -> PrognosisResult:
    from training.registry import training_key
    from training.tracking import configure, experiment_id

    if config.learner not in ("auto", *LEARNERS):
        raise ValueError(f"--learner must be auto or one of {tuple(LEARNERS)}")
    settings = get_settings()
    data = load_prognosis_data(
        config.cohort, time_col=config.time_col, event_col=config.event_col,
        id_col=config.id_col, group_col=config.group_col, time_unit=config.time_unit,
        endpoint=config.endpoint)
    endpoints = [config.endpoint, *[e for e in ENDPOINTS
                                    if e != config.endpoint and _usable(data, e)]]
    train_idx, hold_idx = _holdout(data, config.endpoint, config.holdout_fraction, config.seed)

    client = configure(settings)
    exp_id = experiment_id(client, config.experiment or settings.experiment, settings)
    task = progress.add_task("validating across cohorts", total=len(endpoints)) \
        if progress else None
    started = time.perf_counter()
    with mlflow.start_run(experiment_id=exp_id) as run:
        mlflow.set_tags({"abscopal.kind": "prognosis", "abscopal.cohort": data.name,
                         "abscopal.synthetic": str(data.synthetic).lower()})
        mlflow.log_params({k: str(v) for k, v in asdict(config).items()})
        tables, learners, models = {}, {}, {}
        for ep in endpoints:
            _, table = leave_one_cohort_out(data, ep, n_boot=config.n_bootstrap, seed=config.seed)
            tables[ep] = table
            learners[ep] = _choose(table) if config.learner == "auto" else config.learner
            mlflow.log_text(table.to_csv(index=False), f"validation/{ep}_leave_one_out.csv")
            mlflow.log_metrics(_headline(table, ep))
            y = data.Y(ep)
            keep = y.index.intersection(data.X.index[train_idx])
            models[ep] = LEARNERS[learners[ep]](**_seed(learners[ep], config.seed)).fit(
                y.loc[keep], data.X.loc[keep])
            if progress:
                progress.advance(task)
        card = _card(data, endpoints, learners, tables, models, config)
        mlflow.log_dict(card, "model_card.json")
        bundle = _bundle(models, card, data, endpoints, train_idx)
        info = _log_model(bundle, data)
        mlflow.log_metric("train_seconds", time.perf_counter() - started)

    result = PrognosisResult(run_id=run.info.run_id, model_uri=info.model_uri,
                             learners=learners, validation=card["validation"])
    if not config.register:
        result.reason = "not registered (--no-register)"
        return result
    key = training_key({"sha256": data.fingerprint()}, {
        k: v for k, v in asdict(config).items() if k not in ("cohort", "experiment", "register")})
    hold = data.X.index[hold_idx]
    result.version, result.promoted, result.reason = register_prognosis(
        client, settings, info.model_uri, config.model_name, bundle=bundle, data=data,
        holdout=hold, endpoint=config.endpoint, key=key)
    return result


def _usable(data: PrognosisData, endpoint: str) -> bool:
    return endpoint in data.outcomes and data.Y(endpoint)["event"].sum() >= 20


def _seed(learner: str, seed: int) -> dict:
    return {"random_state": seed} if learner == "boost" else {}


def _holdout(data: PrognosisData, endpoint: str, fraction: float, seed: int):
    y = data.Y(endpoint)
    rows = data.X.index.get_indexer(y.index)
    strata = data.groups.loc[y.index].astype(str) + "|" + y["event"].astype(int).astype(str)
    if strata.value_counts().min() < 2:
        strata = y["event"].astype(int)
    train, hold = train_test_split(rows, test_size=fraction, stratify=strata, random_state=seed)
    others = np.setdiff1d(np.arange(data.n), rows)  # no outcome for this endpoint: training
    return np.sort(np.concatenate([train, others])), np.sort(hold)


def _choose(table: pd.DataFrame) -> str:
    pooled = table[table["held_out"] == "pooled"].set_index("method")["harrell_c"]
    return "boost" if pooled.get("prognosis", -1) >= pooled.get("cox", -1) else "cox"


def _headline(table: pd.DataFrame, endpoint: str) -> dict:
    out = {}
    for _, row in table.iterrows():
        name = str(row["held_out"]).replace(":", "_").replace(" ", "_")
        for stat in ("harrell_c", "uno_c", "auc_6mo", "slope"):
            value = row.get(stat)
            if value is not None and np.isfinite(value):
                out[f"{endpoint}_{name}_{row['method']}_{stat}"] = float(value)
    return out


def _card(data, endpoints, learners, tables, models, config) -> dict:
    validation = {}
    for ep in endpoints:
        table = tables[ep]
        chosen = "prognosis" if learners[ep] == "boost" else "cox"
        rows = table[table["method"].isin([chosen, "loris", "tmb"])]
        validation[ep] = {
            "learner": learners[ep],
            "design": "leave one cohort out; probable duplicates of held-out patients removed "
                      "from training",
            "per_cohort": rows.replace({np.nan: None}).to_dict(orient="records"),
        }
    return {
        "model": "ICI-alone prognosis (PFS/OS) for the real-world baseline of abscopal",
        "synthetic": data.synthetic,
        "training": {ep: data.summary(ep) for ep in endpoints},
        "inputs": list(models[endpoints[0]].feature_names_in_)
        if hasattr(models[endpoints[0]], "feature_names_in_") else None,
        "missing_values": "no imputation for the boosted learner: xgboost routes missing "
                          "values down learned default branches; the linear Cox comparator "
                          "imputes training medians with a missing-indicator per input",
        "learners": learners,
        "holdout_fraction": config.holdout_fraction,
        "calibration_months": list(CALIBRATION_MONTHS),
        "validation": validation,
        "sources": ["LORIS compilation (Chang et al., Nature Cancer 2024)"]
        if data.groups.nunique() > 1 else [],
    }


def _bundle(models, card, data, endpoints, train_idx):
    from training.prognosis_bundle import PrognosisBundle

    train_ids = data.X.index[train_idx]
    training = {
        "endpoints": endpoints, "cohort": data.name,
        "record_hashes": {ep: data.record_hashes(ep, data.Y(ep).index.intersection(train_ids))
                          for ep in endpoints},
    }
    return PrognosisBundle(models, card, training)


def _log_model(bundle, data: PrognosisData):
    from training.prognosis_pyfunc import PrognosisPyfunc, signature
    from training.pyfunc import code_paths, pip_requirements

    example = pd.DataFrame([{"patient_id": "example", "age": 65.0, "tmb": 7.0,
                             "albumin": 3.8, "nlr": 4.6}])
    model = PrognosisPyfunc(bundle)
    model.predict(None, example)  # a model that cannot score its own example is never logged
    pyfunc_logger = logging.getLogger("mlflow.pyfunc")
    level = pyfunc_logger.level
    pyfunc_logger.setLevel(logging.ERROR)
    try:
        return mlflow.pyfunc.log_model(
            name="model", python_model=model, signature=signature(bundle.endpoints),
            input_example=example, pip_requirements=pip_requirements(),
            code_paths=code_paths(),  # self-contained, as the benefit model
            metadata={"synthetic": data.synthetic, "cohort": data.name, "kind": "prognosis"})
    finally:
        pyfunc_logger.setLevel(level)


def register_prognosis(client, settings, model_uri: str, name: str, *, bundle, data,
                       holdout: pd.Index, endpoint: str, key: str) -> tuple[str, bool, str]:
    """Register, then move the champion alias when the new model's held-out IPCW Brier loss is
    lower than the champion's (paired one-sided test) on patients neither was trained on."""
    from mlflow.exceptions import MlflowException

    from training.registry import register_version

    def decide(alias: str) -> tuple[bool, str]:
        try:
            champion = client.get_model_version_by_alias(name, alias)
        except MlflowException:
            return True, f"no {alias} yet: this version becomes {alias}"
        return _versus_champion(name, alias, champion.version, bundle, data, holdout, endpoint)

    return register_version(client, settings, model_uri, name, key=key,
                            tags={"synthetic": str(data.synthetic).lower()}, decide=decide)


def _versus_champion(name, alias, champion_version, bundle, data, holdout, endpoint):
    from training.artifacts import load_verified
    from training.criterion import ipcw_brier_losses, paired_loss_test

    old = load_verified(f"models:/{name}@{alias}").unwrap_python_model().bundle
    if endpoint not in getattr(old, "models", {}):
        return False, (f"kept {alias} v{champion_version}: it has no {endpoint} model; use "
                       "another --model-name")
    y = data.Y(endpoint).loc[data.Y(endpoint).index.intersection(holdout)]
    seen = set(old.training.get("record_hashes", {}).get(endpoint, ()))
    hashes = [data.record_hashes(endpoint, [pid])[0] for pid in y.index]
    usable = np.array([h not in seen for h in hashes], bool)
    y, X = y[usable], data.X.loc[y.index[usable]]
    months = np.array(CALIBRATION_MONTHS)
    losses = [ipcw_brier_losses(y["time"], y["event"], b.survival(X, endpoint, months), months)
              for b in (bundle, old)]
    promote, diff, se, p = paired_loss_test(*losses)
    versus = (f"held-out IPCW Brier loss difference {diff:.4g} (s.e. {se:.3g}, one-sided "
              f"p = {p:.3g}) on {len(y)} patients neither model was trained on")
    if promote:
        return True, f"promoted over {alias} v{champion_version}: {versus}"
    return False, f"kept {alias} v{champion_version}: not shown better, {versus}"
