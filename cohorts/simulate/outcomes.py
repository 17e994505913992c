"""Potential outcomes under both arms, the true per-patient benefit, then what a trial observes.

Model (per patient i, arm a in {0 = ICI alone, 1 = RT then ICI}; docs/virtual-trial.md):

- a *long-term responder* class with probability p_a(i): logit p_0 = intercept + hot(i), where
  the hotness index reads the hidden inflamed state, true TMB, STK11, albumin, NLR, prior lines
  and the unobserved host immune fitness (``cohorts.simulate.latent``). Long-term responders
  progress slowly (exponential, median ``LONG_TERM_MEDIAN``): the plateau (cure-like fraction).
- the others progress fast: log-normal with log-median mu(i) from observed prognostic factors.
- RT acts through an effect size e(i) >= 0: coldness (Huang et al., Nat Cancer 2025: cold tumours
  gain most) times a log-normal factor of the unobserved RT-specific biology ``R`` (irradiated
  site and dose, HLA). RT *delays* every non-responder progression that would come after the
  first restaging scan by ``delay_months`` x e(i) months (local control of the irradiated
  lesion, abscopal slowing; progression visible at the first scan is not prevented), adds
  ``responder_logit`` x e(i) to the durable-response logit, and raises transient responses at
  12 weeks. The delay moves the RT arm's median a long way (1.9 -> ~5.9 months) while early
  hazards match and later ones catch up, so the hazard ratio stays near 0.6-0.7: how PEMBRO-RT's
  medians (1.9 vs 6.6) coexist with its HR 0.71 (Theelen et al., JAMA Oncol 2019).

Both arms share the patient's random numbers (common random numbers), so the ``null`` scenario
gives identical potential outcomes and every scenario's per-patient gain is well defined.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy.special import expit, ndtr

from cohorts.simulate.covariates import LDH_ULN, reference_moments
from cohorts.simulate.latent import IndexWeights

MONTHS_PER_WEEK = 12 / 52.18


@dataclass(frozen=True)
class Scenario:
    """How adding RT acts (see the module docstring; docs/virtual-trial.md, "Scenarios").

    ``responder_logit`` and ``delay_months`` scale the effect e(i); ``heterogeneity`` shrinks
    e(i) towards ``EFFECT_MEAN`` (1 = as simulated, 0.5 = half as heterogeneous); ``latent_only``
    replaces coldness by unobserved biology alone; ``harm_log_time`` / ``harm_logit`` apply to
    the harm subgroup (ECOG >= 2 or LDH > HARM_LDH_ULN_MULTIPLE x ULN), who get no benefit;
    ``omics_missing`` selects the missingness profile (``cohorts.simulate.missingness``).
    """

    responder_logit: float
    delay_months: float
    transient_pr: float
    heterogeneity: float = 1.0
    latent_only: bool = False
    harm_log_time: float = 0.0
    harm_logit: float = 0.0
    omics_missing: str = "published"


# Calibrated (docs/virtual-trial.md) so that, computed from the written files, median PFS,
# 12-week ORR and hazard ratios land on PEMBRO-RT's published figures (Theelen et al., JAMA Oncol
# 2019; Huang et al., Nat Cancer 2025); `weak`, `harm`, `latent`, `missing` are stress tests.
_PUBLISHED = Scenario(responder_logit=0.6, delay_months=9.0, transient_pr=0.5)
SCENARIOS = {
    "published": _PUBLISHED,
    "weak": Scenario(responder_logit=0.35, delay_months=1.6, transient_pr=0.15, heterogeneity=0.5),
    "null": Scenario(responder_logit=0.0, delay_months=0.0, transient_pr=0.0),
    "harm": replace(_PUBLISHED, harm_log_time=0.45, harm_logit=0.5),
    "latent": replace(_PUBLISHED, latent_only=True),
    "missing": replace(_PUBLISHED, omics_missing="high"),
    "strong": replace(_PUBLISHED, responder_logit=1.2, delay_months=12.0, transient_pr=0.6),
}

# ---- ICI-alone model (calibration constants; sources of the targets in docs/virtual-trial.md)
RESPONDER_INTERCEPT = -1.55  # -> ~20% long-term responders, ORR ~18% (PEMBRO-RT ICI arm)
# Hotness: inflamed state and TMB drive ICI response (Ayers 2017; LORIS, Chang et al. 2024: TMB,
# albumin, NLR, prior therapy); STK11 lowers it further (Skoulidis et al., Cancer Discov 2018);
# host immune fitness is unobserved. Weights are ASSUMPTIONS.
HOT_CLINICAL = {"albumin": 0.2, "log_nlr": -0.2, "prior_lines": -0.15}
# Cold score for the RT effect: inflamed state, TMB and true PD-L1 (Huang 2025's cold: low TMB,
# PD-L1 null or Wnt-pathway mutation); coldness = expit(-(cold - COLD_CENTRE) / COLD_SCALE).
INDEX_WEIGHTS = IndexWeights(
    hot_inflamed=0.9, hot_tmb=0.4, hot_stk11=-0.4, host_fitness_sd=0.5,
    cold_inflamed=0.6, cold_tmb=0.5, cold_pdl1=1.0, cold_wnt=-1.0,
)
COLD_CENTRE = 0.2
COLD_SCALE = 0.35
# Unobserved RT-specific biology: e(i) = coldness x exp(R_SD * R - R_SD^2 / 2), R ~ N(0, 1)
# (ASSUMPTION; irradiated site and dose, HLA: no input carries them).
R_SD = 0.35
# `latent` scenario: e(i) = LATENT_SCALE x expit(R / LATENT_SLOPE), no observed input involved.
LATENT_SCALE, LATENT_SLOPE = 1.2, 0.5
EFFECT_MEAN = 0.6  # population mean of e(i) in `published` (0.595 in 20,000 patients; the centre
# of the `weak` shrinkage)
# Harm subgroup (`harm` scenario): rapidly progressing or frail patients cannot afford the weeks
# RT adds before ICI (ASSUMPTION: ECOG >= 2 or LDH > 1.5 x ULN; LIPI, Mezquita 2018).
HARM_LDH_ULN_MULTIPLE = 1.5
# Non-responders: log-normal progression; median before prognostic shifts ASSUMPTION 1.6 months
# (first scan at 6-9 weeks), sigma 0.75; prognostic shifts on the log scale (LIPI: LDH, NLR;
# Mezquita et al. 2018; ECOG >= 2; albumin).
NONRESPONDER_MEDIAN = 1.6
SIGMA = 0.75
PROGNOSTIC = {"albumin": 0.12, "log_nlr": -0.10, "ecog2": -0.25, "ldh_high": -0.15}
LONG_TERM_MEDIAN = 30.0  # months, long-term responders (ASSUMPTION; 12-month PFS ~76%)
LAMBDA_LONG = np.log(2) / LONG_TERM_MEDIAN
# Post-progression survival: log-normal, median 5 months (non-responders) / 12 months
# (long-term responders), sigma 0.9 (ASSUMPTION; gives OS medians near PEMBRO-RT's 7.6 months).
PPS_MEDIAN = {"nonresponder": 5.0, "responder": 12.0}
PPS_SIGMA = 0.9
# Response at 12 weeks (RECIST): long-term responders CR 15% / PR 70%; other patients progression-
# free at 12 weeks PR 5% (ICI alone) or 5% + transient_pr x e(i) after RT (transient abscopal
# responses, Huang 2025); progression before the first scan (6 weeks) is PD, otherwise SD.
RESPONDER_CR, RESPONDER_PR, LATE_PR = 0.15, 0.70, 0.05
FIRST_SCAN_MONTHS = 6 * MONTHS_PER_WEEK
RESPONSE_WEEK_MONTHS = 12 * MONTHS_PER_WEEK
# RT delays only progressions that would come after the first restaging scan (6 weeks):
# progression visible at the first scan (new lesions, rapid growth) is not prevented by
# irradiating one lesion (ASSUMPTION; it lets the medians move far while early hazards match).
DELAY_AFTER_MONTHS = FIRST_SCAN_MONTHS
# Censoring (ASSUMPTIONS): staggered accrual uniform over ACCRUAL_MONTHS, cut-off
# MIN_FOLLOW_UP_MONTHS after the last patient (follow-up 3-36 months); dropout (withdrawal,
# loss, clinical deterioration without a scan) exponential at DROPOUT_PER_MONTH, multiplied by
# DROPOUT_ECOG2_RATIO for ECOG >= 2: informative through a baseline covariate, so IPCW given
# ECOG is needed.
ACCRUAL_MONTHS, MIN_FOLLOW_UP_MONTHS = 33.0, 3.0
DROPOUT_PER_MONTH = 0.045
DROPOUT_ECOG2_RATIO = 3.0
HORIZONS = (6.0, 12.0)
RMST_HORIZON = 12.0
CURVE_MONTHS = np.linspace(0.0, 24.0, 49)  # the serving grid (models.base.SURVIVAL_GRID_MONTHS)


def _z(x: pd.Series, name: str, transform) -> np.ndarray:
    """Standardise with the fixed real-world moments (covariates.reference_moments)."""
    m, sd = reference_moments(name, transform)
    return (transform(x.to_numpy()) - m) / sd


def _log_nlr(x):
    return np.log(x + 0.1)


def clinical_hot(baseline: pd.DataFrame) -> np.ndarray:
    """The always-observed clinical part of the hotness index (plus the intercept)."""
    return (RESPONDER_INTERCEPT
            + HOT_CLINICAL["albumin"] * _z(baseline["albumin"], "albumin", np.asarray)
            + HOT_CLINICAL["log_nlr"] * _z(baseline["nlr"], "nlr", _log_nlr)
            + HOT_CLINICAL["prior_lines"] * (baseline["prior_lines"].to_numpy() - 1))


def log_median(baseline: pd.DataFrame) -> np.ndarray:
    """Non-responders' log-median PFS from the observed prognostic factors."""
    return (np.log(NONRESPONDER_MEDIAN)
            + PROGNOSTIC["albumin"] * _z(baseline["albumin"], "albumin", np.asarray)
            + PROGNOSTIC["log_nlr"] * _z(baseline["nlr"], "nlr", _log_nlr)
            + PROGNOSTIC["ecog2"] * (baseline["ecog"].to_numpy() >= 2)
            + PROGNOSTIC["ldh_high"] * (baseline["ldh"].to_numpy() > LDH_ULN))


def harmed(baseline: pd.DataFrame, scenario: Scenario) -> np.ndarray:
    """Patients the scenario harms (none unless it sets a harm)."""
    if not (scenario.harm_log_time or scenario.harm_logit):
        return np.zeros(len(baseline), bool)
    return ((baseline["ecog"].to_numpy() >= 2)
            | (baseline["ldh"].to_numpy() > HARM_LDH_ULN_MULTIPLE * LDH_ULN))


def effect_size(cold: np.ndarray, r: np.ndarray, scenario: Scenario) -> np.ndarray:
    """e(i) >= 0 from the cold score and the unobserved RT factor R (broadcasts)."""
    if scenario.latent_only:
        e = LATENT_SCALE * expit(r / LATENT_SLOPE)
    else:
        e = expit(-(cold - COLD_CENTRE) / COLD_SCALE) * np.exp(R_SD * r - R_SD**2 / 2)
    if scenario.heterogeneity != 1.0:
        e = EFFECT_MEAN + scenario.heterogeneity * (e - EFFECT_MEAN)
    return e


def r_at_effect(cold: np.ndarray, effect: float, scenario: Scenario) -> np.ndarray:
    """The R at which e(i) reaches ``effect`` (``effect_size`` inverted; e rises with R):
    -inf when every R exceeds it, +inf when none reaches it."""
    target = np.asarray(effect, float)
    if scenario.heterogeneity != 1.0:
        target = EFFECT_MEAN + (target - EFFECT_MEAN) / scenario.heterogeneity
    with np.errstate(divide="ignore", invalid="ignore"):
        if scenario.latent_only:
            q = target / LATENT_SCALE
            r = np.where(q <= 0, -np.inf,
                         np.where(q >= 1, np.inf, LATENT_SLOPE * np.log(q / (1 - q))))
            return np.broadcast_to(r, np.shape(cold))
        base = expit(-(cold - COLD_CENTRE) / COLD_SCALE)
        return np.where(target <= 0, -np.inf, (np.log(target / base) + R_SD**2 / 2) / R_SD)


@dataclass
class ArmParameters:
    """Both arms' mixture parameters (arrays broadcasting over patients and integration nodes)."""

    p_ici: np.ndarray
    p_rt: np.ndarray
    mu: np.ndarray  # non-responders' log-median under ICI
    delay: np.ndarray  # months RT adds to non-responders' PFS past the first scan
    harm: np.ndarray  # log-time shortening of non-responders' PFS by RT (harm scenario)
    effect: np.ndarray


def arm_parameters(hot, cold, r, mu, harmed, scenario: Scenario) -> ArmParameters:
    e = effect_size(cold, r, scenario) * ~harmed
    lp = np.asarray(hot, float)
    p_ici = expit(lp)
    p_rt = expit(lp + scenario.responder_logit * e - scenario.harm_logit * harmed)
    return ArmParameters(p_ici=p_ici, p_rt=p_rt, mu=np.asarray(mu, float),
                         delay=scenario.delay_months * e, harm=scenario.harm_log_time * harmed,
                         effect=e)


def _lognormal_sf(t, mu):
    with np.errstate(divide="ignore"):
        return ndtr(-(np.log(t) - mu) / SIGMA)


def _lognormal_rmst(tau, mu):
    """Restricted mean of a log-normal(mu, SIGMA) up to ``tau`` (closed form; 0 for tau <= 0)."""
    tau = np.maximum(tau, 1e-12)
    z = (np.log(tau) - mu) / SIGMA
    return np.exp(mu + SIGMA**2 / 2) * ndtr(z - SIGMA) + tau * ndtr(-z)


def _nonresponder_sf(t, mu, delay, harm):
    """Non-responders after RT: T' = T exp(-harm), plus ``delay`` when T' is past the first
    scan (RT postpones later progressions and leaves those visible at the first scan)."""
    t0 = DELAY_AFTER_MONTHS
    at = np.where(t < t0, t, np.maximum(t0, t - delay))
    return _lognormal_sf(np.maximum(at, 1e-12), mu - harm)


def _nonresponder_rmst(tau, mu, delay, harm):
    t0 = DELAY_AFTER_MONTHS
    m = mu - harm
    head = _lognormal_rmst(t0, m)
    plateau = _lognormal_sf(t0, m) * np.minimum(delay, tau - t0)
    tail = np.where(tau - delay > t0, _lognormal_rmst(np.maximum(tau - delay, t0), m) - head, 0.0)
    return head + plateau + tail


def survival(t, p, mu, delay=0.0, harm=0.0):
    """PFS probability at ``t`` months of the mixture (non-responders delayed / shortened)."""
    return p * np.exp(-LAMBDA_LONG * t) + (1 - p) * _nonresponder_sf(t, mu, delay, harm)


def rmst(tau, p, mu, delay=0.0, harm=0.0):
    """Restricted mean PFS up to ``tau`` months (closed form for both mixture parts)."""
    exp_part = (1 - np.exp(-LAMBDA_LONG * tau)) / LAMBDA_LONG
    return p * exp_part + (1 - p) * _nonresponder_rmst(tau, mu, delay, harm)


def estimands(a: ArmParameters, curve_months: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Every estimand the models report, from (broadcast) arm parameters.

    ``s_ici_6mo``, ``s_rt_ici_6mo``, ... at HORIZONS, ``rmst_ici_12mo``, ``rmst_rt_ici_12mo``;
    with ``curve_months`` also ``curve_ici`` / ``curve_rt_ici`` with a trailing time axis.
    """
    out = {}
    for h in HORIZONS:
        out[f"s_ici_{h:.0f}mo"] = survival(h, a.p_ici, a.mu)
        out[f"s_rt_ici_{h:.0f}mo"] = survival(h, a.p_rt, a.mu, a.delay, a.harm)
    out["rmst_ici_12mo"] = rmst(RMST_HORIZON, a.p_ici, a.mu)
    out["rmst_rt_ici_12mo"] = rmst(RMST_HORIZON, a.p_rt, a.mu, a.delay, a.harm)
    if curve_months is not None:
        t = np.asarray(curve_months, float)
        ex = (..., None)
        out["curve_ici"] = survival(t, a.p_ici[ex], a.mu[ex])
        out["curve_rt_ici"] = survival(t, a.p_rt[ex], a.mu[ex], a.delay[ex], a.harm[ex])
    return out


def gains(est: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The three benefit estimands from ``estimands`` output."""
    return {
        "pfs_gain_6mo": est["s_rt_ici_6mo"] - est["s_ici_6mo"],
        "pfs_gain_12mo": est["s_rt_ici_12mo"] - est["s_ici_12mo"],
        "rmst_gain_12mo": est["rmst_rt_ici_12mo"] - est["rmst_ici_12mo"],
    }


def potential_outcomes(rng: np.random.Generator, a: ArmParameters) -> pd.DataFrame:
    """PFS and OS under both arms, from random numbers shared by the two arms."""
    n = len(a.p_ici)
    u = rng.random(n)
    eps = rng.standard_normal(n)
    t_long = rng.exponential(1 / LAMBDA_LONG, n)
    pps_eps = rng.standard_normal(n)
    t_nonresp = np.exp(a.mu + SIGMA * eps)
    out = {}
    t_harmed = t_nonresp * np.exp(-a.harm)
    t_rt = t_harmed + a.delay * (t_harmed > DELAY_AFTER_MONTHS)
    for arm, p, nonresp in (("ici", a.p_ici, t_nonresp), ("rt", a.p_rt, t_rt)):
        responder = u < p
        pfs = np.where(responder, t_long, nonresp)
        pps_median = np.where(responder, PPS_MEDIAN["responder"], PPS_MEDIAN["nonresponder"])
        out[f"responder_{arm}"] = responder
        out[f"pfs_{arm}"] = np.maximum(pfs, 0.05)
        out[f"os_{arm}"] = out[f"pfs_{arm}"] + pps_median * np.exp(PPS_SIGMA * pps_eps)
    out["effect"] = a.effect
    return pd.DataFrame(out)


def censoring_times(rng: np.random.Generator, ecog: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Administrative follow-up (staggered accrual, fixed cut-off) and dropout times."""
    n = len(ecog)
    admin = MIN_FOLLOW_UP_MONTHS + ACCRUAL_MONTHS * rng.random(n)
    rate = DROPOUT_PER_MONTH * np.where(ecog >= 2, DROPOUT_ECOG2_RATIO, 1.0)
    return admin, rng.exponential(1 / rate)


def observe(rng: np.random.Generator, potential: pd.DataFrame, arm: np.ndarray,
            ecog: np.ndarray, transient_pr: float) -> pd.DataFrame:
    """Reveal the randomised arm's outcomes with administrative and dropout censoring."""
    n = len(arm)
    rt = arm == 1
    pfs = np.where(rt, potential["pfs_rt"], potential["pfs_ici"])
    os_ = np.where(rt, potential["os_rt"], potential["os_ici"])
    responder = np.where(rt, potential["responder_rt"], potential["responder_ici"])
    admin, dropout = censoring_times(rng, ecog)
    cens = np.minimum(admin, dropout)
    u = rng.random(n)
    late_pr = np.minimum(LATE_PR + rt * transient_pr * potential["effect"].to_numpy(), 0.9)
    best = np.where(
        pfs <= FIRST_SCAN_MONTHS, "PD",
        np.where(responder, np.where(u < RESPONDER_CR, "CR",
                                     np.where(u < RESPONDER_CR + RESPONDER_PR, "PR", "SD")),
                 np.where((pfs > RESPONSE_WEEK_MONTHS) & (u < late_pr), "PR", "SD")))
    # OS is censored at the administrative cut-off only (deaths are traced after dropout).
    return pd.DataFrame({
        "pfs_months": np.round(np.maximum(np.minimum(pfs, cens), 0.01), 3),
        "pfs_event": (pfs <= cens).astype(int),
        "os_months": np.round(np.maximum(np.minimum(os_, admin), 0.01), 3),
        "os_event": (os_ <= admin).astype(int),
        "best_response": best,
        "responder": responder,
        "pfs_true": pfs,
    })


