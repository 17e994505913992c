"""Prognosis under ICI alone: S(t | x) for PFS or OS from baseline clinical and biomarker features.

Fitted on real ICI-treated patients (the LORIS compilation, or a user's own real-world cohort), not
on a trial arm. A small xgboost Cox booster (models.boosting) with a Breslow baseline:

- **Inputs**: the shared pipeline's features (features/clinical.py) named in PROGNOSIS_FEATURES,
  so a patient scored by the server gets the same vector the model was trained on.
- **Missingness**: no imputation and no silent zero. Real-world tables miss whole fields by cohort
  (PD-L1 for 84% of the compilation's MSK patients, ECOG and histology for all of Chowell's);
  xgboost sends a missing value down each split's learned default branch (sparsity-aware split
  finding, Chen & Guestrin, KDD 2016), and the share missing per input at fit time is kept in
  ``missing_share_`` for the model card.
- **Monotone constraints** where the direction is established, so the model cannot learn a
  cohort artefact the other way: higher TMB (Samstein et al., Nat Genet 2019), PD-L1 (Reck et al.,
  NEJM 2016) and albumin mean lower risk; higher NLR and ECOG higher risk (LIPI, Mezquita et al.,
  JAMA Oncol 2018; LORIS, Chang et al., Nature Cancer 2024).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from models.boosting import fit_cox_boost
from models.survival import cox_survival

PROGNOSIS_FEATURES = [
    "tmb", "pdl1_tps", "prior_lines", "albumin", "nlr", "age", "sex_male", "ecog",
    "histology_squamous", "histology_other",
]
# -1: more of it, lower risk (longer survival); +1: higher risk; 0: unconstrained.
MONOTONE = {"tmb": -1, "pdl1_tps": -1, "albumin": -1, "nlr": 1, "ecog": 1}


class PrognosisModel(BaseEstimator):
    """Cox booster over PROGNOSIS_FEATURES; ``fit(Y, X)``, ``predict_survival(X, times)``."""

    def __init__(
        self,
        n_estimators: int = 200,
        max_depth: int = 2,
        learning_rate: float = 0.04,
        subsample: float = 0.8,
        min_child_weight: float = 10.0,
        monotone: bool = True,
        random_state: int | None = 0,
    ):
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.min_child_weight = min_child_weight
        self.monotone = monotone
        self.random_state = random_state

    def fit(self, Y: pd.DataFrame, X: pd.DataFrame) -> PrognosisModel:
        time = pd.to_numeric(Y["time"], errors="coerce").to_numpy(float)
        event = pd.to_numeric(Y["event"], errors="coerce").to_numpy(float)
        if len(time) != len(X):
            raise ValueError(f"Y and X must have the same rows; got {len(time)} and {len(X)}")
        if not (np.isfinite(time).all() and (time > 0).all() and np.isin(event, (0, 1)).all()):
            raise ValueError("Y needs a positive 'time' (months) and a 0/1 'event' for every row")
        if event.sum() < 10:
            raise ValueError(f"at least 10 events are needed to fit a prognosis model; got "
                             f"{int(event.sum())}")
        Xf = self._inputs(X)
        self.feature_names_in_ = list(Xf.columns)
        self.missing_share_ = {c: float(Xf[c].isna().mean()) for c in Xf.columns}
        params = {
            "n_estimators": self.n_estimators, "max_depth": self.max_depth,
            "learning_rate": self.learning_rate, "subsample": self.subsample,
            "min_child_weight": self.min_child_weight,
        }
        if self.monotone:
            params["monotone_constraints"] = tuple(MONOTONE.get(c, 0) for c in Xf.columns)
        self.model_ = fit_cox_boost(Xf.to_numpy(float), time, event.astype(int), params,
                                    self.random_state)
        self.n_, self.events_ = len(time), int(event.sum())
        return self

    @staticmethod
    def _inputs(X: pd.DataFrame) -> pd.DataFrame:
        """PROGNOSIS_FEATURES of ``X``, absent columns as NaN (a cohort without ECOG at all)."""
        return X.reindex(columns=PROGNOSIS_FEATURES).astype(float)

    def predict_log_risk(self, X: pd.DataFrame) -> np.ndarray:
        """Log relative risk (higher = earlier progression or death)."""
        return self.model_.log_risk(self._inputs(X).to_numpy(float)).astype(float)

    def predict_survival(self, X: pd.DataFrame, times) -> np.ndarray:
        """S(t | x) under ICI alone, (n, len(times))."""
        return self.model_.survival(self._inputs(X).to_numpy(float), np.asarray(times, float))

    def survival_from_log_risk(self, log_risk, times) -> np.ndarray:
        """S(t) of patients with these ``predict_log_risk`` values (a Cox model's curve depends
        on x only through its log risk)."""
        return cox_survival(self.model_.knots, self.model_.cumhaz, np.asarray(log_risk, float),
                            np.asarray(times, float))


class LinearCoxPrognosis(BaseEstimator):
    """The classical comparator on the same inputs: a ridge-penalised Cox model (lifelines) after
    median imputation with a missing-indicator per input that had missing values in training."""

    def __init__(self, penalizer: float = 0.05):
        self.penalizer = penalizer

    def fit(self, Y: pd.DataFrame, X: pd.DataFrame) -> LinearCoxPrognosis:
        from lifelines import CoxPHFitter
        from sklearn.feature_selection import VarianceThreshold
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        Xf = PrognosisModel._inputs(X)
        self.inputs_ = [c for c in Xf.columns if Xf[c].notna().any()]  # never-seen inputs: out
        Xf = Xf[self.inputs_]
        self.preprocess_ = make_pipeline(
            SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=False),
            VarianceThreshold(0.0), StandardScaler(),
        )
        Z = self.preprocess_.fit_transform(Xf)
        frame = pd.DataFrame(Z, columns=[f"z{i}" for i in range(Z.shape[1])]).assign(
            time=np.asarray(Y["time"], float), event=np.asarray(Y["event"], int))
        self.model_ = CoxPHFitter(penalizer=self.penalizer).fit(frame, "time", "event")
        return self

    def _z(self, X: pd.DataFrame) -> pd.DataFrame:
        Z = self.preprocess_.transform(PrognosisModel._inputs(X)[self.inputs_])
        return pd.DataFrame(Z, columns=[f"z{i}" for i in range(Z.shape[1])])

    def predict_log_risk(self, X: pd.DataFrame) -> np.ndarray:
        return np.log(self.model_.predict_partial_hazard(self._z(X)).to_numpy(float))

    def predict_survival(self, X: pd.DataFrame, times) -> np.ndarray:
        return self.survival_from_log_risk(self.predict_log_risk(X), times)

    def survival_from_log_risk(self, log_risk, times) -> np.ndarray:
        """lifelines' Breslow baseline is for centred covariates, as its partial hazard is."""
        base = self.model_.baseline_cumulative_hazard_
        return cox_survival(base.index.to_numpy(float), base.iloc[:, 0].to_numpy(float),
                            np.asarray(log_risk, float), np.asarray(times, float))
