"""Discrimination: Harrell's C (prognosis, per arm) and C-for-benefit (treatment benefit)."""

from __future__ import annotations

import numpy as np
from lifelines.utils import concordance_index


def harrell_c(time: np.ndarray, event: np.ndarray, predicted_survival_score: np.ndarray) -> float:
    """Harrell's C via lifelines; the score is higher for longer predicted survival (e.g. RMST)."""
    return float(concordance_index(time, predicted_survival_score, event))


def match_on_benefit(benefit: np.ndarray, arm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """1:1 rank matching of treated (arm 1) and control (arm 0) patients on predicted benefit.

    Both arms are sorted by predicted benefit; each patient of the smaller arm (m patients) is
    paired with the patient at the same quantile of the larger arm (M): rank floor((i + 0.5) M / m).
    Deterministic, and equal to nearest-rank matching when the arms have equal size
    (van Klaveren et al., J Clin Epidemiol 2018 match on predicted benefit).
    Returns (treated_index, control_index) of the pairs.
    """
    treated = np.flatnonzero(arm == 1)
    control = np.flatnonzero(arm == 0)
    treated = treated[np.argsort(benefit[treated], kind="stable")]
    control = control[np.argsort(benefit[control], kind="stable")]
    small, large = (treated, control) if len(treated) <= len(control) else (control, treated)
    m, big_m = len(small), len(large)
    chosen = large[np.floor((np.arange(m) + 0.5) * big_m / m).astype(int)]
    return (small, chosen) if small is treated else (chosen, small)


def pair_observed_benefit(
    time: np.ndarray, event: np.ndarray, treated: np.ndarray, control: np.ndarray
) -> np.ndarray:
    """Observed benefit of each (treated, control) pair: who progressed later, censoring-aware.

    +1 if the control patient's event was observed before the treated patient's time (the treated
    patient demonstrably lived longer progression-free), -1 for the mirror case, 0 if both had an
    event at the same time, NaN if censoring hides the order (such pairs are dropped, as Harrell's
    C drops unusable pairs).
    """
    tt, tc = time[treated], time[control]
    et, ec = event[treated].astype(bool), event[control].astype(bool)
    out = np.full(len(treated), np.nan)
    out[ec & (tc < tt)] = 1.0
    out[et & (tt < tc)] = -1.0
    out[et & ec & (tt == tc)] = 0.0
    return out


def c_for_benefit(
    time: np.ndarray, event: np.ndarray, arm: np.ndarray, predicted_benefit: np.ndarray
) -> float:
    """C-for-benefit (van Klaveren et al., J Clin Epidemiol 2018), for censored outcomes.

    Pairs matched on predicted benefit (``match_on_benefit``) get predicted benefit = the mean of
    their two predictions and an observed benefit in {-1, 0, +1} (``pair_observed_benefit``). The
    C-statistic is the share of pairs-of-pairs with different observed benefit in which the pair
    with the larger observed benefit also has the larger predicted benefit (ties in prediction
    count 1/2). Not a proper scoring rule (Xia et al. 2023): report beside calibration of benefit.
    """
    time, event = np.asarray(time, float), np.asarray(event, int)
    arm, pred = np.asarray(arm, int), np.asarray(predicted_benefit, float)
    treated, control = match_on_benefit(pred, arm)
    obs = pair_observed_benefit(time, event, treated, control)
    pair_pred = (pred[treated] + pred[control]) / 2
    keep = ~np.isnan(obs)
    obs, pair_pred = obs[keep], pair_pred[keep]
    higher = obs[:, None] > obs[None, :]  # pair i observed more benefit than pair j
    if not higher.any():
        return float("nan")
    diff = pair_pred[:, None] - pair_pred[None, :]
    score = (diff > 0) + 0.5 * (diff == 0)
    return float(score[higher].mean())
