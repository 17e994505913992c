"""The patient's hidden biology, and what the trial's assays see of it.

Every assay is a noisy, sampled readout (docs/virtual-trial.md, "What the features see"):

- PD-L1 IHC scores one section of one biopsy; the tumour's true PD-L1 state ``P`` is the
  readout's normal score times ``PDL1_LOADING`` plus independent noise (inter-observer and
  intra-tumour variation; Tsao et al., J Thorac Oncol 2018, Blueprint phase 2).
- Panel TMB counts mutations over 1.14 Mb: the true log TMB given ``c`` counted mutations follows
  the Poisson (Jeffreys) posterior, log-normal with the moments of log Gamma(c + 1/2)
  (panel sampling error, Budczies et al., Genes Chromosomes Cancer 2019).
- The tumour's inflamed state ``I`` comes from true PD-L1, true TMB, STK11/KEAP1 and Wnt plus
  biology no assay sees; the RNA biopsy reads ``b = I + BIOPSY_NOISE_SD x noise`` (one core of a
  heterogeneous tumour), and every immune gene reads ``b`` with its own noise.
- Host immune fitness ``F`` and the RT-specific factor ``R`` (irradiated site and dose, HLA,
  what makes one patient's abscopal response stronger than another's) are seen by nothing.

The generative model is linear-Gaussian in the standard normals ``u = (e_P, e_T, e_I, e_B, F)``
given the readouts, so the outcome indices (hotness for ICI response, cold score for the RT
effect) given the observed readouts are bivariate normal with a closed-form mean and covariance
(``IndexModel``). ``cohorts.simulate.conditional`` integrates the outcome model over it: that is
the *conditional* truth, E[gain | inputs], which a model can estimate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.special import polygamma, psi

from cohorts.simulate.covariates import pdl1_from_uniform

# ---- PD-L1: true state P = PDL1_LOADING * score(TPS) + PDL1_NOISE_SD * e_P (ASSUMPTIONS: a
# readout-true correlation of ~0.85, the order of single-biopsy vs resection and inter-observer
# agreement for 22C3 tumour-cell scoring; Tsao et al., JTO 2018; Ilie et al., Ann Oncol 2016).
PDL1_LOADING = 0.85
PDL1_NOISE_SD = 0.55
# ---- TMB: z_T = (log true TMB - TMB_LOG_CENTRE) / TMB_LOG_SCALE; centre at the real cohort's
# median 7.0 mut/Mb (../shared/docs/science.md), scale ~ its log-sd (ASSUMPTION 1.0).
TMB_LOG_CENTRE = float(np.log(7.0))
TMB_LOG_SCALE = 1.0
# ---- inflamed state (standardised with the fixed constants below, population mean ~0, sd ~1).
# PD-L1 goes with the IFN-gamma signature (Ayers et al., JCI 2017); STK11/KEAP1 loss and Wnt
# activation make tumours cold (Skoulidis et al., Cancer Discov 2018; Spranger et al., Nature
# 2015; Huang et al., Nat Cancer 2025). Sizes are ASSUMPTIONS.
INFLAMED_WEIGHTS = {"pdl1": 0.65, "tmb": 0.15, "stk11": -0.8, "keap1": -0.4, "wnt": -0.8}
INFLAMED_NOISE_SD = 0.75
INFLAMED_CENTRE = -0.27  # population mean of the weighted sum (reference simulation, 4e5 draws)
INFLAMED_SCALE = 1.06  # its population sd (same reference simulation)
# ---- the RNA biopsy's immune readout b = I + BIOPSY_NOISE_SD * e_B (ASSUMPTION: one core of a
# heterogeneous tumour; readout-true correlation ~0.85).
BIOPSY_NOISE_SD = 0.6

N_NOISES = 5  # u = (e_P, e_T, e_I, e_B, F)


def latent_score(keys_on_grid, n_grid: int = 200_000):
    """Mean copula normal score of each observed value: ``keys_on_grid(u)`` maps copula uniforms
    to the integer key an observer sees (e.g. rounded TPS). Returns (sorted keys, mean z); ties
    (TPS 0 holds 62% of patients) get the mean latent of their interval, so two patients with
    the same observed value have the same score.
    """
    u = (np.arange(n_grid) + 0.5) / n_grid
    keys = np.asarray(keys_on_grid(u)).astype(np.int64)
    uniq, inverse = np.unique(keys, return_inverse=True)
    return uniq, np.bincount(inverse, weights=stats.norm.ppf(u)) / np.bincount(inverse)


def lookup_score(table, keys: np.ndarray) -> np.ndarray:
    """Scores of observed integer ``keys`` (nearest tabulated key; NaN stays NaN)."""
    uniq, score = table
    keys = np.asarray(keys, float)
    out = np.full(keys.shape, np.nan)
    ok = np.isfinite(keys)
    pos = np.clip(np.searchsorted(uniq, keys[ok]), 1, len(uniq) - 1)
    left, right = uniq[pos - 1], uniq[pos]
    pick = np.where(np.abs(keys[ok] - left) <= np.abs(right - keys[ok]), pos - 1, pos)
    out[ok] = score[pick]
    return out


PDL1_SCORE_TABLE = latent_score(lambda u: pdl1_from_uniform(u))


def pdl1_score(tps: np.ndarray) -> np.ndarray:
    """Readout score of observed TPS values (NaN stays NaN)."""
    return lookup_score(PDL1_SCORE_TABLE, np.rint(np.asarray(tps, float)))


def tmb_posterior(count: np.ndarray, panel_size_mb: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sd of z_T given ``count`` TMB-counting calls over the panel (Jeffreys posterior)."""
    a = np.asarray(count, float) + 0.5
    mean = (psi(a) - np.log(panel_size_mb) - TMB_LOG_CENTRE) / TMB_LOG_SCALE
    return mean, np.sqrt(polygamma(1, a)) / TMB_LOG_SCALE


@dataclass(frozen=True)
class Readouts:
    """What the assays report for each patient (arrays of length n; see module docstring).

    ``s_p``: PD-L1 readout score; ``tmb_count``: TMB-counting calls; ``stk11``/``keap1``/``wnt``:
    0/1 flags; ``clinical_hot``: the part of the hotness index from always-observed clinical
    fields. Masking (what the files leave out) is separate: ``cohorts.simulate.missingness``.
    """

    s_p: np.ndarray
    tmb_count: np.ndarray
    stk11: np.ndarray
    keap1: np.ndarray
    wnt: np.ndarray
    clinical_hot: np.ndarray
    panel_size_mb: float


@dataclass(frozen=True)
class IndexWeights:
    """How the outcome model reads the hidden biology (``outcomes.INDEX_WEIGHTS``)."""

    hot_inflamed: float
    hot_tmb: float
    hot_stk11: float
    host_fitness_sd: float
    cold_inflamed: float
    cold_tmb: float
    cold_pdl1: float
    cold_wnt: float


@dataclass(frozen=True)
class IndexModel:
    """(hot, cold, b) = mean + loadings @ u with u ~ N(0, I_5), per patient.

    ``mean``: (n, 3); ``loadings``: (n, 3, 5). Rows: hotness, cold score, biopsy readout b.
    """

    mean: np.ndarray
    loadings: np.ndarray

    def realise(self, u: np.ndarray) -> np.ndarray:
        """(n, 3) values for the patients' own noises ``u`` (n, 5)."""
        return self.mean + np.einsum("nij,nj->ni", self.loadings, u)

    def given_biopsy(self, b_hat: np.ndarray, b_hat_var: float | np.ndarray,
                     ) -> tuple[np.ndarray, np.ndarray]:
        """Mean (n, 2) and covariance (n, 2, 2) of (hot, cold) given b_hat = b + N(0, var).

        Patients whose ``b_hat`` is NaN (no RNA biopsy) get the unconditional moments.
        """
        a_hc, a_b = self.loadings[:, :2, :], self.loadings[:, 2, :]
        cov_hc = np.einsum("nij,nkj->nik", a_hc, a_hc)
        cross = np.einsum("nij,nj->ni", a_hc, a_b)  # cov((hot, cold), b)
        var_b = np.einsum("nj,nj->n", a_b, a_b) + b_hat_var
        seen = np.isfinite(b_hat)
        gain = np.where(seen[:, None], cross / var_b[:, None], 0.0)
        resid = np.where(seen, b_hat - self.mean[:, 2], 0.0)
        mean = self.mean[:, :2] + gain * resid[:, None]
        cov = cov_hc - gain[:, :, None] * cross[:, None, :]
        return mean, cov

    def biopsy_loglik(self, b_hat: np.ndarray, b_hat_var: float | np.ndarray) -> np.ndarray:
        """log N(b_hat; mean_b, var_b): how well each readout set explains the biopsy."""
        a_b = self.loadings[:, 2, :]
        var_b = np.einsum("nj,nj->n", a_b, a_b) + b_hat_var
        return stats.norm.logpdf(b_hat, self.mean[:, 2], np.sqrt(var_b))


def index_model(r: Readouts, w: IndexWeights) -> IndexModel:
    """The linear-Gaussian map from the noises u to (hot, cold, b) given complete readouts."""
    n = len(r.s_p)
    iw = INFLAMED_WEIGHTS
    t_mean, t_sd = tmb_posterior(r.tmb_count, r.panel_size_mb)
    # P = PDL1_LOADING * s_p + PDL1_NOISE_SD * e_P;  z_T = t_mean + t_sd * e_T
    p_mean = PDL1_LOADING * r.s_p
    i_mean = (iw["pdl1"] * p_mean + iw["tmb"] * t_mean + iw["stk11"] * r.stk11
              + iw["keap1"] * r.keap1 + iw["wnt"] * r.wnt - INFLAMED_CENTRE) / INFLAMED_SCALE
    a_p = np.zeros((n, N_NOISES))
    a_p[:, 0] = PDL1_NOISE_SD
    a_t = np.zeros((n, N_NOISES))
    a_t[:, 1] = t_sd
    a_i = (iw["pdl1"] * a_p + iw["tmb"] * a_t) / INFLAMED_SCALE
    a_i[:, 2] = INFLAMED_NOISE_SD / INFLAMED_SCALE
    a_f = np.zeros((n, N_NOISES))
    a_f[:, 4] = w.host_fitness_sd
    hot_mean = (r.clinical_hot + w.hot_inflamed * i_mean + w.hot_tmb * t_mean
                + w.hot_stk11 * r.stk11)
    a_hot = w.hot_inflamed * a_i + w.hot_tmb * a_t + a_f
    cold_mean = (w.cold_inflamed * i_mean + w.cold_tmb * t_mean + w.cold_pdl1 * p_mean
                 + w.cold_wnt * r.wnt)
    a_cold = w.cold_inflamed * a_i + w.cold_tmb * a_t + w.cold_pdl1 * a_p
    a_b = a_i.copy()
    a_b[:, 3] = BIOPSY_NOISE_SD
    mean = np.stack([hot_mean, cold_mean, i_mean], axis=1)
    return IndexModel(mean=mean, loadings=np.stack([a_hot, a_cold, a_b], axis=1))
