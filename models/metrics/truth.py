"""Metrics that need the true benefit (only on simulated or semi-synthetic data)."""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score


def pehe(predicted_gain: np.ndarray, true_gain: np.ndarray) -> float:
    """Precision in estimating heterogeneous effects: RMSE of predicted vs true gain."""
    d = np.asarray(predicted_gain, float) - np.asarray(true_gain, float)
    return float(np.sqrt(np.mean(d**2)))


def spearman(predicted_gain: np.ndarray, true_gain: np.ndarray) -> float:
    """Rank correlation; NaN when either side is one constant (an average served to all)."""
    predicted_gain, true_gain = np.asarray(predicted_gain, float), np.asarray(true_gain, float)
    if np.ptp(predicted_gain) == 0 or np.ptp(true_gain) == 0:
        return float("nan")
    return float(spearmanr(predicted_gain, true_gain)[0])


def auroc_benefiters(
    predicted_gain: np.ndarray, true_gain: np.ndarray, threshold: float = 0.0
) -> float:
    """AUROC of predicted gain for the true benefiters, defined as true gain > ``threshold``.

    NaN when everyone (or no one) is a true benefiter, e.g. in the null scenario.
    """
    labels = np.asarray(true_gain, float) > threshold
    if labels.all() or not labels.any():
        return float("nan")
    return float(roc_auc_score(labels, predicted_gain))


def policy_regret(predicted_gain: np.ndarray, true_gain: np.ndarray) -> float:
    """Value lost by "RT if predicted gain > 0" against the oracle "RT if true gain > 0".

    The value of a policy pi is mean(S_ICI) + mean(pi * true_gain) (patients given RT get their
    true gain), so regret = mean(max(true_gain, 0)) - mean(1{predicted > 0} * true_gain) >= 0,
    in the units of the gain (e.g. PFS probability at 6 months).
    """
    true_gain = np.asarray(true_gain, float)
    treat = np.asarray(predicted_gain, float) > 0
    return float(np.mean(np.maximum(true_gain, 0)) - np.mean(treat * true_gain))
