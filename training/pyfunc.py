"""The MLflow pyfunc flavour of a benefit model: one call returns the full prediction."""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version

import mlflow.pyfunc
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types.schema import Array, ColSpec, Schema

from cohorts.schema import CATEGORICAL_BASELINE, MUTATION_FLAGS, NUMERIC_BASELINE
from models.base import PREDICTION_COLUMNS, CurveBands
from training.bundle import ModelBundle

# Every third-party distribution the project's code imports when a logged model is loaded and
# scores (cloudpickle unpickles it), pinned at log time to the versions it was trained with.
# Explicit, not inferred at log time (slow and offline-hostile); tests/training/
# test_pyfunc_env.py checks it against what loading really imports and installs exactly these in
# a fresh environment. The project itself is not on any index: its code travels with the model.
REQUIREMENTS = [
    "mlflow", "cloudpickle", "numpy", "pandas", "scipy", "scikit-learn", "xgboost", "lifelines",
    "pandera", "pyarrow", "pydantic", "pydantic-core", "numba", "joblib", "orjson",
]
# The project's packages a model needs (serving is not: it only reads models), copied into the
# model's ``code/`` directory (``code_paths``), which MLflow puts on sys.path before unpickling.
MODEL_CODE_PACKAGES = ("common", "cohorts", "features", "models", "training")


class BenefitPyfunc(mlflow.pyfunc.PythonModel):
    """Input: one row per patient with clinical.csv baseline columns (all optional).

    Output: ``patient_id``, PREDICTION_COLUMNS, the survival curves under each arm on the
    0-24 month grid (``survival_ici``, ``survival_rt_ici``, lists aligned with ``months``) and
    their pointwise intervals at the gains' level (``survival_ici_lower`` ... ``_upper``; the ICI
    ones None on a real-world baseline): ``ModelBundle.predict(X, bands=True)``, one pass
    over the model, as the server.
    """

    def __init__(self, bundle: ModelBundle):
        self.bundle = bundle

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        # Missing cells are absent fields (imputed by the model); ids default to patient-<row>.
        records = [
            {k: v for k, v in row.items() if not pd.isna(v)}
            for row in pd.DataFrame(model_input).to_dict(orient="records")
        ]
        raw = self.bundle.raw_from_records(records)
        X = self.bundle.features_for(raw)
        prediction = self.bundle.predict(X, bands=True)
        table = prediction.to_frame().reset_index(drop=True)
        table.insert(0, "patient_id", X.index.to_numpy())
        table["months"] = [list(map(float, prediction.months))] * len(table)
        table["survival_ici"] = [list(map(float, row)) for row in prediction.survival_ici]
        table["survival_rt_ici"] = [list(map(float, row)) for row in prediction.survival_rt_ici]
        for name, values in prediction.bands._asdict().items():
            table[f"survival_{name}"] = ([None] * len(table) if values is None
                                         else [list(map(float, row)) for row in values])
        return table


def baseline_inputs() -> list[ColSpec]:
    """The clinical.csv baseline columns, all optional: the input of every abscopal pyfunc."""
    inputs = [ColSpec("string", "patient_id", required=False)]
    inputs += [ColSpec("double", name, required=False) for name in NUMERIC_BASELINE]
    inputs += [ColSpec("string", name, required=False) for name in CATEGORICAL_BASELINE]
    inputs += [ColSpec("double", name, required=False) for name in MUTATION_FLAGS]
    return inputs


def signature(extra_columns: list[str]) -> ModelSignature:
    inputs = baseline_inputs()
    known = {c.name for c in inputs}
    inputs += [ColSpec("double", c, required=False) for c in extra_columns if c not in known]
    outputs = [ColSpec("string", "patient_id")]
    outputs += [
        ColSpec("string" if c == "recommendation" else "double", c) for c in PREDICTION_COLUMNS
    ]
    outputs += [ColSpec(Array("double"), c) for c in ("months", "survival_ici", "survival_rt_ici")]
    outputs += [ColSpec(Array("double"), f"survival_{c}", required=c.startswith("rt"))
                for c in CurveBands._fields]  # the ICI bands: absent on a real-world baseline
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs))


def pip_requirements() -> list[str]:
    pinned = []
    for name in REQUIREMENTS:
        try:
            pinned.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            pinned.append(name)
    return pinned


def code_paths() -> list[str]:
    """The directories of MODEL_CODE_PACKAGES, wherever they are installed (checkout or wheel)."""
    return [importlib.import_module(name).__path__[0] for name in MODEL_CODE_PACKAGES]
