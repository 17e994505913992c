"""S-learner: one xgboost Cox model with the arm as a feature, a baseline hazard per arm.

S_arm(t | x) = exp(-H0_arm(t) exp(f(x, arm))). Trees of depth >= 3 let the arm split interact with
patient features; with depth 1 the model could only shift every patient's risk by the same amount
(a constant hazard ratio). Sharing one model borrows strength across arms, at the price of
shrinking the effect towards zero when the arm split is rarely chosen (Kunzel et al., PNAS 2019).

``baseline_hazard``: "breslow" (default) is the one Breslow H0 of the pooled Cox model, shared by
both arms; "km_matched" matches, per arm, the mean predicted curve of that arm's patients (their
log risks f(x, arm)) to the arm's Kaplan-Meier curve, so each arm has its own H0 (non-proportional
hazards between arms and a cure plateau are allowed; models.survival). Breslow stays the default
here because, measured (docs/benchmarks.md, "Calibrated baselines"), the per-arm baselines give
better-calibrated curves and a lower PEHE but bootstrap intervals too narrow for the larger gains
they carry: ``add_rt`` for half the patients whose true gain is below the MCID at n = 1,000.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.base import PointBenefitEstimator, validate_fit_inputs
from models.boosting import CoxBoostFit, booster_params, check_baseline_hazard, fit_cox_booster
from models.compiled_trees import CompiledForest
from models.survival import baseline_cumulative_hazard, cox_survival


class SLearner(PointBenefitEstimator):
    """One ``survival:cox`` booster on [X, arm]; predictions set arm to 0 and to 1.

    ``fits_[a]`` is arm a's fit (0 = ICI, 1 = RT+ICI): the one shared booster with arm a's
    baseline.
    """

    def __init__(
        self,
        n_estimators: int = 200,
        max_depth: int = 3,
        learning_rate: float = 0.05,
        subsample: float = 0.8,
        min_child_weight: float = 1.0,
        random_state: int | None = 0,
        feature_timepoints: dict[str, str] | None = None,
        baseline_hazard: str = "breslow",
    ):
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.min_child_weight = min_child_weight
        self.random_state = random_state
        self.feature_timepoints = feature_timepoints
        self.baseline_hazard = baseline_hazard

    def fit(self, Y: pd.DataFrame, T, X: pd.DataFrame) -> SLearner:
        self._check_features(X)
        check_baseline_hazard(self.baseline_hazard)
        time, event, arm, Xf = validate_fit_inputs(Y, T, X)
        self.feature_names_in_ = list(Xf.columns)
        booster, log_risk = fit_cox_booster(
            np.column_stack([Xf.to_numpy(), arm]), time, event, booster_params(self),
            self.random_state
        )
        if self.baseline_hazard == "breslow":  # the pooled model's one baseline, for both arms
            shared = baseline_cumulative_hazard("breslow", time, event, log_risk)
            baselines = {0: shared, 1: shared}
        else:  # each arm's own patients, at their own arm's log risks
            baselines = {
                a: baseline_cumulative_hazard(
                    self.baseline_hazard, time[arm == a], event[arm == a], log_risk[arm == a]
                )
                for a in (0, 1)
            }
        self.fits_ = {a: CoxBoostFit(booster, *baselines[a]) for a in (0, 1)}
        return self

    def predict_survival(self, X: pd.DataFrame, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        Xa = self._check_predict_X(X).to_numpy()
        n = len(Xa)
        rows = np.vstack([np.column_stack([Xa, np.full(n, a, dtype=float)]) for a in (0.0, 1.0)])
        log_risk = self.fits_[0].log_risk(rows)  # one compiled forest for both arms
        return tuple(
            cox_survival(self.fits_[a].knots, self.fits_[a].cumhaz,
                         log_risk[a * n:(a + 1) * n], times)
            for a in (0, 1)
        )

    def __setstate__(self, state: dict) -> None:
        if "model_" in state:  # pickled before per-arm baselines: one shared Breslow H0
            fit = state.pop("model_")
            state["fits_"] = {0: fit, 1: fit}
            state.setdefault("baseline_hazard", "breslow")
        super().__setstate__(state)

    @classmethod
    def stacked_cox_terms(cls, members: list[SLearner], X: pd.DataFrame, cache: dict
                          ) -> tuple[np.ndarray, list]:
        """All members at once (models.base.StackableCoxMembers, BootstrapBenefit's
        fast path): log risks (M, 2, n) and each member's
        baseline per arm. Same margins as ``predict_survival`` member by member.
        """
        if "forest" not in cache:
            cache["forest"] = CompiledForest([m.fits_[0].booster for m in members])
        Xa = members[0]._predict_array(X)
        n = len(Xa)
        rows = np.vstack([np.column_stack([Xa, np.full(n, a, dtype=float)]) for a in (0.0, 1.0)])
        log_risk = cache["forest"].margins(rows).reshape(len(members), 2, n)
        if "baselines" not in cache:
            cache["baselines"] = [
                tuple((m.fits_[a].knots, m.fits_[a].cumhaz) for a in (0, 1)) for m in members
            ]
        return log_risk, cache["baselines"]
