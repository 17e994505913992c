"""Potential outcomes under both arms, the true per-patient benefit, then what a trial observes.

Model (per patient i, arm a in {0 = ICI alone, 1 = RT then ICI}):

- a *long-term responder* class with probability p_a(i), logit p_0 = intercept + hotness(i),
  logit p_1 = logit p_0 + effect * coldness(i). Long-term responders progress slowly
  (exponential, median ``LONG_TERM_MEDIAN``). This mixture-cure shape gives the plateau and the
  non-proportional hazards implied by PEMBRO-RT's medians (1.9 vs 6.6 months) beside its modest
  HR 0.71 (Theelen et al., JAMA Oncol 2019).
- the others progress fast: log-normal with log-median mu(i) (prognostic factors), sigma
  ``SIGMA``; RT lengthens it by an acceleration factor exp(accel * coldness(i)) (local control of
  the irradiated lesion, abscopal slowing).
- coldness(i) in (0, 1) is high for tumours that are cold by Huang et al. (Nat Cancer 2025): low
  inflamed state (PD-L1 null goes with it), low TMB, Wnt-pathway mutation; so RT helps cold
  tumours most and hot tumours little, and PD-L1 negative patients gain most (PEMBRO-RT).

Both arms share the patient's random numbers (common random numbers), so the ``null`` scenario
gives identical potential outcomes and every scenario's per-patient gain is well defined.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit, logit

from cohorts.simulate.covariates import LDH_ULN, reference_moments

MONTHS_PER_WEEK = 12 / 52.18


@dataclass(frozen=True)
class EffectSize:
    """RT effect: logit shift of the long-term responder probability and log acceleration."""

    responder_logit: float
    log_acceleration: float


# Calibrated (docs/virtual-trial.md) so that, computed from the written files, median PFS,
# 12-week ORR and HR land on PEMBRO-RT's published figures (Theelen et al., JAMA Oncol 2019).
SCENARIOS = {
    "published": EffectSize(responder_logit=2.2, log_acceleration=1.0),
    "null": EffectSize(responder_logit=0.0, log_acceleration=0.0),
    "strong": EffectSize(responder_logit=3.4, log_acceleration=1.5),
}

# ---- ICI-alone model (calibration constants; sources of the targets in docs/virtual-trial.md)
RESPONDER_INTERCEPT = -1.6  # -> ~20% long-term responders, ORR ~18% (PEMBRO-RT ICI arm)
# Hotness: standardised inputs. Inflamed state and TMB drive ICI response (Ayers 2017; LORIS,
# Chang et al. 2024: TMB, albumin, NLR, prior therapy); STK11 co-mutation lowers it further
# (Skoulidis et al., Cancer Discov 2018); weights are ASSUMPTIONS.
HOT_WEIGHTS = {"inflamed": 1.0, "log_tmb": 0.45, "albumin": 0.2, "log_nlr": -0.2,
               "prior_lines": -0.15, "stk11": -0.4}
# Coldness for the RT effect: expit(-(cold_score - COLD_CENTRE) / COLD_SCALE), cold_score from
# the inflamed state, log TMB, PD-L1 < 1% and Wnt mutation (Huang 2025's definition of cold:
# low TMB, PD-L1 null or Wnt-pathway mutation). The large PD-L1 < 1% weight and the centre are
# calibrated so that the benefit is absent in PD-L1 positive patients, as in PEMBRO-RT.
COLD_WEIGHTS = {"inflamed": 1.0, "log_tmb": 0.5, "wnt": -1.0, "pdl1_negative": -2.5}
COLD_CENTRE = -1.0
COLD_SCALE = 0.25
# Non-responders: log-normal progression; median before prognostic shifts ASSUMPTION 1.6 months
# (first scan at 6-9 weeks), sigma 0.75; prognostic shifts on the log scale (LIPI: LDH, NLR;
# Mezquita et al. 2018; ECOG >= 2; albumin).
NONRESPONDER_MEDIAN = 1.6
SIGMA = 0.75
PROGNOSTIC = {"albumin": 0.12, "log_nlr": -0.10, "ecog2": -0.25, "ldh_high": -0.15}
LONG_TERM_MEDIAN = 30.0  # months, long-term responders (ASSUMPTION; 12-month PFS ~76%)
# Post-progression survival: log-normal, median 5 months (non-responders) / 12 months
# (long-term responders), sigma 0.9 (ASSUMPTION; gives OS medians near PEMBRO-RT's 7.6 months).
PPS_MEDIAN = {"nonresponder": 5.0, "responder": 12.0}
PPS_SIGMA = 0.9
# Response at 12 weeks (RECIST): long-term responders CR 15% / PR 70%; other patients progress-
# free at 12 weeks PR 5%; progression before the first scan (6 weeks) is PD, otherwise SD.
RESPONDER_CR, RESPONDER_PR, LATE_PR = 0.15, 0.70, 0.05
FIRST_SCAN_MONTHS = 6 * MONTHS_PER_WEEK
RESPONSE_WEEK_MONTHS = 12 * MONTHS_PER_WEEK
# Censoring: accrual uniform over 24 months, analysis 12 months after the last patient
# (administrative censoring U(12, 36) months); loss to follow-up 5% per year (ASSUMPTIONS).
ACCRUAL_MONTHS, MIN_FOLLOW_UP_MONTHS = 24.0, 12.0
LOSS_PER_YEAR = 0.05
HORIZONS = (6.0, 12.0)


def _z(x: pd.Series, name: str, transform) -> np.ndarray:
    """Standardise with the fixed real-world moments (covariates.reference_moments)."""
    m, sd = reference_moments(name, transform)
    return (transform(x.to_numpy()) - m) / sd


def _log_nlr(x):
    return np.log(x + 0.1)


def patient_model(baseline: pd.DataFrame, bio: pd.DataFrame, effect: EffectSize) -> pd.DataFrame:
    """Each patient's own outcome model: responder probability and log-median under each arm."""
    log_tmb = _z(baseline["tmb"], "tmb", np.log1p)
    inflamed = bio["inflamed"].to_numpy()
    hot = (HOT_WEIGHTS["inflamed"] * inflamed + HOT_WEIGHTS["log_tmb"] * log_tmb
           + HOT_WEIGHTS["albumin"] * _z(baseline["albumin"], "albumin", np.asarray)
           + HOT_WEIGHTS["log_nlr"] * _z(baseline["nlr"], "nlr", _log_nlr)
           + HOT_WEIGHTS["prior_lines"] * (baseline["prior_lines"].to_numpy() - 1)
           + HOT_WEIGHTS["stk11"] * baseline["stk11_mut"].to_numpy())
    cold_score = (COLD_WEIGHTS["inflamed"] * inflamed + COLD_WEIGHTS["log_tmb"] * log_tmb
                  + COLD_WEIGHTS["wnt"] * bio["wnt_mut"].to_numpy()
                  + COLD_WEIGHTS["pdl1_negative"] * (baseline["pdl1_tps"].to_numpy() < 1))
    coldness = expit(-(cold_score - COLD_CENTRE) / COLD_SCALE)
    p_ici = expit(RESPONDER_INTERCEPT + hot)
    p_rt = expit(logit(p_ici) + effect.responder_logit * coldness)
    mu = (np.log(NONRESPONDER_MEDIAN)
          + PROGNOSTIC["albumin"] * _z(baseline["albumin"], "albumin", np.asarray)
          + PROGNOSTIC["log_nlr"] * _z(baseline["nlr"], "nlr", _log_nlr)
          + PROGNOSTIC["ecog2"] * (baseline["ecog"].to_numpy() >= 2)
          + PROGNOSTIC["ldh_high"] * (baseline["ldh"].to_numpy() > LDH_ULN))
    return pd.DataFrame({"coldness": coldness, "p_ici": p_ici, "p_rt": p_rt, "mu_ici": mu,
                         "mu_rt": mu + effect.log_acceleration * coldness})


def survival(t: float, p: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """True PFS probability at ``t`` months from the patient's mixture model."""
    lam = np.log(2) / LONG_TERM_MEDIAN
    return p * np.exp(-lam * t) + (1 - p) * stats.norm.sf((np.log(t) - mu) / SIGMA)


def rmst(tau: float, p: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """True restricted mean PFS up to ``tau`` months (closed form for both mixture parts)."""
    lam = np.log(2) / LONG_TERM_MEDIAN
    exp_part = (1 - np.exp(-lam * tau)) / lam
    z = (np.log(tau) - mu) / SIGMA
    lognormal_part = np.exp(mu + SIGMA**2 / 2) * stats.norm.cdf(z - SIGMA) + tau * stats.norm.sf(z)
    return p * exp_part + (1 - p) * lognormal_part


def truth_table(patient_ids: np.ndarray, model: pd.DataFrame,
                potential: pd.DataFrame) -> pd.DataFrame:
    """truth.csv: uncensored potential PFS, true 6/12-month PFS and 12-month RMST gains."""
    out = {"patient_id": patient_ids,
           "pfs_months_ici": np.round(potential["pfs_ici"].to_numpy(), 4),
           "pfs_months_rt_ici": np.round(potential["pfs_rt"].to_numpy(), 4)}
    for h in HORIZONS:
        out[f"s_ici_{h:.0f}mo"] = np.round(survival(h, model["p_ici"], model["mu_ici"]), 6)
        out[f"s_rt_ici_{h:.0f}mo"] = np.round(survival(h, model["p_rt"], model["mu_rt"]), 6)
    for h in HORIZONS:
        out[f"true_pfs_gain_{h:.0f}mo"] = np.round(out[f"s_rt_ici_{h:.0f}mo"]
                                                   - out[f"s_ici_{h:.0f}mo"], 6)
    r = rmst(12.0, model["p_rt"], model["mu_rt"]) - rmst(12.0, model["p_ici"], model["mu_ici"])
    out["true_rmst_gain_12mo"] = np.round(r, 6)
    return pd.DataFrame(out)


def potential_outcomes(rng: np.random.Generator, model: pd.DataFrame) -> pd.DataFrame:
    """PFS and OS under both arms, from random numbers shared by the two arms."""
    n = len(model)
    u = rng.random(n)
    eps = rng.standard_normal(n)
    t_long = rng.exponential(LONG_TERM_MEDIAN / np.log(2), n)
    pps_eps = rng.standard_normal(n)
    out = {}
    for arm, p, mu in (("ici", model["p_ici"], model["mu_ici"]),
                       ("rt", model["p_rt"], model["mu_rt"])):
        responder = u < p.to_numpy()
        pfs = np.where(responder, t_long, np.exp(mu.to_numpy() + SIGMA * eps))
        pps_median = np.where(responder, PPS_MEDIAN["responder"], PPS_MEDIAN["nonresponder"])
        out[f"responder_{arm}"] = responder
        out[f"pfs_{arm}"] = np.maximum(pfs, 0.05)
        out[f"os_{arm}"] = out[f"pfs_{arm}"] + pps_median * np.exp(PPS_SIGMA * pps_eps)
    return pd.DataFrame(out)


def observe(rng: np.random.Generator, potential: pd.DataFrame, arm: np.ndarray) -> pd.DataFrame:
    """Reveal the randomised arm's outcomes with administrative and random censoring."""
    n = len(arm)
    rt = arm == 1
    pfs = np.where(rt, potential["pfs_rt"], potential["pfs_ici"])
    os_ = np.where(rt, potential["os_rt"], potential["os_ici"])
    responder = np.where(rt, potential["responder_rt"], potential["responder_ici"])
    admin = MIN_FOLLOW_UP_MONTHS + ACCRUAL_MONTHS * rng.random(n)
    lost = rng.exponential(12 / -np.log(1 - LOSS_PER_YEAR), n)
    cens = np.minimum(admin, lost)
    u = rng.random(n)
    best = np.where(
        pfs <= FIRST_SCAN_MONTHS, "PD",
        np.where(responder, np.where(u < RESPONDER_CR, "CR",
                                     np.where(u < RESPONDER_CR + RESPONDER_PR, "PR", "SD")),
                 np.where((pfs > RESPONSE_WEEK_MONTHS) & (u < LATE_PR), "PR", "SD")))
    return pd.DataFrame({
        "pfs_months": np.round(np.maximum(np.minimum(pfs, cens), 0.01), 3),
        "pfs_event": (pfs <= cens).astype(int),
        "os_months": np.round(np.maximum(np.minimum(os_, cens), 0.01), 3),
        "os_event": (os_ <= cens).astype(int),
        "best_response": best,
        "responder": responder,
        "pfs_true": pfs,
    })
