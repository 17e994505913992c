"""Small xgboost Cox models with a baseline hazard: the building block of T, S and DR learners.

The baseline hazard is Breslow's (``baseline_hazard="breslow"``, the default here) or Kaplan-Meier
matched (``"km_matched"``, ``models.survival.km_matched_cumulative_hazard``: the mean predicted
curve of the patients the booster was fitted on equals their Kaplan-Meier curve), both on the same
patients' fitted log risks. The learners choose theirs (TLearner, SLearner, DRLearner).

Kept small on purpose (100-200 trees of depth 2-3, one thread): with n ~ 1,000 and bootstrap
ensembles of 50+ members, bigger models overfit and blow the 5-minute training budget.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xgboost as xgb

from models.compiled_trees import CompiledForest
from models.survival import BASELINE_HAZARDS, baseline_cumulative_hazard, cox_survival

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
    """A fitted xgboost Cox model plus its baseline cumulative hazard, giving S(t | x)."""

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
    X: np.ndarray,
    time: np.ndarray,
    event: np.ndarray,
    params: dict,
    random_state: int | None,
    baseline_hazard: str = "breslow",
) -> CoxBoostFit:
    """Fit the booster, then the baseline hazard (``models.survival.BASELINE_HAZARDS``) on the same
    patients' fitted log risks."""
    check_baseline_hazard(baseline_hazard)
    booster, log_risk = fit_cox_booster(X, time, event, params, random_state)
    knots, cumhaz = baseline_cumulative_hazard(baseline_hazard, time, event, log_risk)
    return CoxBoostFit(booster, knots, cumhaz)


def fit_cox_booster(
    X: np.ndarray, time: np.ndarray, event: np.ndarray, params: dict, random_state: int | None
) -> tuple[xgb.XGBRegressor, np.ndarray]:
    """The fitted booster and its log risks (margins) on the patients it was fitted on."""
    booster = cox_booster(params, random_state)
    booster.fit(X, np.where(event == 1, time, -time))
    return booster, booster.predict(X, output_margin=True)


def check_baseline_hazard(method: str) -> None:
    if method not in BASELINE_HAZARDS:
        raise ValueError(f"unknown baseline_hazard {method!r}; expected one of "
                         f"{', '.join(BASELINE_HAZARDS)}")
