"""PATH risk-based baseline: a Cox prognostic index plus an arm x risk interaction.

Step 1 (risk model): a penalised Cox model on all patients with the arm as a covariate; the
prognostic index (PI) is its linear predictor *without* the arm term. Fitting on both arms rather
than the control arm alone follows the PATH statement (Kent et al., Ann Intern Med 2020), which
recommends developing the risk model on the whole trial population: a control-arm-only model is
overfitted to control patients, which biases the effect-by-risk pattern (Burke et al., BMJ 2015
on "endogenous" risk models; Abadie, Chingos and West 2018).
Step 2 (effect model): Cox on [arm, PI, arm x PI]: the log hazard ratio of RT varies linearly with
baseline risk. S_arm(t | x) comes from lifelines' Breslow baseline of the step-2 model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter
from sklearn.feature_selection import VarianceThreshold
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from models.base import PointBenefitEstimator, validate_fit_inputs
from models.survival import cox_survival


class RiskBasedLearner(PointBenefitEstimator):
    """Cox prognostic index (median imputation + missing indicators, scaled) and arm x PI Cox."""

    def __init__(
        self,
        risk_penalizer: float = 0.1,
        effect_penalizer: float = 0.01,
        random_state: int | None = 0,
        feature_timepoints: dict[str, str] | None = None,
        external_risk: str | None = None,
    ):
        self.risk_penalizer = risk_penalizer
        self.effect_penalizer = effect_penalizer
        self.random_state = random_state  # deterministic; kept for a uniform learner signature
        self.feature_timepoints = feature_timepoints
        # A column of X holding an external prognostic score (higher = worse), used as the PI
        # instead of step 1: the PATH statement's preferred external risk model.
        self.external_risk = external_risk

    def fit(self, Y: pd.DataFrame, T, X: pd.DataFrame) -> RiskBasedLearner:
        self._check_features(X)
        time, event, arm, Xf = validate_fit_inputs(Y, T, X)
        self.feature_names_in_ = list(Xf.columns)
        self.preprocess_ = make_pipeline(
            SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=False),
            VarianceThreshold(0.0),  # constant columns make the Cox fit singular
            StandardScaler(),
        )
        Z = self.preprocess_.fit_transform(Xf)
        self.external_ = None
        if self.external_risk is not None:
            if self.external_risk not in self.feature_names_in_:
                raise ValueError(f"external_risk column {self.external_risk!r} is not in X")
            j = self.feature_names_in_.index(self.external_risk)
            self.external_ = (j, float(np.nanmedian(Xf.iloc[:, j].to_numpy(float))))
            self.risk_model_, self.pi_coef_ = None, None
            pi = self._prognostic_index(Xf.to_numpy(dtype=float))
        else:
            cols = [f"z{i}" for i in range(Z.shape[1])]
            risk_df = pd.DataFrame(Z, columns=cols).assign(arm=arm, time=time, event=event)
            self.risk_model_ = CoxPHFitter(penalizer=self.risk_penalizer).fit(
                risk_df, duration_col="time", event_col="event"
            )
            self.pi_coef_ = self.risk_model_.params_[cols].to_numpy()
            pi = Z @ self.pi_coef_
        self.pi_center_, self.pi_scale_ = float(pi.mean()), float(pi.std() or 1.0)
        self.effect_model_ = CoxPHFitter(penalizer=self.effect_penalizer).fit(
            self._effect_frame(pi, arm).assign(time=time, event=event),
            duration_col="time",
            event_col="event",
        )
        return self

    def _effect_frame(self, pi: np.ndarray, arm: np.ndarray) -> pd.DataFrame:
        pis = (pi - self.pi_center_) / self.pi_scale_
        return pd.DataFrame({"arm": arm, "pi": pis, "arm_x_pi": arm * pis})

    def prognostic_index(self, X: pd.DataFrame) -> np.ndarray:
        """Linear predictor of the step-1 risk model (higher = worse prognosis), arm excluded."""
        return self._prognostic_index(self._as_array(X))

    # Prediction runs in plain numpy on parameters read once from the fitted sklearn pipeline and
    # lifelines model: their own transform/predict cost ~1 ms per call in pandas overhead, which a
    # 50-member bootstrap ensemble pays 50 times per served patient. Same arithmetic (median fill,
    # missing indicators, variance filter, standardisation; lifelines' centred linear predictor
    # and Breslow baseline); tests check equality with the libraries' own predictions.
    def _numpy_params(self) -> dict:
        cache = getattr(self, "_numpy_cache", None)
        if cache is not None and cache["model"] is self.effect_model_:
            return cache
        imputer, variance, scaler = (step for _, step in self.preprocess_.steps)
        params = self.effect_model_.params_
        base = self.effect_model_.baseline_cumulative_hazard_
        cache = {
            "model": self.effect_model_,
            "stats": imputer.statistics_,
            "kept": ~np.isnan(imputer.statistics_),
            "indicator": None if imputer.indicator_ is None else imputer.indicator_.features_,
            "support": variance.get_support(),
            "mean": scaler.mean_,
            "scale": scaler.scale_,
            "names": list(params.index),
            "beta": params.to_numpy(dtype=float),
            "centre": self.effect_model_._norm_mean.reindex(params.index).to_numpy(dtype=float),
            "knots": base.index.to_numpy(dtype=float),
            "cumhaz": base.iloc[:, 0].to_numpy(dtype=float),
        }
        self._numpy_cache = cache
        return cache

    def _as_array(self, X: pd.DataFrame) -> np.ndarray:
        if list(X.columns) == self.feature_names_in_:
            return X.to_numpy(dtype=float)
        return self._check_predict_X(X).to_numpy()

    def _prognostic_index(self, Xa: np.ndarray) -> np.ndarray:
        external = self.__dict__.get("external_")
        if external is not None:
            j, fill = external
            return np.where(np.isnan(Xa[:, j]), fill, Xa[:, j])
        p = self._numpy_params()
        missing = np.isnan(Xa)
        parts = [np.where(missing, p["stats"], Xa)[:, p["kept"]]]
        if p["indicator"] is not None:
            parts.append(missing[:, p["indicator"]].astype(float))
        Z = np.hstack(parts)[:, p["support"]]
        return ((Z - p["mean"]) / p["scale"]) @ self.pi_coef_

    def _log_risks(self, pi: np.ndarray) -> list[np.ndarray]:
        """The step-2 Cox linear predictor under each arm: (x - training mean) @ beta."""
        p = self._numpy_params()
        pis = (pi - self.pi_center_) / self.pi_scale_
        out = []
        for a in (0.0, 1.0):
            columns = {"arm": np.full(len(pi), a), "pi": pis, "arm_x_pi": a * pis}
            design = np.column_stack([columns[name] for name in p["names"]])
            out.append((design - p["centre"]) @ p["beta"])
        return out

    def predict_survival(self, X: pd.DataFrame, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pi = self.prognostic_index(X)
        times = np.asarray(times, dtype=float)
        # lifelines' Breslow baseline is for covariates centred at their training means, matching
        # predict_log_partial_hazard; evaluated as a step function like every other learner.
        p = self._numpy_params()
        return tuple(cox_survival(p["knots"], p["cumhaz"], lr, times) for lr in self._log_risks(pi))

    @classmethod
    def stacked_cox_terms(cls, members: list[RiskBasedLearner], X: pd.DataFrame, cache: dict
                          ) -> tuple[np.ndarray, list]:
        """All members at once (models.base.StackableCoxMembers, BootstrapBenefit's
        fast path): log risks (M, 2, n) and each member's
        Breslow baseline (shared by both arms). Same numbers as ``predict_survival``.
        """
        Xa = members[0]._as_array(X)
        log_risk = np.stack([np.stack(m._log_risks(m._prognostic_index(Xa))) for m in members])
        baselines = []
        for m in members:
            p = m._numpy_params()
            baselines.append(((p["knots"], p["cumhaz"]),) * 2)
        return log_risk, baselines
