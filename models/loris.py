"""LORIS, the logistic regression-based immunotherapy-response score (Chang et al., Nature Cancer
2024), NSCLC-specific model, as a published comparator of the prognosis model.

S = 0.0353 min(TMB, 50) + 0.0111 PD-L1 TPS - 0.375 prior systemic therapy + 0.2924 albumin
    - 0.0103 min(NLR, 25) - 1.5593;  P(response) = 1 / (1 + exp(-S))
(coefficients as in ../shared/docs/science.md, from Chang et al. 2024). TMB in mut/Mb, PD-L1 in %,
albumin in g/dL, prior therapy 0/1. Higher LORIS means a likelier response and longer survival.

LORIS needs every input; the published model has no rule for a missing one. Here a missing input
is replaced by a value chosen on the *training* patients of the comparison (their median), and
the share replaced is reported, so the comparator sees what the prognosis model sees.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

COEFFICIENTS = {"tmb": 0.0353, "pdl1_tps": 0.0111, "prior_therapy": -0.375, "albumin": 0.2924,
                "nlr": -0.0103}
INTERCEPT = -1.5593
CAPS = {"tmb": 50.0, "nlr": 25.0}
INPUTS = ("tmb", "pdl1_tps", "prior_lines", "albumin", "nlr")


def loris_fill_values(X: pd.DataFrame) -> dict[str, float]:
    """Medians of LORIS's inputs (prior therapy as 0/1) on the patients a comparison trains on."""
    frame = _inputs(X)
    return {c: float(frame[c].median()) if frame[c].notna().any() else float("nan")
            for c in frame.columns}


def loris_score(X: pd.DataFrame, fill: dict[str, float]) -> np.ndarray:
    """The linear predictor S of LORIS for each row of ``X`` (pipeline feature names)."""
    frame = _inputs(X).fillna(fill)
    s = np.full(len(frame), INTERCEPT)
    for name, coef in COEFFICIENTS.items():
        value = frame[name].to_numpy(float)
        s += coef * np.minimum(value, CAPS[name]) if name in CAPS else coef * value
    return s


def _inputs(X: pd.DataFrame) -> pd.DataFrame:
    frame = X.reindex(columns=list(INPUTS)).astype(float)
    prior = frame.pop("prior_lines")
    frame["prior_therapy"] = (prior > 0).astype(float).where(prior.notna())
    return frame
