"""The Python API for notebooks and scripts: the functions the CLI and the server run, no others.

    from abscopal import simulate, build_features, train, load_model, predict, evaluate

    trial = simulate("trial", n_patients=300, seed=7)     # a SYNTHETIC virtual trial (files)
    table = build_features(trial)                         # the model inputs, one row per patient
    result = train(trial, n_bootstrap=20, register=False)  # an MLflow run (the CLI's settings)
    model = load_model(result.model_uri)
    scores = predict(model, [{"pdl1_tps": 0, "tmb": 4.2}])  # records, a DataFrame or a cohort
    metrics = evaluate(model, trial)                        # on a randomised cohort

Imported lazily from ``abscopal`` (its ``__getattr__``), so ``common.settings`` and
``common.atomic`` stay importable by every layer without pulling the pipeline in.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from cohorts.simulate import write_trial
from features.pipeline import feature_frame_for_cohort
from training.job import TrainConfig, TrainResult
from training.job import train as _train
from training.loading import LoadedModel
from training.loading import load_model as _load_model
from training.scoring import evaluate_cohort, score_cohort

__all__ = ["build_features", "evaluate", "load_model", "predict", "simulate", "train"]


def simulate(out: str | Path, n_patients: int = 1000, seed: int = 2025,
             scenario: str = "published", overwrite: bool = False) -> Path:
    """Write a SYNTHETIC virtual trial directory (``abscopal simulate``); returns its path."""
    return Path(write_trial(out, n_patients=n_patients, seed=seed, scenario=scenario,
                            overwrite=overwrite))


def build_features(cohort: str | Path) -> pd.DataFrame:
    """The feature table of a cohort directory or clinical CSV (``abscopal features``), indexed
    by patient_id."""
    return feature_frame_for_cohort(cohort)


def train(cohort: str | Path, **options) -> TrainResult:
    """Select, fit, gate, log and (unless ``register=False``) register a benefit model, as
    ``abscopal train`` does. ``options`` are training.job.TrainConfig's fields."""
    return _train(TrainConfig(cohort=Path(cohort), **options))


def load_model(uri: str | None = None) -> LoadedModel:
    """A registered, verified model (default: the champion of the configured store)."""
    return _load_model(uri)


def predict(model: LoadedModel | str | None, patients) -> pd.DataFrame:
    """One row per patient: ``patient_id``, the prediction columns and ``warnings``, as
    ``abscopal predict`` writes them. ``patients``: a cohort directory or clinical CSV path, a
    DataFrame of clinical columns (one row per patient), or a list of request records (the
    JSON the server takes: clinical fields, ``expression``, ``mutations``)."""
    loaded = model if isinstance(model, LoadedModel) else _load_model(model)
    if isinstance(patients, str | Path):
        return score_cohort(loaded, patients)
    if isinstance(patients, pd.DataFrame):
        frame = patients.reset_index() if patients.index.name == "patient_id" else patients
        patients = [{k: v for k, v in row.items() if not _missing(v)}
                    for row in frame.to_dict("records")]
    bundle = loaded.bundle
    return bundle.predict_table(bundle.raw_from_records(list(patients)))


def evaluate(model: LoadedModel | str | None, cohort: str | Path, **read) -> dict:
    """Benefit metrics on a randomised cohort with outcomes (``abscopal evaluate``)."""
    return evaluate_cohort(model, cohort, **read)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
