"""Mixture-cure learner: a long-term-responder fraction and a Weibull time for the others, per arm.

Immunotherapy PFS curves fall steeply and then flatten on a plateau of durable responders, and
RT before ICI both delays progression and adds responders (Huang et al., Nat Cancer 2025;
PEMBRO-RT). A Cox model cannot draw that: its hazard ratio is constant while these curves
separate late and converge. A mixture-cure model can (Othus, Barlogie, LeBlanc and Crowley,
Clin Cancer Res 2012, on cure models for immunotherapy trials):

    S_arm(t | x) = c(x, arm) + (1 - c(x, arm)) exp(-(t / lambda(x, arm)) ^ rho(arm))

with logit c and log lambda linear in [x, arm, arm * x] (so every input may modify the effect of
RT) and a shape per arm. Fitted by penalised maximum likelihood with lifelines'
``ParametricRegressionFitter`` (ridge ``penalizer``, intercepts unpenalised). Inputs: skewed
non-negative columns (TMB, PD-L1, LDH, ...) on a log scale, median imputation with one indicator
per distinct missingness pattern, standardised. Prediction is numpy on the fitted coefficients
(fast enough for a bootstrap ensemble in serving).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
from autograd import numpy as anp
from autograd.scipy.special import expit as anp_expit
from lifelines.exceptions import ConvergenceError
from lifelines.fitters import ParametricRegressionFitter
from scipy.special import expit
from scipy.stats import skew

from models.base import PointBenefitEstimator, validate_fit_inputs

_LOG_SKEW = 2.0  # a non-negative column with skewness above this is modelled on log1p scale
_S_FLOOR = 1e-12


class _CureWeibullFitter(ParametricRegressionFitter):
    """lifelines regression: cured fraction ``c_``, Weibull scale ``lambda_``, shape ``rho_``."""

    _fitted_parameter_names: ClassVar[list[str]] = ["lambda_", "rho_", "c_"]

    def _cumulative_hazard(self, params, T, Xs):
        c = anp_expit(anp.dot(Xs["c_"], params["c_"]))
        lam = anp.exp(anp.dot(Xs["lambda_"], params["lambda_"]))
        rho = anp.exp(anp.dot(Xs["rho_"], params["rho_"]))
        s = c + (1.0 - c) * anp.exp(-((T / lam) ** rho))
        return -anp.log(anp.clip(s, _S_FLOOR, 1.0))


class CureLearner(PointBenefitEstimator):
    """Mixture-cure Weibull regression with arm interactions (see the module docstring)."""

    def __init__(
        self,
        penalizer: float = 0.2,
        random_state: int | None = 0,
        feature_timepoints: dict[str, str] | None = None,
    ):
        self.penalizer = penalizer
        self.random_state = random_state  # deterministic; kept for a uniform learner signature
        self.feature_timepoints = feature_timepoints

    def fit(self, Y: pd.DataFrame, T, X: pd.DataFrame) -> CureLearner:
        self._check_features(X)
        time, event, arm, Xf = validate_fit_inputs(Y, T, X)
        self.feature_names_in_ = list(Xf.columns)
        raw = Xf.to_numpy(dtype=float)
        self._fit_preprocess(raw)
        Z = self._design(raw)
        names = [f"z{i}" for i in range(Z.shape[1])]
        frame = pd.DataFrame(np.hstack([Z, arm[:, None] * Z]),
                             columns=names + [f"arm_{n}" for n in names])
        frame = frame.assign(arm=arm.astype(float), Intercept=1.0, time=time, event=event)
        linear = [*names, *(f"arm_{n}" for n in names), "arm", "Intercept"]
        regressors = {"lambda_": linear, "rho_": ["arm", "Intercept"], "c_": linear}
        fitter = None
        for penalizer in (self.penalizer, 4 * self.penalizer, 16 * self.penalizer):
            try:  # a bootstrap sample can make the likelihood flat: a stronger ridge fixes it
                fitter = _CureWeibullFitter(penalizer=penalizer).fit(
                    frame, "time", "event", regressors=regressors)
                break
            except ConvergenceError:
                continue
        if fitter is None:
            raise ConvergenceError("the mixture-cure model did not converge, even with a "
                                   f"penalizer of {16 * self.penalizer:g}")
        params = fitter.params_
        self.coef_ = {p: params.loc[p].reindex(linear if p != "rho_" else ["arm", "Intercept"])
                      .to_numpy(dtype=float) for p in ("lambda_", "rho_", "c_")}
        return self

    def _fit_preprocess(self, raw: np.ndarray) -> None:
        """Log columns, medians, one indicator per distinct missingness pattern, scales."""
        finite = [col[~np.isnan(col)] for col in raw.T]
        self.log_columns_ = np.array([
            v.size > 2 and v.min() >= 0 and v.std() > 0 and skew(v) > _LOG_SKEW for v in finite])
        logged = np.where(self.log_columns_, np.log1p(np.clip(raw, 0, None)), raw)
        self.medians_ = np.array([np.nanmedian(c) if np.isfinite(c).any() else 0.0
                                  for c in logged.T])
        patterns = {}
        for j, col in enumerate(np.isnan(raw).T):
            if 0 < col.sum() < len(col):
                patterns.setdefault(col.tobytes(), j)
        self.indicator_columns_ = np.array(sorted(patterns.values()), dtype=int)
        filled = self._filled(raw)
        self.center_ = filled.mean(axis=0)
        scale = filled.std(axis=0)
        self.keep_ = scale > 1e-8  # constant columns make the fit singular
        self.scale_ = np.where(self.keep_, scale, 1.0)

    def _filled(self, raw: np.ndarray) -> np.ndarray:
        logged = np.where(self.log_columns_, np.log1p(np.clip(raw, 0, None)), raw)
        filled = np.where(np.isnan(logged), self.medians_, logged)
        indicators = np.isnan(raw[:, self.indicator_columns_]).astype(float)
        return np.hstack([filled, indicators])

    def _design(self, raw: np.ndarray) -> np.ndarray:
        return ((self._filled(raw) - self.center_) / self.scale_)[:, self.keep_]

    def predict_survival(self, X: pd.DataFrame, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        Z = self._design(self._predict_array(X))
        t = np.maximum(np.asarray(times, dtype=float), 0.0)[None, :]
        curves = []
        for a in (0.0, 1.0):
            linear = np.hstack([Z, a * Z, np.full((len(Z), 1), a), np.ones((len(Z), 1))])
            c = expit(linear @ self.coef_["c_"])[:, None]
            lam = np.exp(linear @ self.coef_["lambda_"])[:, None]
            rho = float(np.exp(np.array([a, 1.0]) @ self.coef_["rho_"]))
            curves.append(c + (1.0 - c) * np.exp(-((t / lam) ** rho)))
        return curves[0], curves[1]
