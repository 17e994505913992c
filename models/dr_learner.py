"""DR-learner: doubly robust pseudo-outcomes regressed on X with xgboost (Kennedy 2023).

1. Cross-fitting: in each of ``n_folds`` folds a T-learner (the outcome model) is fitted on the
   other folds and predicts both arms' curves for the held-out patients.
2. AIPCW-AIPW pseudo-outcomes psi for each estimand (models.pseudo_outcomes: censoring handled
   by inverse weighting augmented with the nuisance curves, which halves the variance of the
   12-month RMST pseudo-outcome on the virtual trial), using the known
   randomisation probability ``propensity`` (None = the arm share in the data, which is what a
   1:1 trial gives up to chance).
3. One small xgboost regressor per estimand learns E[psi | X]: that is ``effect``.

``baseline_hazard`` is the nuisance T-learners' ("km_matched", the default, or "breslow"; TLearner).
``predict_survival`` returns the fold T-learners' curves averaged (the nuisance model): the curves
and the DR ``effect`` are different estimators, so s_rt_ici - s_ici need not equal the DR gain.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xgboost as xgb

from models.base import (
    BENEFIT_GRID_MONTHS,
    ESTIMANDS,
    PointBenefitEstimator,
    check_estimand,
    validate_fit_inputs,
)
from models.pseudo_outcomes import (
    aipw_pseudo_outcomes,
    augmented_ipcw_outcomes,
    cross_fit_folds,
)
from models.t_learner import TLearner


class DRLearner(PointBenefitEstimator):
    """Cross-fitted IPCW-AIPW pseudo-outcomes for all ESTIMANDS, xgboost final stage."""

    def __init__(
        self,
        n_folds: int = 2,
        propensity: float | None = None,
        min_censoring_survival: float = 0.1,
        nuisance_n_estimators: int = 150,
        nuisance_max_depth: int = 2,
        n_estimators: int = 100,
        max_depth: int = 2,
        learning_rate: float = 0.05,
        min_child_weight: float = 20.0,
        random_state: int | None = 0,
        feature_timepoints: dict[str, str] | None = None,
        baseline_hazard: str = "km_matched",
    ):
        self.n_folds = n_folds
        self.propensity = propensity
        self.min_censoring_survival = min_censoring_survival
        self.nuisance_n_estimators = nuisance_n_estimators
        self.nuisance_max_depth = nuisance_max_depth
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.min_child_weight = min_child_weight
        self.random_state = random_state
        self.feature_timepoints = feature_timepoints
        self.baseline_hazard = baseline_hazard

    def fit(self, Y: pd.DataFrame, T, X: pd.DataFrame) -> DRLearner:
        self._check_features(X)
        time, event, arm, Xf = validate_fit_inputs(Y, T, X)
        self.feature_names_in_ = list(Xf.columns)
        e = float(arm.mean()) if self.propensity is None else float(self.propensity)
        if not 0.0 < e < 1.0:
            raise ValueError(f"propensity must be in (0, 1); got {e}")
        self.propensity_ = e
        n = len(time)
        s0 = np.empty((n, len(BENEFIT_GRID_MONTHS)))
        s1 = np.empty_like(s0)
        self.nuisance_ = []
        for k, (train, test) in enumerate(
            cross_fit_folds(arm, event, self.n_folds, self.random_state)
        ):
            nuisance = TLearner(
                n_estimators=self.nuisance_n_estimators,
                max_depth=self.nuisance_max_depth,
                random_state=None if self.random_state is None else self.random_state + k,
                baseline_hazard=self.baseline_hazard,
            ).fit(Y.iloc[train], arm[train], Xf.iloc[train])
            s0[test], s1[test] = nuisance.predict_survival(Xf.iloc[test], BENEFIT_GRID_MONTHS)
            self.nuisance_.append(nuisance)
        own = np.where(arm[:, None] == 1, s1, s0)  # each patient's curve under their own arm
        y_star = augmented_ipcw_outcomes(time, event, arm, own, self.min_censoring_survival)
        self.pseudo_outcomes_ = aipw_pseudo_outcomes(y_star, arm, s0, s1, e)
        self.final_ = {}
        for estimand in ESTIMANDS:
            reg = xgb.XGBRegressor(
                n_estimators=self.n_estimators,
                max_depth=self.max_depth,
                learning_rate=self.learning_rate,
                min_child_weight=self.min_child_weight,
                tree_method="hist",
                nthread=1,
                random_state=0 if self.random_state is None else self.random_state,
            )
            self.final_[estimand] = reg.fit(Xf.to_numpy(), self.pseudo_outcomes_[estimand])
        return self

    def predict_survival(self, X: pd.DataFrame, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        Xf = self._check_predict_X(X)
        curves = [m.predict_survival(Xf, times) for m in self.nuisance_]
        return (
            np.mean([c[0] for c in curves], axis=0),
            np.mean([c[1] for c in curves], axis=0),
        )

    def effect(self, X: pd.DataFrame, estimand: str = "rmst_gain_12mo") -> np.ndarray:
        check_estimand(estimand)
        return self.final_[estimand].predict(self._check_predict_X(X).to_numpy()).astype(float)

    def effect_all(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        return {k: self.effect(X, k) for k in ESTIMANDS}
