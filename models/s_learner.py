"""S-learner: one xgboost Cox model with the arm as a feature, one shared Breslow baseline.

S_arm(t | x) = exp(-H0(t) exp(f(x, arm))). Trees of depth >= 3 let the arm split interact with
patient features; with depth 1 the model could only shift every patient's risk by the same amount
(a constant hazard ratio). Sharing one model borrows strength across arms, at the price of
shrinking the effect towards zero when the arm split is rarely chosen (Kunzel et al., PNAS 2019).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.base import PointBenefitEstimator, validate_fit_inputs
from models.boosting import booster_params, fit_cox_boost
from models.compiled_trees import CompiledForest


class SLearner(PointBenefitEstimator):
    """One ``survival:cox`` booster on [X, arm]; predictions set arm to 0 and to 1."""

    def __init__(
        self,
        n_estimators: int = 200,
        max_depth: int = 3,
        learning_rate: float = 0.05,
        subsample: float = 0.8,
        min_child_weight: float = 1.0,
        random_state: int | None = 0,
        feature_timepoints: dict[str, str] | None = None,
    ):
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.min_child_weight = min_child_weight
        self.random_state = random_state
        self.feature_timepoints = feature_timepoints

    def fit(self, Y: pd.DataFrame, T, X: pd.DataFrame) -> SLearner:
        self._check_features(X)
        time, event, arm, Xf = validate_fit_inputs(Y, T, X)
        self.feature_names_in_ = list(Xf.columns)
        self.model_ = fit_cox_boost(
            np.column_stack([Xf.to_numpy(), arm]), time, event, booster_params(self),
            self.random_state
        )
        return self

    def predict_survival(self, X: pd.DataFrame, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        Xa = self._check_predict_X(X).to_numpy()
        ones = np.ones((len(Xa), 1))
        return (
            self.model_.survival(np.hstack([Xa, 0 * ones]), times),
            self.model_.survival(np.hstack([Xa, ones]), times),
        )

    @staticmethod
    def _stacked_cox_terms(members: list[SLearner], X: pd.DataFrame, cache: dict):
        """All members at once (BootstrapBenefit's fast path): log risks (M, 2, n) and each
        member's Breslow baseline per arm. Same margins as ``predict_survival`` member by member.
        """
        if "forest" not in cache:
            cache["forest"] = CompiledForest([m.model_.booster for m in members])
        Xa = members[0]._predict_array(X)
        n = len(Xa)
        rows = np.vstack([np.column_stack([Xa, np.full(n, a, dtype=float)]) for a in (0.0, 1.0)])
        log_risk = cache["forest"].margins(rows).reshape(len(members), 2, n)
        if "baselines" not in cache:
            cache["baselines"] = [((m.model_.knots, m.model_.cumhaz),) * 2 for m in members]
        return log_risk, cache["baselines"]
