"""The held-out criterion that selects learners and decides promotion.

A benefit model is judged on what it predicts, the gain, not on prognosis alone (PATH statement,
Kent et al. 2020). The loss is the mean squared error against a doubly robust, censoring-adjusted
pseudo-outcome of the gain (models.pseudo_outcomes: IPCW outcomes, AIPW with the *known*
randomisation probability). For any prediction tau_hat, E[(psi - tau_hat)^2] = E[(tau - tau_hat)^2]
+ constant, so differences in this loss are differences in the error of the predicted gain.

Selection and promotion use ``adjusted_pseudo_outcomes``: the outcome models are T-learner
curves of the patients' features fitted on other patients (cross-fitted), which lowers the
pseudo-outcome's variance (about 9 months of SD with arm means only) without biasing it, since
the randomisation probability is known. ``pseudo_outcomes`` (arm means, no covariates) remains
for cohorts too small to fit an outcome model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from models.base import ESTIMANDS
from models.pseudo_outcomes import aipw_from_means, ipcw_outcomes

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
    mu0, mu1 = ({k: y_star[k][arm == a].mean() for k in ESTIMANDS} for a in (0, 1))
    psi = aipw_from_means(y_star, arm, mu0, mu1, e)
    psi.index = Y.index
    return psi


def adjusted_pseudo_outcomes(
    Y: pd.DataFrame, T, X: pd.DataFrame, *, n_folds: int = 2, seed: int = 0, nuisance=None,
    propensity: float | None = None,
) -> pd.DataFrame:
    """Covariate-adjusted AIPW pseudo-outcomes: the outcome models are T-learner curves of the
    patients' features, fitted on *other* patients: cross-fitted within (Y, T, X) over
    ``n_folds`` folds, or a given ``nuisance`` (fitted on other patients, e.g. the training part
    for a hold-out). With the known randomisation probability the pseudo-outcome stays unbiased
    for any outcome model; a good one only lowers its variance (Kennedy 2023), which is what
    makes differences between learners detectable. Censoring is handled by augmented IPCW with
    the same curves (``augmented_ipcw_outcomes``): the larger variance reduction."""
    from models.base import BENEFIT_GRID_MONTHS
    from models.pseudo_outcomes import (
        aipw_pseudo_outcomes,
        augmented_ipcw_outcomes,
        cross_fit_folds,
    )
    from models.t_learner import TLearner

    time = np.asarray(Y["time"], dtype=float)
    event = np.asarray(Y["event"], dtype=int)
    arm = np.asarray(T, dtype=int)
    e = float(arm.mean()) if propensity is None else float(propensity)
    s0 = np.empty((len(time), len(BENEFIT_GRID_MONTHS)))
    s1 = np.empty_like(s0)
    if nuisance is not None:
        s0[:], s1[:] = nuisance.predict_survival(X, BENEFIT_GRID_MONTHS)
    else:
        for k, (train, test) in enumerate(cross_fit_folds(arm, event, n_folds, seed)):
            model = TLearner(random_state=seed + k).fit(Y.iloc[train], arm[train], X.iloc[train])
            s0[test], s1[test] = model.predict_survival(X.iloc[test], BENEFIT_GRID_MONTHS)
    own = np.where(arm[:, None] == 1, s1, s0)
    psi = aipw_pseudo_outcomes(augmented_ipcw_outcomes(time, event, arm, own), arm, s0, s1, e)
    psi.index = Y.index
    return psi


def benefit_loss(pseudo_outcome, predicted_gain) -> float:
    """Mean squared error of the predicted gain against the pseudo-outcome (lower is better)."""
    return float(np.mean((np.asarray(pseudo_outcome) - np.asarray(predicted_gain)) ** 2))


PROMOTION_ALPHA = 0.05  # one-sided level of the paired promotion test (pre-specified)


def promotion_test(pseudo_outcome, new_gain, champion_gain,
                   alpha: float = PROMOTION_ALPHA) -> tuple[bool, float, float, float]:
    """Is the new model's benefit loss lower than the champion's on the same patients?

    Paired one-sided z-test of H0: loss(new) >= loss(champion). Returns (promote, difference,
    its standard error, p-value); with fewer than 10 patients nothing is promoted.
    """
    psi = np.asarray(pseudo_outcome)
    return paired_loss_test((psi - np.asarray(new_gain)) ** 2,
                            (psi - np.asarray(champion_gain)) ** 2, alpha)


def paired_loss_test(loss_new, loss_champion,
                     alpha: float = PROMOTION_ALPHA) -> tuple[bool, float, float, float]:
    """Paired one-sided z-test of H0: mean loss(new) >= mean loss(champion), from per-patient
    losses of the same patients. (promote, difference, standard error, p-value); fewer than 10
    patients promote nothing."""
    d = np.asarray(loss_new, float) - np.asarray(loss_champion, float)
    if len(d) < 10:
        return False, float("nan"), float("nan"), 1.0
    diff, se = float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d)))
    p = float(norm.cdf(diff / se)) if se > 0 else (0.0 if diff < 0 else 1.0)
    return p < alpha, diff, se, p


def ipcw_brier_losses(time, event, survival: np.ndarray, times) -> np.ndarray:
    """Each patient's IPCW Brier loss summed over ``times`` (Graf et al., Stat Med 1999): the
    per-patient terms whose mean is the IPCW Brier score, so two prognosis models can be compared
    patient by patient. ``survival[:, k]`` is the predicted S(times[k])."""
    from models.survival import km_censoring_survival

    time, event = np.asarray(time, float), np.asarray(event, int)
    loss = np.zeros(len(time))
    for k, t in enumerate(np.asarray(times, float)):
        case, control = (event == 1) & (time <= t), time > t
        g_case = km_censoring_survival(time, event, time[case])
        g_t = km_censoring_survival(time, event, np.array([t]))[0]
        loss[case] += survival[case, k] ** 2 / np.maximum(g_case, 1e-3)
        loss[control] += (1.0 - survival[control, k]) ** 2 / max(g_t, 1e-3)
    return loss
