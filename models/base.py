"""The one interface every benefit learner implements (scikit-learn conventions, EconML vocabulary).

``fit(Y, T, X)``: ``Y`` is a DataFrame with columns ``time`` (months) and ``event`` (1 = progressed
or died); ``T`` the arm (0 = ICI alone, 1 = RT then ICI); ``X`` a DataFrame of *baseline* features
(NaN allowed). Parameters are stored in ``__init__``; fitted attributes end in ``_``;
``fit`` returns ``self``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, NamedTuple, Protocol, runtime_checkable

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

if TYPE_CHECKING:
    from models.prediction import Prediction

# Estimands of absolute benefit (PATH statement, Kent et al. 2020: report absolute benefit).
ESTIMANDS = ("pfs_gain_6mo", "pfs_gain_12mo", "rmst_gain_12mo")
RMST_HORIZON_MONTHS = 12.0
SURVIVAL_GRID_MONTHS = np.linspace(0.0, 24.0, 49)  # 0, 0.5, ..., 24 months


def estimand_bound(estimand: str) -> float:
    """The largest gain an estimand can take: a difference of survival probabilities lies in
    [-1, 1], a difference of 12-month RMSTs in [-12, 12] months."""
    return RMST_HORIZON_MONTHS if estimand.startswith("rmst") else 1.0


# Columns of ``Prediction.to_frame`` (and of ``abscopal predict``), in order.
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


class CurveBands(NamedTuple):
    """Pointwise ``1 - alpha`` bands of the two arms' PFS curves, each (n, len(times)), from the
    sampling distribution the gains' intervals come from (bootstrap members, Greenwood).

    ``ici_lower``/``ici_upper`` are None where the model's ICI-alone curve has no sampling
    distribution: a real-world baseline is the prognosis model's point estimate, taken as known
    (models.transport), so the gains' intervals carry none of its uncertainty either.
    """

    ici_lower: np.ndarray | None
    ici_upper: np.ndarray | None
    rt_ici_lower: np.ndarray
    rt_ici_upper: np.ndarray


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
    def predict(self, X: pd.DataFrame, times: np.ndarray | None = None,
                alpha: float | None = None, bands: bool = False) -> Prediction:
        """Curves on ``times`` (default SURVIVAL_GRID_MONTHS; their bands with ``bands``), every
        estimand with its ``1 - alpha`` interval, P(benefit) and the recommendation."""


# --- shared helpers (every learner uses these; kept here so the interface and its checks live
# together) -----------------------------------------------------------------------------------

# Fine grid on which benefit estimands are computed from survival curves: S at 6 and 12 months is
# read exactly, and RMST up to 12 months is the integral of the right-continuous step curve
# evaluated at 0.05-month steps (left Riemann sum; exact for curves with no jump inside a step).
BENEFIT_GRID_MONTHS = np.round(np.arange(0.0, RMST_HORIZON_MONTHS + 1e-9, 0.05), 10)


def validate_fit_inputs(
    Y: pd.DataFrame, T: np.ndarray | pd.Series, X: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.DataFrame]:
    """Check ``Y``, ``T``, ``X`` and return (time, event, arm, X) as arrays / a numeric frame.

    Errors name the column and what was expected, so bad cohorts fail before any model is fitted.
    """
    if not isinstance(Y, pd.DataFrame) or not {"time", "event"} <= set(Y.columns):
        raise ValueError("Y must be a DataFrame with columns 'time' (months) and 'event' (0/1)")
    if not isinstance(X, pd.DataFrame):
        raise ValueError("X must be a pandas DataFrame of baseline features")
    n = len(Y)
    arm = np.asarray(T, dtype=float).ravel()
    if len(arm) != n or len(X) != n:
        raise ValueError(f"Y, T and X must have the same rows; got {n}, {len(arm)}, {len(X)}")
    time = pd.to_numeric(Y["time"], errors="coerce").to_numpy(dtype=float)
    event = pd.to_numeric(Y["event"], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(time) | (time <= 0))
    if bad.size:
        raise ValueError(
            f"Y['time'] must be positive finite months; row {bad[0]} has {Y['time'].iloc[bad[0]]!r}"
        )
    bad = np.flatnonzero(~np.isin(event, (0.0, 1.0)))
    if bad.size:
        raise ValueError(f"Y['event'] must be 0 or 1; row {bad[0]} has {Y['event'].iloc[bad[0]]!r}")
    bad = np.flatnonzero(~np.isin(arm, (0.0, 1.0)))
    if bad.size:
        raise ValueError(
            f"T (arm) must be 0 (ICI alone) or 1 (RT then ICI); row {bad[0]} is {arm[bad[0]]!r}"
        )
    for a, label in ((0, "ICI alone (T=0)"), (1, "RT then ICI (T=1)")):
        in_arm = arm == a
        if not in_arm.any():
            raise ValueError(f"arm {label} has no patients: a randomised two-arm cohort is needed")
        if event[in_arm].sum() == 0:
            raise ValueError(f"arm {label} has no events: its survival curve cannot be estimated")
    non_numeric = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    if non_numeric:
        raise ValueError(
            f"X columns must be numeric; not numeric: {', '.join(map(str, non_numeric))}"
        )
    return time, event.astype(int), arm.astype(int), X.astype(float)


def curve_estimands(s: np.ndarray, times: np.ndarray = BENEFIT_GRID_MONTHS
                    ) -> dict[str, np.ndarray]:
    """The ESTIMANDS' functionals of one curve on ``times`` (BENEFIT_GRID_MONTHS): S(6), S(12)
    and the RMST to 12 months. Linear, so applied to a difference of curves they give the
    gains, and applied to one arm's curve its means (the AIPW arm means)."""
    times = np.asarray(times, dtype=float)
    i6 = int(np.flatnonzero(np.isclose(times, 6.0))[0])
    i12 = int(np.flatnonzero(np.isclose(times, RMST_HORIZON_MONTHS))[0])
    return {
        "pfs_gain_6mo": s[..., i6],  # (..., len(times)): any leading shape
        "pfs_gain_12mo": s[..., i12],
        "rmst_gain_12mo": s[..., :i12] @ np.diff(times[: i12 + 1]),
    }


def benefit_from_curves(
    s_ici: np.ndarray, s_rt_ici: np.ndarray, times: np.ndarray = BENEFIT_GRID_MONTHS
) -> dict[str, np.ndarray]:
    """The three ESTIMANDS from survival curves on ``times`` (which must be BENEFIT_GRID_MONTHS)."""
    return curve_estimands(s_rt_ici - s_ici, times)


def check_estimand(estimand: str) -> None:
    if estimand not in ESTIMANDS:
        raise ValueError(f"unknown estimand {estimand!r}; expected one of {', '.join(ESTIMANDS)}")


class PointBenefitEstimator(BenefitEstimator):
    """A learner that gives point estimates; intervals come from wrapping it in BootstrapBenefit.

    Subclasses implement ``fit`` and ``predict_survival``; ``effect`` follows from the two curves
    (learners with their own effect model, like the DR-learner, override it).
    """

    def _check_features(self, X: pd.DataFrame) -> None:
        """Refuse on-treatment features when a feature manifest was given (no leakage)."""
        timepoints = getattr(self, "feature_timepoints", None)
        if timepoints is not None:
            from models.guard import check_baseline_features

            check_baseline_features(list(X.columns), timepoints)

    def _check_predict_X(self, X: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in self.feature_names_in_ if c not in X.columns]
        if missing:
            raise ValueError(f"X is missing feature columns used in fit: {', '.join(missing)}")
        return X[self.feature_names_in_].astype(float)

    def _predict_array(self, X: pd.DataFrame) -> np.ndarray:
        """``_check_predict_X(X)`` as a float array, without a pandas copy when the columns are
        already the fitted ones in order (the serving path)."""
        if list(X.columns) == self.feature_names_in_:
            return X.to_numpy(dtype=float)
        return self._check_predict_X(X).to_numpy()

    def effect(self, X: pd.DataFrame, estimand: str = "rmst_gain_12mo") -> np.ndarray:
        check_estimand(estimand)
        s0, s1 = self.predict_survival(X, BENEFIT_GRID_MONTHS)
        return benefit_from_curves(s0, s1)[estimand]

    def effect_all(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        """All ESTIMANDS at once (one survival prediction instead of three)."""
        s0, s1 = self.predict_survival(X, BENEFIT_GRID_MONTHS)
        return benefit_from_curves(s0, s1)

    def effect_interval(
        self, X: pd.DataFrame, estimand: str = "rmst_gain_12mo", alpha: float = 0.1
    ) -> tuple[np.ndarray, np.ndarray]:
        raise TypeError(
            f"{type(self).__name__} gives point estimates only; wrap it in "
            "models.BootstrapBenefit (or use models.make_learner) for intervals"
        )

    def predict(self, X: pd.DataFrame, times: np.ndarray | None = None,
                alpha: float | None = None, bands: bool = False) -> Prediction:
        raise TypeError(
            f"{type(self).__name__} gives point estimates only; wrap it in "
            "models.BootstrapBenefit (or use models.make_learner) for the full prediction"
        )


@runtime_checkable
class StackableCoxMembers(Protocol):
    """A point learner whose fitted members' curves are Cox-type per arm, S(t | x) =
    exp(-H0(t) e^f(x)), or the mean of k such curves, and whose class computes every member's
    log risks at once: BootstrapBenefit's fast path (``issubclass(type(member),
    StackableCoxMembers)``; S-, T- and risk-learners, k = 1; the DR-learner, whose curves are
    the mean of its k cross-fitting T-learners'). A subclass that changes how its curves are
    made opts out with ``stacked_cox_terms = None``; the ensemble then predicts member by
    member (same numbers, slower).

    Optional, on the class: ``can_stack(members) -> bool`` (False: these fitted members take
    the member loop, e.g. a DR-learner with another nuisance), and ``stacked_effects(members,
    X, cache) -> {estimand: (M, n)}`` for a learner whose effects come from its own model
    rather than from its curves (the DR-learner's calibrated final stage).
    """

    @classmethod
    def stacked_cox_terms(cls, members: list, X: pd.DataFrame, cache: dict
                          ) -> tuple[np.ndarray, list]:
        """All ``members`` (fitted instances of ``cls`` on the same features) at once: the log
        risks (M x k, 2 arms, n) on ``X``, member-major (member m's k Cox curves are rows
        m k .. m k + k - 1; its curve is their mean), and the baseline of each of the M x k
        per arm, ((knots, cumhaz) for arm 0, then arm 1); ``cache``: the ensemble's, for what
        depends on the members only. Equal to ``predict_survival`` member by member."""
