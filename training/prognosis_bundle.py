"""A fitted prognosis model per endpoint plus its card: what MLflow stores and the server loads.

Scoring goes through the same feature function as training (``features.build_features``), so a
patient's raw inputs give the same vector in both.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.base import SURVIVAL_GRID_MONTHS
from models.prognosis import PROGNOSIS_FEATURES


class PrognosisBundle:
    """``models``: endpoint -> fitted prognosis model; ``card``: training data, validation,
    missingness; ``training``: record hashes and settings (for promotion and duplicates)."""

    def __init__(self, models: dict, card: dict, training: dict):
        self.models = models
        self.card = card
        self.training = training

    @property
    def endpoints(self) -> list[str]:
        return list(self.models)

    @property
    def synthetic(self) -> bool:
        return bool(self.card.get("synthetic", False))

    def features_for(self, raw) -> pd.DataFrame:
        import features

        built = features.build_features(raw).frame
        index = pd.Index(raw.clinical["patient_id"], name="patient_id")
        return built.reindex(index=index, columns=PROGNOSIS_FEATURES).astype(float)

    def survival(self, X: pd.DataFrame, endpoint: str = "pfs",
                 times: np.ndarray = SURVIVAL_GRID_MONTHS) -> np.ndarray:
        if endpoint not in self.models:
            raise ValueError(f"this prognosis model has no {endpoint} model; it has "
                             f"{', '.join(self.models)}")
        return self.models[endpoint].predict_survival(X, times)

    def log_risk(self, X: pd.DataFrame, endpoint: str = "pfs") -> np.ndarray:
        return self.models[endpoint].predict_log_risk(X)


# The prognosis model's PFS log risk as a benefit-model input (issue: "as an input the other
# learners may use"; the PATH risk learner takes it as its external risk score).
PROGNOSIS_FEATURE = "ici_prognosis_risk"


def prognosis_feature_info(version: str | None) -> dict:
    return {"unit": "log relative risk (higher = shorter PFS on ICI alone)", "group": "prognosis",
            "timepoint": "baseline",
            "source": f"ici-prognosis v{version} (real ICI-treated patients, docs/models.md)"}


def prognosis_feature(frame: pd.DataFrame, prognosis: PrognosisBundle,
                      endpoint: str = "pfs") -> np.ndarray:
    """The feature for pipeline features ``frame``: the one function training and serving call."""
    return prognosis.log_risk(frame.reindex(columns=PROGNOSIS_FEATURES).astype(float), endpoint)
