"""The held-out criterion that selects learners and decides promotion.

A benefit model is judged on what it predicts, the gain, not on prognosis alone (PATH statement,
Kent et al. 2020). The loss is the mean squared error against a doubly robust, censoring-adjusted
pseudo-outcome of the gain (models.pseudo_outcomes: IPCW outcomes, AIPW with the *known*
randomisation probability). For any prediction tau_hat, E[(psi - tau_hat)^2] = E[(tau - tau_hat)^2]
+ constant, so differences in this loss are differences in the error of the predicted gain.

The outcome term of the AIPW here is each arm's IPCW mean (no covariates), so the criterion favours
no candidate learner's own survival model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from models.base import ESTIMANDS
from models.pseudo_outcomes import ipcw_outcomes

SELECTION_ESTIMAND = "rmst_gain_12mo"


def pseudo_outcomes(
    Y: pd.DataFrame, T: np.ndarray | pd.Series, propensity: float | None = None
) -> pd.DataFrame:
    """Per-patient unbiased pseudo-outcome of each benefit estimand."""
    time = np.asarray(Y["time"], dtype=float)
    event = np.asarray(Y["event"], dtype=int)
    arm = np.asarray(T, dtype=int)
    e = float(arm.mean()) if propensity is None else float(propensity)
    y_star = ipcw_outcomes(time, event, arm)
    out = {}
    for k in ESTIMANDS:
        mu1, mu0 = y_star[k][arm == 1].mean(), y_star[k][arm == 0].mean()
        out[k] = (mu1 - mu0) + arm * (y_star[k] - mu1) / e - (1 - arm) * (y_star[k] - mu0) / (1 - e)
    return pd.DataFrame(out, index=Y.index)


def benefit_loss(pseudo_outcome, predicted_gain) -> float:
    """Mean squared error of the predicted gain against the pseudo-outcome (lower is better)."""
    return float(np.mean((np.asarray(pseudo_outcome) - np.asarray(predicted_gain)) ** 2))


PROMOTION_ALPHA = 0.05  # one-sided level of the paired promotion test (pre-specified)


def paired_difference(pseudo_outcome, gain_a, gain_b) -> tuple[float, float]:
    """Loss(a) - loss(b) and its standard error over the same patients."""
    psi = np.asarray(pseudo_outcome)
    d = (psi - np.asarray(gain_a)) ** 2 - (psi - np.asarray(gain_b)) ** 2
    return float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d)))


def promotion_test(pseudo_outcome, new_gain, champion_gain,
                   alpha: float = PROMOTION_ALPHA) -> tuple[bool, float, float, float]:
    """Is the new model's benefit loss lower than the champion's on the same patients?

    Paired one-sided z-test of H0: loss(new) >= loss(champion). Returns (promote, difference,
    its standard error, p-value); with fewer than 10 patients nothing is promoted.
    """
    if len(np.asarray(pseudo_outcome)) < 10:
        return False, float("nan"), float("nan"), 1.0
    diff, se = paired_difference(pseudo_outcome, new_gain, champion_gain)
    p = float(norm.cdf(diff / se)) if se > 0 else (0.0 if diff < 0 else 1.0)
    return p < alpha, diff, se, p
