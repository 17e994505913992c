"""The ground floor: settings and atomic file output, shared by every layer; imports nothing of
the project. The flow above it: ``cohorts -> features -> models -> training -> serving`` and, at
the top, ``abscopal`` (the command line and the Python API)."""

import os

__version__ = "0.1.0"

# The stack runs offline: no telemetry from MLflow or BentoML unless a user opts back in. Every
# layer imports this package (settings, atomic files), so the defaults are set before any of
# them imports mlflow or bentoml; child processes get OFFLINE_ENV explicitly.
OFFLINE_ENV = {"MLFLOW_DISABLE_TELEMETRY": "true", "BENTOML_DO_NOT_TRACK": "true",
               "DO_NOT_TRACK": "true"}
for _var, _value in OFFLINE_ENV.items():
    os.environ.setdefault(_var, _value)
