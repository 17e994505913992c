"""Statistics for judging predicted treatment benefit (one job per module; no learners here)."""

from models.metrics.average import average_effect
from models.metrics.calibration import calibration_of_benefit
from models.metrics.concordance import c_for_benefit, harrell_c
from models.metrics.truth import auroc_benefiters, pehe, policy_regret, spearman
from models.metrics.uplift import qini_curve

__all__ = [
    "auroc_benefiters",
    "average_effect",
    "c_for_benefit",
    "calibration_of_benefit",
    "harrell_c",
    "pehe",
    "policy_regret",
    "qini_curve",
    "spearman",
]
