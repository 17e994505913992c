"""The conditional truth: E[estimand | the patient's observed inputs].

This is what a model can estimate and what its intervals must cover (the individual value also
depends on biology no input carries). Two cases:

- **Every readout observed** (PD-L1 and the MAF present; the RNA biopsy may be absent): given the
  readouts, the hidden biology enters only through (hot, cold), bivariate normal with a closed
  form (``latent.IndexModel.given_biopsy``), and the RT factor R ~ N(0, 1), independent of
  everything. The expectation is Gauss-Hermite over (hot, cold) and Gauss-Legendre over R split
  where the RT delay crosses each horizon's corner (``_r_rule``), so every piece is smooth:
  exact up to quadrature error, measured against a much finer rule in
  tests/cohorts/test_conditional_truth.py.
- **PD-L1 or the MAF masked**: the masked readouts depend on the patient's other covariates
  through the copula (e.g. smoking raises TMB, prior therapy lowers PD-L1). Self-normalised
  importance sampling over the copula's latent normals: observed continuous covariates are
  fixed at their latent score, categorical ones (sex, smoking, histology, ECOG, prior lines,
  PD-L1 0) constrain their latent to an interval, masked ones are free. Draws of the interval
  latents come from independent truncated normals, weighted by the joint conditional density;
  masked latents are then drawn exactly; drivers from their published prevalences; an RNA
  biopsy, when present, reweights every draw by its likelihood. Unbiased as the draws grow; the
  Monte Carlo standard error of every patient's value is returned (``mc_se_*``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.special import expit, ndtr, ndtri

from cohorts.simulate import covariates as cov
from cohorts.simulate.biology import WNT_PREVALENCE
from cohorts.simulate.latent import (
    Readouts,
    index_model,
    latent_score,
    lookup_score,
    pdl1_score,
)
from cohorts.simulate.outcomes import (
    CURVE_MONTHS,
    DELAY_AFTER_MONTHS,
    INDEX_WEIGHTS,
    RMST_HORIZON,
    Scenario,
    arm_parameters,
    estimands,
    gains,
    r_at_effect,
    survival,
)

SCALAR_NODES = (6, 12)  # Gauss-Hermite nodes for (hot, cold) of the scalar estimands
CURVE_NODES = (4, 6)  # the same for the RT arm's curve (49 time points, each split on its own)
R_SEGMENT_NODES = 8  # Gauss-Legendre nodes per smooth segment of R (between the kinks)
IS_DRAWS = 768  # importance draws per patient with a masked readout
CHUNK = 256  # patients per vectorised block (bounds memory: CHUNK x nodes x 49 curve points)
SCALARS = ("s_ici_6mo", "s_rt_ici_6mo", "s_ici_12mo", "s_rt_ici_12mo", "rmst_ici_12mo",
           "rmst_rt_ici_12mo")


@dataclass(frozen=True)
class Observed:
    """What the files show of each patient (``None`` / NaN = masked)."""

    readouts: Readouts  # with NaN s_p (PD-L1 masked) and NaN flags / count -1 (MAF masked)
    b_hat: np.ndarray  # RNA biopsy readout estimated from expression.tsv (NaN: no biopsy)
    b_hat_var: float
    mu: np.ndarray  # non-responders' log-median (observed clinical)
    harmed: np.ndarray  # harm subgroup flag (observed clinical)
    copula: dict[str, np.ndarray]  # observed covariates the copula conditions on (see below)


def _hermite(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights for E[f(Z)], Z ~ N(0, 1)."""
    x, w = np.polynomial.hermite_e.hermegauss(k)
    return x, w / w.sum()


def _product(*sizes: int) -> tuple[np.ndarray, np.ndarray]:
    """Product Gauss-Hermite rule: nodes (K, d) and weights (K,)."""
    rules = [_hermite(k) for k in sizes]
    nodes = np.stack(np.meshgrid(*[x for x, _ in rules], indexing="ij"), -1).reshape(-1, len(sizes))
    weights = np.ones(1)
    for _, w in rules:
        weights = np.multiply.outer(weights, w).ravel()
    return nodes, weights


def _r_rule(cold: np.ndarray, scenario: Scenario, kink_times: tuple[float, ...],
            k: int = R_SEGMENT_NODES) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights in R for E over R ~ N(0, 1), split where the delay reaches each of
    ``kink_times``' corner (the RT arm's S(t) has a corner at delay = t - first scan), so every
    segment is smooth and Gauss-Legendre is accurate. Shapes (..., (len(kink_times) + 1) * k)."""
    x, w = np.polynomial.legendre.leggauss(k)
    cuts = [np.zeros_like(cold)]
    for t in kink_times:
        if scenario.delay_months > 0 and t > DELAY_AFTER_MONTHS:
            e_kink = (t - DELAY_AFTER_MONTHS) / scenario.delay_months
            cuts.append(ndtr(r_at_effect(cold, e_kink, scenario)))
        else:
            cuts.append(np.zeros_like(cold))
    cuts.append(np.ones_like(cold))
    bounds = np.sort(np.stack(cuts, -1), -1)
    a, b = bounds[..., :-1, None], bounds[..., 1:, None]
    u = a + (b - a) * (x + 1) / 2
    weights = ((b - a) * w / 2).reshape(*cold.shape, -1)
    r = ndtri(np.clip(u, 1e-15, 1 - 1e-15)).reshape(*cold.shape, -1)
    return r, weights


def complete_readouts(obs: Observed, idx: np.ndarray, scenario: Scenario,
                      nodes: tuple[int, int] = SCALAR_NODES,
                      curve_nodes: tuple[int, int] = CURVE_NODES,
                      r_nodes: int = R_SEGMENT_NODES) -> dict[str, np.ndarray]:
    """Quadrature for patients ``idx`` whose PD-L1 and MAF are observed: Gauss-Hermite over
    (hot, cold) given the readouts, Gauss-Legendre over R split at the kinks."""
    r = _subset(obs.readouts, idx)
    mean, cov_hc = index_model(r, INDEX_WEIGHTS).given_biopsy(obs.b_hat[idx], obs.b_hat_var)
    chol = np.linalg.cholesky(cov_hc + 1e-12 * np.eye(2))
    mu, harmed = obs.mu[idx, None, None], obs.harmed[idx, None, None]

    def rule(sizes):
        g, w = _product(*sizes)
        return mean[:, None, :] + np.einsum("nij,kj->nki", chol, g), w

    # scalar estimands: the 6- and 12-month corners split R
    hc, w = rule(nodes)
    rr, rw = _r_rule(hc[..., 1], scenario, (6.0, RMST_HORIZON), r_nodes)
    a = arm_parameters(hc[..., 0, None], hc[..., 1, None], rr, mu, harmed, scenario)
    weights = w[None, :, None] * rw
    out = {k: (v * weights).sum((-2, -1)) for k, v in estimands(a).items()}
    out.update(gains(out))
    # curves: ICI exactly from E[p_ici]; RT one time point at a time, split at its own corner
    out["curve_ici"] = survival(CURVE_MONTHS, (expit(hc[..., 0]) * w).sum(-1)[:, None],
                                obs.mu[idx, None])
    hc, w = rule(curve_nodes)
    curve = np.empty((len(idx), len(CURVE_MONTHS)))
    for j, t in enumerate(CURVE_MONTHS):
        rr, rw = _r_rule(hc[..., 1], scenario, (float(t),), r_nodes)
        a = arm_parameters(hc[..., 0, None], hc[..., 1, None], rr, mu, harmed, scenario)
        s_rt = survival(t, a.p_rt, a.mu, a.delay, a.harm)
        curve[:, j] = (s_rt * w[None, :, None] * rw).sum((-2, -1))
    out["curve_rt_ici"] = curve
    return out


def _average(params_fn, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Weighted average over the draw axis of every estimand (curves keep their time axis)."""
    est = estimands(params_fn(), CURVE_MONTHS)
    out = {}
    for k, v in est.items():
        if v.ndim == weights.ndim + 1:  # curves: (n, draws, time)
            out[k] = np.einsum("nkt,nk->nt", v, weights)
        else:
            out[k] = (v * weights).sum(-1)
    out.update(gains(out))
    return out


# ---- importance sampling over the copula for masked readouts

_VARS = list(cov.COPULA_VARIABLES)
_FIT = cov.PUBLIC_ICI_FIT
_CORR = np.array(_FIT.correlation)


def _quantile_key(name, scale, fit=_FIT):
    return latent_score(lambda u: np.rint(cov._from_quantiles(u, fit.quantiles[name]) * scale))


_AGE = latent_score(lambda u: np.rint(cov._from_quantiles(u, _FIT.quantiles["age"]).clip(18, 95)))
_ALBUMIN = _quantile_key("albumin", 10)
_NLR = _quantile_key("nlr", 100)
_PACK = _quantile_key("pack_years", 10)
_TMB = latent_score(lambda u: np.rint(cov._from_quantiles(u, _FIT.quantiles["tmb"]) * 1.14))
_TMB_EGFR = latent_score(lambda u: np.rint(
    cov._from_quantiles(u, _FIT.quantiles["tmb"]) * cov.EGFR_TMB_FACTOR * 1.14))


def _cut(share_below: float) -> float:
    return float(ndtri(share_below))


def _intervals(c: dict[str, np.ndarray], pdl1_observed: np.ndarray):
    """(lower, upper) latent bounds of the categorical copula variables, (n, k) each."""
    n = len(c["male"])
    inf = np.full(n, np.inf)
    male_cut = _cut(1 - _FIT.male_share)
    ever_cut = _cut(1 - _FIT.ever_smoker_share)
    adeno_cut = _cut(1 - _FIT.non_adeno_share)
    ecog_cuts = np.r_[-np.inf, ndtri(np.cumsum(_FIT.ecog_probs)[:-1]), np.inf]
    prior_cuts = np.r_[-np.inf, ndtri(np.array(cov.TRIAL_PRIOR_LINES_CUMPROBS[:-1])), np.inf]
    ecog = c["ecog"].astype(int)
    lines = c["prior_lines"].astype(int) - 1
    bounds = {
        "male": (np.where(c["male"], male_cut, -inf), np.where(c["male"], inf, male_cut)),
        "ever_smoker": (np.where(c["ever"], ever_cut, -inf), np.where(c["ever"], inf, ever_cut)),
        "non_adeno": (np.where(c["adeno"], -inf, adeno_cut), np.where(c["adeno"], adeno_cut, inf)),
        "ecog": (ecog_cuts[ecog], ecog_cuts[ecog + 1]),
        "prior_therapy": (prior_cuts[lines], prior_cuts[lines + 1]),
    }
    p0_cut = _cut(cov.TRIAL_PDL1_NEGATIVE_SHARE)
    tps0 = pdl1_observed & (c["pdl1_tps"] < 1)
    bounds["pdl1"] = (-inf, np.where(tps0, p0_cut, inf))
    return bounds


def _points(c: dict[str, np.ndarray], maf_observed: np.ndarray) -> dict[str, np.ndarray]:
    """Latent scores of the observed continuous covariates (NaN where not a point)."""
    tmb_key = np.rint(np.where(maf_observed, c["tmb_count"], np.nan))
    tmb = np.where(c["egfr"] == 1, lookup_score(_TMB_EGFR, tmb_key), lookup_score(_TMB, tmb_key))
    pdl1 = np.where(c["pdl1_tps"] >= 1, pdl1_score(c["pdl1_tps"]), np.nan)
    return {
        "age": lookup_score(_AGE, c["age"]),
        "albumin": lookup_score(_ALBUMIN, np.rint(c["albumin"] * 10)),
        "nlr": lookup_score(_NLR, np.rint(c["nlr"] * 100)),
        "pack_years": np.where(c["ever"], lookup_score(_PACK, np.rint(c["pack_years"] * 10)),
                               np.nan),
        "tmb": np.where(maf_observed, tmb, np.nan),
        "pdl1": pdl1,
    }


def _draw_latents(rng, points, bounds, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, k, 11) latent draws and (n, k) log-weights, patients grouped by which are points."""
    n = len(points["age"])
    point_mat = np.stack([points.get(v, np.full(n, np.nan)) for v in _VARS], 1)
    is_point = np.isfinite(point_mat)
    z = np.empty((n, k, len(_VARS)))
    logw = np.zeros((n, k))
    patterns, inverse = np.unique(is_point, axis=0, return_inverse=True)
    for p, pattern in enumerate(patterns):
        rows = np.flatnonzero(inverse.ravel() == p)
        o, f = np.flatnonzero(pattern), np.flatnonzero(~pattern)
        s_of = _CORR[np.ix_(f, o)] @ np.linalg.inv(_CORR[np.ix_(o, o)])
        mean = point_mat[np.ix_(rows, o)] @ s_of.T  # (m, |f|)
        c_ff = _CORR[np.ix_(f, f)] - s_of @ _CORR[np.ix_(o, f)]
        names = [_VARS[j] for j in f]
        d = [i for i, v in enumerate(names) if v in bounds and np.isfinite(
            np.stack(bounds[v])[:, rows]).any()]
        m_free = [i for i in range(len(f)) if i not in d]
        sd_d = np.sqrt(np.diag(c_ff)[d])
        lo = np.stack([(bounds[names[i]][0][rows] - mean[:, i]) / sd_d[j]
                       for j, i in enumerate(d)], 1)
        hi = np.stack([(bounds[names[i]][1][rows] - mean[:, i]) / sd_d[j]
                       for j, i in enumerate(d)], 1)
        u = rng.random((len(rows), k, len(d)))
        a, b = ndtr(lo)[:, None, :], ndtr(hi)[:, None, :]
        std = ndtri(np.clip(a + u * (b - a), 1e-15, 1 - 1e-15))
        zd = mean[:, None, d] + std * sd_d
        c_dd = c_ff[np.ix_(d, d)]
        resid = zd - mean[:, None, d]
        joint = stats.multivariate_normal(np.zeros(len(d)), c_dd).logpdf(resid.reshape(-1, len(d)))
        logw[rows] = joint.reshape(len(rows), k) - stats.norm.logpdf(std).sum(-1)
        # masked (free) latents given the interval ones: exact Gaussian draw
        if m_free:
            c_md = c_ff[np.ix_(m_free, d)]
            gain = c_md @ np.linalg.inv(c_dd)
            c_mm = c_ff[np.ix_(m_free, m_free)] - gain @ c_md.T
            zm = (mean[:, None, m_free] + resid @ gain.T
                  + rng.standard_normal((len(rows), k, len(m_free)))
                  @ np.linalg.cholesky(c_mm + 1e-12 * np.eye(len(m_free))).T)
            z[np.ix_(rows, np.arange(k), f[m_free])] = zm
        z[np.ix_(rows, np.arange(k), f[d])] = zd
        z[np.ix_(rows, np.arange(k), o)] = point_mat[np.ix_(rows, o)][:, None, :]
    return z, logw


def masked_readouts(obs: Observed, idx: np.ndarray, scenario: Scenario,
                    rng: np.random.Generator, k: int = IS_DRAWS) -> dict[str, np.ndarray]:
    """Importance sampling for patients ``idx`` with PD-L1 and/or the MAF masked."""
    r = _subset(obs.readouts, idx)
    c = {key: v[idx] for key, v in obs.copula.items()}
    pdl1_seen = np.isfinite(r.s_p)
    maf_seen = r.tmb_count >= 0
    c["egfr"] = np.where(maf_seen, c["egfr"], 0)
    z, logw = _draw_latents(rng, _points(c, maf_seen), _intervals(c, pdl1_seen), k)
    m = len(idx)
    shape = (m, k)
    s_p = np.where(pdl1_seen[:, None], r.s_p[:, None],
                   pdl1_score(cov.pdl1_from_uniform(ndtr(z[..., _VARS.index("pdl1")]))))
    drv = cov.sample_drivers(rng, np.repeat(c["adeno"], k), np.repeat(c["ever"], k))
    drv = {g: v.reshape(shape) for g, v in drv.items()}
    wnt = rng.random(shape) < WNT_PREVALENCE
    tmb = cov._from_quantiles(ndtr(z[..., _VARS.index("tmb")]), _FIT.quantiles["tmb"])
    tmb = tmb * np.where(drv["egfr"], cov.EGFR_TMB_FACTOR, 1.0)
    n_drivers = sum(drv[g].astype(int) for g in drv) + wnt
    count = np.maximum(np.rint(tmb * obs.readouts.panel_size_mb), n_drivers)
    ms = maf_seen[:, None]

    def pick(seen_value, drawn):
        return np.where(ms, np.broadcast_to(seen_value[:, None], shape), drawn).ravel()

    full = Readouts(
        s_p=s_p.ravel(), tmb_count=pick(r.tmb_count, count),
        stk11=pick(r.stk11, drv["stk11"]), keap1=pick(r.keap1, drv["keap1"]),
        wnt=pick(r.wnt, wnt), clinical_hot=np.repeat(r.clinical_hot, k),
        panel_size_mb=r.panel_size_mb)
    model = index_model(full, INDEX_WEIGHTS)
    b_hat = np.repeat(obs.b_hat[idx], k)
    seen_b = np.isfinite(b_hat)
    logw = logw + np.where(seen_b, model.biopsy_loglik(np.where(seen_b, b_hat, 0.0),
                                                       obs.b_hat_var), 0.0).reshape(shape)
    mean, cov_hc = model.given_biopsy(b_hat, obs.b_hat_var)
    chol = np.linalg.cholesky(cov_hc + 1e-12 * np.eye(2))
    hc = mean + np.einsum("nij,nj->ni", chol, rng.standard_normal((m * k, 2)))
    rr = rng.standard_normal(m * k)
    w = np.exp(logw - logw.max(1, keepdims=True))
    w /= w.sum(1, keepdims=True)

    def params():
        return arm_parameters(hc[:, 0].reshape(shape), hc[:, 1].reshape(shape),
                              rr.reshape(shape), obs.mu[idx, None], obs.harmed[idx, None],
                              scenario)

    out = _average(params, w)
    # Monte Carlo standard error of the self-normalised estimate of each scalar estimand
    est = estimands(params())
    est.update(gains(est))
    for key in ("pfs_gain_6mo", "pfs_gain_12mo", "rmst_gain_12mo"):
        dev = est[key] - out[key][:, None]
        out[f"mc_se_{key}"] = np.sqrt((w**2 * dev**2).sum(1))
    out["ess"] = 1.0 / (w**2).sum(1)
    return out


def _subset(r: Readouts, idx: np.ndarray) -> Readouts:
    return Readouts(s_p=r.s_p[idx], tmb_count=r.tmb_count[idx], stk11=r.stk11[idx],
                    keap1=r.keap1[idx], wnt=r.wnt[idx], clinical_hot=r.clinical_hot[idx],
                    panel_size_mb=r.panel_size_mb)


def conditional_truth(obs: Observed, scenario: Scenario, rng: np.random.Generator,
                      ) -> dict[str, np.ndarray]:
    """Every estimand's conditional truth for every patient (curves: (n, len(CURVE_MONTHS)))."""
    n = len(obs.mu)
    masked = ~np.isfinite(obs.readouts.s_p) | (obs.readouts.tmb_count < 0)
    parts = []
    complete = np.flatnonzero(~masked)
    for start in range(0, len(complete), CHUNK):
        idx = complete[start:start + CHUNK]
        parts.append((idx, complete_readouts(obs, idx, scenario)))
    rest = np.flatnonzero(masked)
    for start in range(0, len(rest), CHUNK // 4):
        idx = rest[start:start + CHUNK // 4]
        parts.append((idx, masked_readouts(obs, idx, scenario, rng)))
    out: dict[str, np.ndarray] = {}
    for idx, part in parts:
        for key, v in part.items():
            if key not in out:
                out[key] = np.zeros((n, *v.shape[1:]))
            out[key][idx] = v
    for key in ("mc_se_pfs_gain_6mo", "mc_se_pfs_gain_12mo", "mc_se_rmst_gain_12mo", "ess"):
        out.setdefault(key, np.zeros(n))
    out["exact"] = ~masked
    return out
