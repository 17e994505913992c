"""T-learner: one xgboost Cox model per arm, each with its own baseline hazard.

S_arm(t | x) = exp(-H0_arm(t) exp(f_arm(x))). Each arm's model sees only its own patients, so the
arms may differ in every way (no shared structure); with small arms this is noisy, which is why the
S- and DR-learners exist beside it. xgboost handles missing values natively (no imputation).
``baseline_hazard``: "km_matched" (default: each arm's mean predicted curve over its own patients
equals the arm's Kaplan-Meier curve, cure plateau included) or "breslow" (models.survival).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.base import PointBenefitEstimator, validate_fit_inputs
from models.boosting import booster_params, fit_cox_boost
from models.compiled_trees import CompiledForest


class TLearner(PointBenefitEstimator):
    """One ``survival:cox`` booster per arm; ``models_[a]`` is arm a's fit (0 = ICI, 1 = RT+ICI)."""

    def __init__(
        self,
        n_estimators: int = 150,
        max_depth: int = 2,
        learning_rate: float = 0.05,
        subsample: float = 0.8,
        min_child_weight: float = 1.0,
        random_state: int | None = 0,
        feature_timepoints: dict[str, str] | None = None,
        baseline_hazard: str = "km_matched",
    ):
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.min_child_weight = min_child_weight
        self.random_state = random_state
        self.feature_timepoints = feature_timepoints
        self.baseline_hazard = baseline_hazard

    def fit(self, Y: pd.DataFrame, T, X: pd.DataFrame) -> TLearner:
        self._check_features(X)
        time, event, arm, Xf = validate_fit_inputs(Y, T, X)
        self.feature_names_in_ = list(Xf.columns)
        Xa = Xf.to_numpy()
        self.models_ = {
            a: fit_cox_boost(
                Xa[arm == a],
                time[arm == a],
                event[arm == a],
                booster_params(self),
                self.random_state,
                self.baseline_hazard,
            )
            for a in (0, 1)
        }
        return self

    def predict_survival(self, X: pd.DataFrame, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        Xa = self._predict_array(X)
        return self.models_[0].survival(Xa, times), self.models_[1].survival(Xa, times)

    @classmethod
    def stacked_cox_terms(cls, members: list[TLearner], X: pd.DataFrame, cache: dict
                          ) -> tuple[np.ndarray, list]:
        """All members at once (models.base.StackableCoxMembers, BootstrapBenefit's
        fast path): log risks (M, 2, n) and each member's
        baseline per arm. Same margins as ``predict_survival`` member by member.
        """
        if "forest" not in cache:
            cache["forest"] = CompiledForest(
                [m.models_[a].booster for m in members for a in (0, 1)]
            )
        Xa = members[0]._predict_array(X)
        log_risk = cache["forest"].margins(Xa).reshape(len(members), 2, len(Xa))
        if "baselines" not in cache:
            cache["baselines"] = [
                tuple((m.models_[a].knots, m.models_[a].cumhaz) for a in (0, 1)) for m in members
            ]
        return log_risk, cache["baselines"]
