"""The one interface every benefit learner implements (scikit-learn conventions, EconML vocabulary).

``fit(Y, T, X)``: ``Y`` is a DataFrame with columns ``time`` (months) and ``event`` (1 = progressed
or died); ``T`` the arm (0 = ICI alone, 1 = RT then ICI); ``X`` a DataFrame of *baseline* features
(NaN allowed). Parameters are stored in ``__init__``; fitted attributes end in ``_``;
``fit`` returns ``self``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

# Estimands of absolute benefit (PATH statement, Kent et al. 2020: report absolute benefit).
ESTIMANDS = ("pfs_gain_6mo", "pfs_gain_12mo", "rmst_gain_12mo")
RMST_HORIZON_MONTHS = 12.0
SURVIVAL_GRID_MONTHS = np.linspace(0.0, 24.0, 49)  # 0, 0.5, ..., 24 months

# Columns of ``predict_benefit`` (and of ``abscopal predict``), in order.
PREDICTION_COLUMNS = [
    "s_ici_6mo",
    "s_rt_ici_6mo",
    "s_ici_12mo",
    "s_rt_ici_12mo",
    "pfs_gain_6mo",
    "pfs_gain_6mo_lower",
    "pfs_gain_6mo_upper",
    "pfs_gain_12mo",
    "pfs_gain_12mo_lower",
    "pfs_gain_12mo_upper",
    "rmst_gain_12mo",
    "rmst_gain_12mo_lower",
    "rmst_gain_12mo_upper",
    "probability_of_benefit",
    "recommendation",
]


class BenefitEstimator(BaseEstimator, ABC):
    """Predicts S_arm(t | x) for both arms and the benefit of adding RT, with intervals."""

    @abstractmethod
    def fit(self, Y: pd.DataFrame, T: np.ndarray | pd.Series, X: pd.DataFrame) -> BenefitEstimator:
        """Fit on censored outcomes ``Y``, arm ``T`` and baseline features ``X``."""

    @abstractmethod
    def predict_survival(self, X: pd.DataFrame, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """PFS probabilities at ``times`` under ICI alone and RT then ICI, each (n, len(times))."""

    @abstractmethod
    def effect(self, X: pd.DataFrame, estimand: str = "rmst_gain_12mo") -> np.ndarray:
        """Point estimate of the benefit of adding RT for each row of ``X``."""

    @abstractmethod
    def effect_interval(
        self, X: pd.DataFrame, estimand: str = "rmst_gain_12mo", alpha: float = 0.1
    ) -> tuple[np.ndarray, np.ndarray]:
        """``1 - alpha`` interval (lower, upper) of the benefit for each row of ``X``."""

    @abstractmethod
    def predict_benefit(self, X: pd.DataFrame, alpha: float = 0.1) -> pd.DataFrame:
        """All of PREDICTION_COLUMNS for each row of ``X`` (index preserved)."""
