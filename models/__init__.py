"""Treatment-benefit estimators over censored progression-free survival.

Point learners (``LEARNERS``) give S_arm(t | x) and the benefit; ``BootstrapBenefit`` wraps any of
them into the full BenefitEstimator, whose ``predict`` returns a ``Prediction`` (curves, intervals,
probability of benefit, recommendation).
"""

from __future__ import annotations

from models.base import (
    BENEFIT_GRID_MONTHS,
    ESTIMANDS,
    PREDICTION_COLUMNS,
    RMST_HORIZON_MONTHS,
    SURVIVAL_GRID_MONTHS,
    BenefitEstimator,
    PointBenefitEstimator,
    StackableCoxMembers,
)
from models.dr_learner import DRLearner
from models.ensemble import BootstrapBenefit
from models.evaluation import evaluate_benefit
from models.guard import check_baseline_features
from models.prediction import Prediction
from models.recommend import RECOMMENDATIONS, RecommendationRule, recommend
from models.risk import RiskBasedLearner
from models.s_learner import SLearner
from models.t_learner import TLearner

LEARNERS: dict[str, type[PointBenefitEstimator]] = {
    "risk": RiskBasedLearner,
    "t": TLearner,
    "s": SLearner,
    "dr": DRLearner,
}


def make_learner(
    name: str,
    n_bootstrap: int = 50,
    alpha: float = 0.1,
    n_jobs: int = 2,
    rule: RecommendationRule | None = None,
    **params,
) -> BenefitEstimator:
    """Learner ``name`` with ``params``, wrapped in a bootstrap ensemble of ``n_bootstrap`` members.

    ``n_bootstrap=0`` returns the bare point learner (fast; for cross-validated model selection).
    ``params`` go to the learner (e.g. ``random_state``, ``feature_timepoints``, ``max_depth``);
    ``random_state`` also seeds the bootstrap.
    """
    if name not in LEARNERS:
        raise ValueError(f"unknown learner {name!r}; expected one of {', '.join(LEARNERS)}")
    learner = LEARNERS[name](**params)
    if n_bootstrap == 0:
        return learner
    return BootstrapBenefit(
        learner,
        n_bootstrap=n_bootstrap,
        alpha=alpha,
        random_state=params.get("random_state", 0),
        n_jobs=n_jobs,
        rule=rule,
    )


__all__ = [
    "BENEFIT_GRID_MONTHS",
    "ESTIMANDS",
    "LEARNERS",
    "PREDICTION_COLUMNS",
    "RECOMMENDATIONS",
    "RMST_HORIZON_MONTHS",
    "SURVIVAL_GRID_MONTHS",
    "BenefitEstimator",
    "BootstrapBenefit",
    "DRLearner",
    "PointBenefitEstimator",
    "Prediction",
    "RecommendationRule",
    "RiskBasedLearner",
    "SLearner",
    "StackableCoxMembers",
    "TLearner",
    "check_baseline_features",
    "evaluate_benefit",
    "make_learner",
    "recommend",
]
