"""Carry a trial's relative effect of RT onto another ICI-alone baseline (the real-world one).

PREDICT-style (Wishart et al., Breast Cancer Res 2010; PATH statement, Kent et al. 2020): the
absolute prognosis comes from a population model, the relative treatment effect from the trial.
At every time t the trial's curves of a patient give the ratio of cumulative hazards
r(t | x) = H_rt(t | x) / H_ici(t | x), time-varying and patient-specific (no proportional-hazards
assumption); the real-world curves are S_ici(t | x) from the prognosis model and
S_rt(t | x) = S_ici(t | x) ** r(t | x). With S_ici equal to the trial's own curve this returns the
trial's curves unchanged. The assumption, stated in every response that uses it: the relative
effect transports from the trial to the real-world population.

The RT-then-ICI curve's pointwise band is the percentile band of S_ici ** r over the draws of the
trial's effect (the draws the gains' intervals come from). The real-world ICI-alone curve is the
prognosis model's point estimate, taken as known: it has no band here (None), as its uncertainty
is in none of the intervals.
"""

from __future__ import annotations

import numpy as np

from models.base import CurveBands

TINY_HAZARD = 1e-9  # below this cumulative hazard (t near 0) the ratio is taken as 1


def hazard_ratio_curve(s_ici: np.ndarray, s_rt: np.ndarray) -> np.ndarray:
    """r(t) = H_rt(t) / H_ici(t) elementwise (any matching shapes)."""
    h0 = -np.log(np.clip(s_ici, 1e-300, 1.0))
    h1 = -np.log(np.clip(s_rt, 1e-300, 1.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(h0 > TINY_HAZARD, h1 / h0, 1.0)


def transport(s_ici_trial: np.ndarray, s_rt_trial: np.ndarray,
              s_ici_baseline: np.ndarray) -> np.ndarray:
    """S_rt on the new baseline: ``s_ici_baseline ** r`` with r from the trial's two curves."""
    return np.clip(s_ici_baseline, 0.0, 1.0) ** hazard_ratio_curve(s_ici_trial, s_rt_trial)


def transported_benefit(
    s_ici_baseline: np.ndarray, ratio_draws: np.ndarray, alpha: float, rule,
    *, individual: bool = True, chunk: int = 100, bands: bool = False,
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, CurveBands | None]:
    """PREDICTION_COLUMNS on a new baseline, plus the mean curves on the extra times.

    ``s_ici_baseline``: (n, G) S_ici on BENEFIT_GRID_MONTHS followed by 6, 12 and any extra
    times; ``ratio_draws``: (M, n or 1, G) hazard-ratio curves, one per bootstrap draw of the
    trial's effect, or (scale (M, n), curve (M, G)) with r = scale * curve (Cox-type members:
    e^(f_rt - f_ici) and H0_rt / H0_ici; NaN where H0_ici = 0 means r = 1). Each draw gives
    S_rt = S_ici ** r and the estimands; the estimate, interval and P(gain >= MCID) come from
    the draws exactly as in BootstrapBenefit. ``individual=False``
    (the trial's average effect) recommends nothing individual. Returns (columns, S_ici, mean
    S_rt, bands) on the extra times; ``bands`` (with ``bands=True``, else None): the draws'
    pointwise ``1 - alpha`` percentile band of S_rt, none for the ICI-alone baseline.
    """
    from models.base import BENEFIT_GRID_MONTHS, ESTIMANDS, PREDICTION_COLUMNS, benefit_from_curves
    from models.ensemble import BootstrapBenefit, percentile_band, run_in_parts
    from models.recommend import recommend

    k = len(BENEFIT_GRID_MONTHS)
    n = len(s_ici_baseline)
    if isinstance(ratio_draws, tuple):  # (scale (M, n), curve (M, G)): r = scale * curve, NaN = 1
        scale, curve = ratio_draws
        n_draws = scale.shape[0]
        no_hazard = np.isnan(curve).astype(float)
        finite_curve = np.where(np.isnan(curve), 0.0, curve)
    else:
        scale = None
        n_draws = ratio_draws.shape[0]
    draws = {e: np.empty((n_draws, n)) for e in ESTIMANDS}
    s1_mean = np.empty_like(s_ici_baseline)
    n_extra = s_ici_baseline.shape[1] - k - 2
    band = np.empty((2, n, n_extra)) if bands else None
    def fill(start: int, stop: int) -> None:
        for lo in range(start, stop, chunk):
            hi = min(stop, lo + chunk)
            base = s_ici_baseline[lo:hi]
            if scale is not None:  # built per chunk: the (M, n, G) array never exists whole
                ratios = np.multiply(scale[:, lo:hi, None], finite_curve[:, None, :])
                ratios += no_hazard[:, None, :]  # r = 1 where the trial's ICI arm has no hazard
            else:
                ratios = ratio_draws if ratio_draws.shape[1] == 1 else ratio_draws[:, lo:hi]
            # S ** r as exp(r log S), in place; S = 0 stays 0
            s1 = np.multiply(ratios, np.log(np.clip(base, 1e-300, 1.0))[None])  # (M, c, G)
            np.exp(s1, out=s1)
            s1_mean[lo:hi] = s1.mean(axis=0)
            if band is not None:
                band[0, lo:hi], band[1, lo:hi] = percentile_band(s1[:, :, k + 2:], alpha)
            gains = benefit_from_curves(base[None, :, :k], s1[:, :, :k])
            for e in ESTIMANDS:
                draws[e][:, lo:hi] = gains[e]

    run_in_parts(fill, n)
    est, lower, upper = BootstrapBenefit._interval(
        np.stack([draws[e] for e in ESTIMANDS], axis=1), alpha)
    columns = {"s_ici_6mo": s_ici_baseline[:, k], "s_rt_ici_6mo": s1_mean[:, k],
               "s_ici_12mo": s_ici_baseline[:, k + 1], "s_rt_ici_12mo": s1_mean[:, k + 1]}
    for j, e in enumerate(ESTIMANDS):
        columns[e], columns[f"{e}_lower"], columns[f"{e}_upper"] = est[j], lower[j], upper[j]
    columns["probability_of_benefit"] = rule.probability(draws["rmst_gain_12mo"])
    columns["recommendation"] = (recommend(columns["probability_of_benefit"], rule) if individual
                                 else np.full(n, "uncertain", dtype=object))
    curve_bands = None if band is None else CurveBands(None, None, band[0], band[1])
    return ({c: columns[c] for c in PREDICTION_COLUMNS}, s_ici_baseline[:, k + 2:],
            s1_mean[:, k + 2:], curve_bands)
