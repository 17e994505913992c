"""The ground floor: settings and atomic file output, shared by every layer; imports nothing of
the project. The flow above it: ``cohorts -> features -> models -> training -> serving`` and, at
the top, ``abscopal`` (the command line and the Python API)."""

import os

__version__ = "0.1.0"

# The stack runs offline: no telemetry from MLflow or BentoML unless a user opts back in. Every
# layer imports this package (settings, atomic files), so the defaults are set before any of
# them imports mlflow or bentoml.
for _var in ("MLFLOW_DISABLE_TELEMETRY", "BENTOML_DO_NOT_TRACK", "DO_NOT_TRACK"):
    os.environ.setdefault(_var, "true")
