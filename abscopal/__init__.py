"""abscopal: predicted benefit of adding stereotactic radiation to immunotherapy in NSCLC.

Research use only; not a medical device. This package holds the shared base (settings, atomic
file output), the command line and the Python API (``abscopal.api``, imported on first use:
``from abscopal import simulate, build_features, train, load_model, predict, evaluate``); the
pipeline itself flows ``cohorts -> features -> models -> training -> serving``.
"""

import os

__version__ = "0.1.0"

# The stack runs offline: no telemetry from MLflow or BentoML unless a user opts back in.
for _var in ("MLFLOW_DISABLE_TELEMETRY", "BENTOML_DO_NOT_TRACK", "DO_NOT_TRACK"):
    os.environ.setdefault(_var, "true")

_API = ("simulate", "build_features", "train", "load_model", "predict", "evaluate")
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    # lazy: importing abscopal.settings (every layer does) must not import the pipeline
    if name in _API:
        from abscopal import api

        return getattr(api, name)
    raise AttributeError(f"module 'abscopal' has no attribute {name!r}")
