"""abscopal: predicted benefit of adding stereotactic radiation to immunotherapy in NSCLC.

Research use only; not a medical device. This package holds the shared base (settings, atomic
file output) and the command line; the pipeline itself flows
``cohorts -> features -> models -> training -> serving``.
"""

import os

__version__ = "0.1.0"

# The stack runs offline: no telemetry from MLflow or BentoML unless a user opts back in.
for _var in ("MLFLOW_DISABLE_TELEMETRY", "BENTOML_DO_NOT_TRACK", "DO_NOT_TRACK"):
    os.environ.setdefault(_var, "true")
