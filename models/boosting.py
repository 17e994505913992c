"""Small xgboost Cox models with a Breslow baseline: the building block of T, S and DR learners.

Kept small on purpose (100-200 trees of depth 2-3, one thread): with n ~ 1,000 and bootstrap
ensembles of 50+ members, bigger models overfit and blow the 5-minute training budget.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xgboost as xgb

from models.compiled_trees import CompiledForest
from models.survival import breslow_cumulative_hazard, cox_survival

BOOSTER_PARAMS = ("n_estimators", "max_depth", "learning_rate", "subsample", "min_child_weight")


def booster_params(estimator) -> dict:
    """The xgboost hyper-parameters a learner stores under their xgboost names."""
    return {name: getattr(estimator, name) for name in BOOSTER_PARAMS}


def cox_booster(params: dict, random_state: int | None) -> xgb.XGBRegressor:
    """XGBRegressor with the Cox partial likelihood (labels: +time if event, -time if censored)."""
    return xgb.XGBRegressor(
        objective="survival:cox",
        tree_method="hist",
        nthread=1,
        random_state=0 if random_state is None else int(random_state),
        **params,
    )


@dataclass
class CoxBoostFit:
    """A fitted xgboost Cox model plus its Breslow baseline, giving S(t | x)."""

    booster: xgb.XGBRegressor
    knots: np.ndarray
    cumhaz: np.ndarray

    def log_risk(self, X: np.ndarray) -> np.ndarray:
        """The booster's margin (float32, equal to ``predict(X, output_margin=True)``)."""
        return self.compiled().margins(np.asarray(X, dtype=float))[0]

    def compiled(self) -> CompiledForest:
        """The booster's trees as numpy arrays (built on first use, never pickled)."""
        forest = self.__dict__.get("_compiled")
        if forest is None:
            forest = self.__dict__["_compiled"] = CompiledForest([self.booster])
        return forest

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_compiled"}

    def survival(self, X: np.ndarray, times: np.ndarray) -> np.ndarray:
        return cox_survival(self.knots, self.cumhaz, self.log_risk(X), times)


def fit_cox_boost(
    X: np.ndarray, time: np.ndarray, event: np.ndarray, params: dict, random_state: int | None
) -> CoxBoostFit:
    """Fit the booster, then the Breslow baseline on the same patients' fitted log risks."""
    booster = cox_booster(params, random_state)
    booster.fit(X, np.where(event == 1, time, -time))
    knots, cumhaz = breslow_cumulative_hazard(time, event, booster.predict(X, output_margin=True))
    return CoxBoostFit(booster, knots, cumhaz)
