"""Bootstrap ensembles: intervals and probability of benefit for any point learner.

B members are fitted on bootstrap resamples drawn *within each arm* (so every member sees the
trial's arm sizes). The bagged estimate is the members' mean (for curve-based learners, identical
to the gain read off the mean curves); the ``1 - alpha`` interval is the members' percentile
interval, widened to contain the estimate if the ensemble is skewed; P(benefit) is the share of
members with a positive 12-month RMST gain. Percentile bootstrap intervals reflect the learner's
sampling variability, not its bias (regularisation shrinks effects): their coverage is measured on
the virtual trial, not assumed. For the DR-learner, resampled duplicates can land in different
cross-fitting folds, which makes its members slightly optimistic.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import clone

from models.base import (
    BENEFIT_GRID_MONTHS,
    ESTIMANDS,
    PREDICTION_COLUMNS,
    BenefitEstimator,
    PointBenefitEstimator,
    benefit_from_curves,
    check_estimand,
    validate_fit_inputs,
)
from models.recommend import RecommendationRule, recommend


def _fit_member(learner, Y, T, X):
    return learner.fit(Y, T, X)


def stratified_bootstrap_indices(arm: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row indices of one bootstrap resample drawn with replacement within each arm."""
    parts = []
    for a in (0, 1):
        idx = np.flatnonzero(arm == a)
        parts.append(rng.choice(idx, size=len(idx), replace=True))
    return np.sort(np.concatenate(parts))


class BootstrapBenefit(BenefitEstimator):
    """Wrap a point learner (models.LEARNERS; default SLearner) into the full BenefitEstimator."""

    def __init__(
        self,
        base_learner=None,
        n_bootstrap: int = 50,
        alpha: float = 0.1,
        random_state: int | None = 0,
        n_jobs: int = 2,
        rule: RecommendationRule | None = None,
    ):
        self.base_learner = base_learner
        self.n_bootstrap = n_bootstrap
        self.alpha = alpha
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.rule = rule

    def fit(self, Y: pd.DataFrame, T, X: pd.DataFrame) -> BootstrapBenefit:
        from models.s_learner import SLearner

        if self.n_bootstrap < 2:
            raise ValueError(f"n_bootstrap must be >= 2; got {self.n_bootstrap}")
        base = SLearner() if self.base_learner is None else self.base_learner
        base._check_features(X)  # refuse on-treatment features before any member is fitted
        _, _, arm, Xf = validate_fit_inputs(Y, T, X)
        rng = np.random.default_rng(self.random_state)
        jobs = []
        for _ in range(self.n_bootstrap):
            idx = stratified_bootstrap_indices(arm, rng)
            member = clone(base)
            if "random_state" in member.get_params():
                member.set_params(random_state=int(rng.integers(2**31 - 1)))
            jobs.append(
                delayed(_fit_member)(
                    member,
                    Y.iloc[idx].reset_index(drop=True),
                    arm[idx],
                    Xf.iloc[idx].reset_index(drop=True),
                )
            )
        self.members_ = Parallel(n_jobs=self.n_jobs)(jobs)
        self.feature_names_in_ = list(Xf.columns)
        return self

    # --- predictions ------------------------------------------------------------------------

    def member_effects(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        """Each member's estimate of each estimand: {estimand: (n_bootstrap, n)}."""
        per_member = [m.effect_all(X) for m in self.members_]
        return {k: np.array([d[k] for d in per_member]) for k in ESTIMANDS}

    def predict_survival(self, X: pd.DataFrame, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        curves = [m.predict_survival(X, times) for m in self.members_]
        return np.mean([c[0] for c in curves], axis=0), np.mean([c[1] for c in curves], axis=0)

    def effect(self, X: pd.DataFrame, estimand: str = "rmst_gain_12mo") -> np.ndarray:
        check_estimand(estimand)
        return np.array([m.effect(X, estimand) for m in self.members_]).mean(axis=0)

    def effect_all(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        return {k: v.mean(axis=0) for k, v in self.member_effects(X).items()}

    @staticmethod
    def _interval(draws: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1); got {alpha}")
        est = draws.mean(axis=0)
        lo, hi = np.quantile(draws, [alpha / 2, 1 - alpha / 2], axis=0)
        return est, np.minimum(lo, est), np.maximum(hi, est)

    def effect_interval(
        self, X: pd.DataFrame, estimand: str = "rmst_gain_12mo", alpha: float | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        check_estimand(estimand)
        draws = np.array([m.effect(X, estimand) for m in self.members_])
        _, lo, hi = self._interval(draws, self.alpha if alpha is None else alpha)
        return lo, hi

    def probability_of_benefit(self, X: pd.DataFrame) -> np.ndarray:
        """Share of members whose 12-month RMST gain is positive."""
        draws = np.array([m.effect(X, "rmst_gain_12mo") for m in self.members_])
        return (draws > 0).mean(axis=0)

    def member_draws(
        self, X: pd.DataFrame, times: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """One pass over the members: mean curves on ``times`` and every member's estimands.

        Each member predicts its curves once, on BENEFIT_GRID_MONTHS followed by ``times``; the
        estimands come from the first part (as ``effect_all`` does) unless the member has its own
        effect model (DR-learner). Serving a patient thus costs B member predictions, not 3B.
        """
        times = np.asarray(times, dtype=float)
        grid = np.concatenate([BENEFIT_GRID_MONTHS, times])
        k = len(BENEFIT_GRID_MONTHS)
        n_rows = max(len(X), 1)
        sum0 = sum1 = 0.0
        per_member: list[dict | None] = []
        pending: list[tuple[int, np.ndarray, np.ndarray]] = []  # curve-based members, batched

        def flush():
            # One benefit_from_curves call for several members' stacked curves (its fixed cost
            # dominates for a single patient).
            gains = benefit_from_curves(np.vstack([p[1] for p in pending]),
                                        np.vstack([p[2] for p in pending]))
            for j, (m, _, _) in enumerate(pending):
                per_member[m] = {e: g[j * len(X):(j + 1) * len(X)] for e, g in gains.items()}
            pending.clear()

        for m, member in enumerate(self.members_):
            s0, s1 = member.predict_survival(X, grid)
            sum0, sum1 = sum0 + s0[:, k:], sum1 + s1[:, k:]
            if type(member).effect_all is PointBenefitEstimator.effect_all:
                per_member.append(None)
                pending.append((m, s0[:, :k], s1[:, :k]))
                if len(pending) * n_rows >= 20_000:
                    flush()
            else:
                per_member.append(member.effect_all(X))
        if pending:
            flush()
        draws = {e: np.array([d[e] for d in per_member]) for e in ESTIMANDS}
        n = len(self.members_)
        return sum0 / n, sum1 / n, draws

    def predict_benefit(self, X: pd.DataFrame, alpha: float | None = None) -> pd.DataFrame:
        return self.predict_benefit_and_survival(X, np.array([]), alpha)[0]

    def predict_benefit_and_survival(
        self, X: pd.DataFrame, times: np.ndarray, alpha: float | None = None
    ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        """``predict_benefit`` plus ``predict_survival(X, times)``, in one pass over the members."""
        alpha = self.alpha if alpha is None else alpha
        times = np.asarray(times, dtype=float)
        s0, s1, draws = self.member_draws(X, np.concatenate([[6.0, 12.0], times]))
        out = pd.DataFrame(
            {
                "s_ici_6mo": s0[:, 0],
                "s_rt_ici_6mo": s1[:, 0],
                "s_ici_12mo": s0[:, 1],
                "s_rt_ici_12mo": s1[:, 1],
            },
            index=X.index,
        )
        for k in ESTIMANDS:
            est, lo, hi = self._interval(draws[k], alpha)
            out[k], out[f"{k}_lower"], out[f"{k}_upper"] = est, lo, hi
        out["probability_of_benefit"] = (draws["rmst_gain_12mo"] > 0).mean(axis=0)
        out["recommendation"] = recommend(
            out["rmst_gain_12mo"],
            out["rmst_gain_12mo_upper"],
            out["probability_of_benefit"],
            self.rule,
        )
        return out[PREDICTION_COLUMNS], s0[:, 2:], s1[:, 2:]
