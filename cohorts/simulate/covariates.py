"""Baseline covariates of the virtual trial: a Gaussian copula fitted to real ICI-treated NSCLC.

Why a copula: the marginals of the real patients (skewed TMB, PD-L1 with its point mass at 0,
albumin, NLR, ...) are kept exactly as observed (empirical quantile tables), while their
dependence (e.g. smoking raises TMB, low albumin goes with high NLR) comes from one correlation
matrix of normal scores. ``fit_copula`` recomputes every constant below from the real CSV; a test
checks that the constants agree with a refit.

Source of every ``PUBLIC_ICI_*`` constant: ../shared/data/public_ici/nsclc_ici_cohorts.csv
(1,110 ICI-treated NSCLC patients of the LORIS compilation, Chang et al., Nature Cancer 2024:
Chowell 2022, MSK1, Shim 2020, Vanguri 2022), fitted with ``fit_copula``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

# Probabilities at which the marginal quantile tables are stored (linear interpolation between).
QUANTILE_PROBS = (0.0, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95,
                  0.975, 0.99, 1.0)

# Latent dimensions of the copula, in the order of the correlation matrix.
COPULA_VARIABLES = ("age", "male", "tmb", "pdl1", "albumin", "nlr", "ever_smoker", "pack_years",
                    "non_adeno", "ecog", "prior_therapy")

# ---- the PEMBRO-RT population differs from the real-world sample in a few stated ways
# PD-L1 negative (TPS < 1%) share: 47 of 76 randomised patients in PEMBRO-RT (Theelen et al.,
# JAMA Oncol 2019). The real-world sample has 41.9% at TPS 0, so the point mass at 0 is raised to
# 47/76 and the positive part keeps its real-world shape (1-49% vs >= 50% in the real ratio).
TRIAL_PDL1_NEGATIVE_SHARE = 47 / 76
# All PEMBRO-RT patients were previously treated (>= 1 prior line). The number of prior lines is
# not in ../shared/docs/science.md: ASSUMPTION 1 / 2 / 3 lines in 65% / 25% / 10%, ordered by the
# copula's prior-therapy latent so it keeps its fitted correlations.
TRIAL_PRIOR_LINES_CUMPROBS = (0.65, 0.90, 1.0)
# Current vs former smokers are not separated in the real data: ASSUMPTION 25% of ever smokers
# are current smokers.
CURRENT_SMOKER_SHARE_OF_EVER = 0.25
# LDH is not in the real data. ASSUMPTION: lognormal, median 230 U/L, log-sd 0.40, so that ~42%
# exceed the upper limit of normal (ULN) of 250 U/L (a common laboratory ULN; the LIPI score of
# Mezquita et al., JAMA Oncol 2018 uses LDH > ULN). Correlated with log NLR (+0.35) and albumin
# (-0.20), the direction of the LIPI/inflammation literature; the sizes are assumptions.
LDH_ULN = 250.0
LDH_MEDIAN = 230.0
LDH_LOG_SD = 0.40
LDH_CORR_NLR = 0.35
LDH_CORR_ALBUMIN = -0.20

# ---- somatic driver flags at published prevalences (all-NSCLC, metastatic)
# STK11 13.6% overall, KRAS+STK11 co-mutated 6.5% (Shire et al. 2020, PMC7470384).
STK11_PREVALENCE = 0.136
KRAS_STK11_PREVALENCE = 0.065
# KRAS ~25% of NSCLC (approx.: 32% of lung adenocarcinoma in TCGA, Nature 2014;511:543, mostly
# smokers; rare in squamous and never smokers). Conditional probabilities below give ~25%.
KRAS_PROB = {"adeno_ever": 0.42, "adeno_never": 0.12, "non_adeno": 0.05}
# EGFR ~10-15% of Western lung adenocarcinoma, concentrated in never smokers (Shigematsu et al.,
# JNCI 2005); under-represented in previously treated ICI trials. approx.; mutually exclusive
# with KRAS. EGFR-mutant tumours have lower TMB (Offin et al., Clin Cancer Res 2019): their TMB
# is multiplied by EGFR_TMB_FACTOR (ASSUMPTION 0.5).
EGFR_PROB = {"adeno_never": 0.35, "adeno_ever": 0.05, "non_adeno": 0.01}
EGFR_TMB_FACTOR = 0.5
# KEAP1 ~17% of adenocarcinoma (TCGA 2014), frequently co-mutated with STK11 (Skoulidis et al.,
# Cancer Discov 2018). approx.: P(KEAP1 | STK11) 0.40, otherwise 0.12 (-> ~15% overall).
KEAP1_PROB = {"stk11": 0.40, "wt": 0.12}
# TP53: 46% of adenocarcinoma (TCGA, Nature 2014), 81% of squamous (TCGA, Nature 2012;489:519);
# lower in never smokers (approx. 0.30).
TP53_PROB = {"adeno_ever": 0.50, "adeno_never": 0.30, "non_adeno": 0.80}


@dataclass(frozen=True)
class CopulaFit:
    """Marginals and dependence of the baseline covariates (see ``fit_copula``)."""

    quantiles: dict[str, tuple[float, ...]]  # continuous marginals at QUANTILE_PROBS
    pdl1_zero_share: float  # point mass at TPS 0
    pdl1_high_share_of_positive: float  # P(TPS >= 50 | TPS >= 1)
    pdl1_low_quantiles: tuple[float, ...]  # TPS among 1 <= TPS < 50, at QUANTILE_PROBS
    pdl1_high_quantiles: tuple[float, ...]  # TPS among TPS >= 50, at QUANTILE_PROBS
    male_share: float
    ever_smoker_share: float
    non_adeno_share: float
    squamous_share_of_non_adeno: float
    ecog_probs: tuple[float, ...]  # P(ECOG = 0, 1, 2, 3)
    prior_therapy_share: float
    correlation: tuple[tuple[float, ...], ...]  # normal-score correlation, COPULA_VARIABLES order


def _normal_scores(x: pd.Series) -> pd.Series:
    """van der Waerden scores (mid-ranks for ties), NaN kept: the copula's latent scale."""
    ranks = x.rank(method="average")
    n = x.notna().sum()
    return pd.Series(stats.norm.ppf(ranks / (n + 1)), index=x.index)


def _nearest_correlation(c: np.ndarray) -> np.ndarray:
    """Clip negative eigenvalues of a pairwise-complete correlation matrix and rescale to 1s."""
    w, v = np.linalg.eigh((c + c.T) / 2)
    c = (v * np.clip(w, 1e-3, None)) @ v.T
    d = np.sqrt(np.diag(c))
    return c / np.outer(d, d)


def fit_copula(csv: str | Path) -> CopulaFit:
    """Fit marginals and normal-score correlations to the real ICI cohort CSV.

    Correlations are pairwise-complete (the cohorts record different columns), so a few pairs rest
    on the ~440 patients with histology/ECOG/smoking. Normal scores of binary variables understate
    latent correlations, so the simulated associations are, if anything, conservative.
    """
    d = pd.read_csv(csv)
    probs = np.array(QUANTILE_PROBS)

    def q(x: pd.Series) -> tuple[float, ...]:
        return tuple(round(float(v), 4) for v in np.quantile(x.dropna(), probs))

    ever = d["smoking_status"]
    pdl1 = d["pdl1_tps"].dropna()
    hist = d["histology"].dropna()
    ecog = d["ecog"].dropna().clip(upper=3)
    latent = pd.DataFrame({
        "age": d["age"], "male": d["sex"], "tmb": d["tmb"], "pdl1": d["pdl1_tps"],
        "albumin": d["albumin"], "nlr": d["nlr"], "ever_smoker": ever,
        "pack_years": d["pack_years"].where(ever == 1), "non_adeno": (d["histology"] != 1).where(
            d["histology"].notna()).astype(float), "ecog": d["ecog"],
        "prior_therapy": d["prior_systemic_therapy"],
    })[list(COPULA_VARIABLES)].apply(_normal_scores)
    # Pairs observed together in fewer than 30 patients are taken as independent.
    corr = _nearest_correlation(latent.corr(min_periods=30).fillna(0.0).to_numpy())
    return CopulaFit(
        quantiles={
            "age": q(d["age"]), "tmb": q(d["tmb"]), "albumin": q(d["albumin"]),
            "nlr": q(d["nlr"]), "pack_years": q(d["pack_years"][ever == 1]),
        },
        pdl1_zero_share=round(float((pdl1 < 1).mean()), 4),
        pdl1_high_share_of_positive=round(float((pdl1 >= 50).sum() / (pdl1 >= 1).sum()), 4),
        pdl1_low_quantiles=q(pdl1[(pdl1 >= 1) & (pdl1 < 50)]),
        pdl1_high_quantiles=q(pdl1[pdl1 >= 50]),
        male_share=round(float(d["sex"].mean()), 4),
        ever_smoker_share=round(float(ever.dropna().mean()), 4),
        non_adeno_share=round(float((hist != 1).mean()), 4),
        squamous_share_of_non_adeno=round(float((hist == 2).sum() / (hist != 1).sum()), 4),
        ecog_probs=tuple(round(float((ecog == k).mean()), 4) for k in range(4)),
        prior_therapy_share=round(float(d["prior_systemic_therapy"].mean()), 4),
        correlation=tuple(tuple(round(float(v), 3) for v in row) for row in corr),
    )


PUBLIC_ICI_CSV = Path(__file__).resolve().parents[3] / "shared" / "data" / "public_ici" / (
    "nsclc_ici_cohorts.csv"
)

# Fitted to ../shared/data/public_ici/nsclc_ici_cohorts.csv (LORIS compilation, Chang et al.,
# Nature Cancer 2024) by fit_copula(PUBLIC_ICI_CSV); tests/cohorts/test_simulate_covariates.py
# checks these against a refit.
PUBLIC_ICI_FIT = CopulaFit(
    quantiles={
        "age": (
            20.1177, 38.0, 43.0, 47.0, 51.4078, 56.8083, 60.4132, 63.0, 66.0, 68.3851, 71.0965,
            74.0, 78.0167, 82.2122, 83.2997, 88.0, 93.4949,
        ),
        "tmb": (
            0.0, 0.0, 0.126, 0.9, 1.8, 3.0, 4.4, 5.4852, 7.0, 8.8, 10.5, 13.2, 18.7, 25.095,
            37.6546, 49.119, 90.4,
        ),
        "albumin": (
            1.9, 2.6, 2.8, 3.0, 3.2, 3.4, 3.6, 3.7, 3.9, 3.9, 4.1, 4.2, 4.3, 4.4, 4.6, 4.7, 5.0,
        ),
        "nlr": (
            0.2865, 0.97, 1.2, 1.5356, 2.0, 2.5984, 3.203, 3.9526, 4.6, 5.392, 6.5, 8.2, 11.989,
            15.741, 22.6062, 35.9867, 77.33,
        ),
        "pack_years": (
            0.0, 0.5, 2.5, 6.0, 10.0, 15.0, 20.0, 28.0, 30.0, 40.0, 45.0, 50.0, 70.0, 80.0, 100.0,
            118.44, 165.0,
        ),
    },
    pdl1_zero_share=0.4186,
    pdl1_high_share_of_positive=0.6458,
    pdl1_low_quantiles=(
        1.0, 1.0, 1.0, 1.0, 1.0, 3.0, 5.0, 5.0, 10.0, 10.0, 17.0, 25.0, 30.0, 40.0, 40.0, 40.0,
        40.0,
    ),
    pdl1_high_quantiles=(
        50.0, 50.0, 50.0, 50.0, 50.0, 60.0, 70.0, 75.0, 80.0, 80.0, 90.0, 90.0, 95.0, 100.0,
        100.0, 100.0, 100.0,
    ),
    male_share=0.5225,
    ever_smoker_share=0.7838,
    non_adeno_share=0.2928,
    squamous_share_of_non_adeno=0.7231,
    ecog_probs=(0.0766, 0.8086, 0.1126, 0.0023),
    prior_therapy_share=0.7342,
    # order: age, male, tmb, pdl1, albumin, nlr, ever_smoker, pack_years, non_adeno, ecog, prior
    correlation=(
        (1.000, 0.106, 0.053, -0.038, -0.211, 0.102, 0.198, 0.237, 0.036, 0.081, -0.070),
        (0.106, 1.000, 0.045, 0.021, 0.011, -0.050, 0.370, 0.159, 0.192, 0.012, -0.024),
        (0.053, 0.045, 1.000, 0.036, 0.000, 0.036, 0.319, 0.159, 0.153, -0.051, 0.001),
        (-0.038, 0.021, 0.036, 1.000, 0.067, -0.072, 0.079, 0.105, 0.112, -0.051, -0.254),
        (-0.211, 0.011, 0.000, 0.067, 1.000, -0.350, -0.093, 0.003, -0.007, -0.213, -0.012),
        (0.102, -0.050, 0.036, -0.072, -0.350, 1.000, 0.009, -0.033, 0.029, 0.055, -0.002),
        (0.198, 0.370, 0.319, 0.079, -0.093, 0.009, 1.000, 0.000, 0.061, -0.040, -0.174),
        (0.237, 0.159, 0.159, 0.105, 0.003, -0.033, 0.000, 1.000, 0.141, 0.133, 0.018),
        (0.036, 0.192, 0.153, 0.112, -0.007, 0.029, 0.061, 0.141, 1.000, -0.057, -0.025),
        (0.081, 0.012, -0.051, -0.051, -0.213, 0.055, -0.040, 0.133, -0.057, 1.000, 0.077),
        (-0.070, -0.024, 0.001, -0.254, -0.012, -0.002, -0.174, 0.018, -0.025, 0.077, 1.000),
    ),
)


def reference_moments(name: str, transform=np.log1p, fit: CopulaFit | None = None,
                      ) -> tuple[float, float]:
    """Mean and sd of ``transform`` of a fitted marginal (the real-world population).

    Patient-level models standardise with these fixed numbers, never with the simulated sample,
    so a patient's true model does not depend on who else is in the trial.
    """
    fit = fit or PUBLIC_ICI_FIT
    x = transform(_from_quantiles(np.linspace(0.0005, 0.9995, 1000), fit.quantiles[name]))
    return float(x.mean()), float(x.std())


def _from_quantiles(u: np.ndarray, table: tuple[float, ...]) -> np.ndarray:
    return np.interp(u, QUANTILE_PROBS, table)


def _by_group(groups: dict[str, np.ndarray], probs: dict[str, float], n: int) -> np.ndarray:
    p = np.zeros(n)
    for name, mask in groups.items():
        p[mask] = probs[name]
    return p


DRIVER_FLAGS = ("stk11", "keap1", "egfr", "kras", "tp53")


def pdl1_from_uniform(u: np.ndarray, fit: CopulaFit = PUBLIC_ICI_FIT,
                      p0: float = TRIAL_PDL1_NEGATIVE_SHARE) -> np.ndarray:
    """PD-L1 TPS (%) at copula uniform ``u``: the point mass at 0 raised to the trial's negative
    share, the positive part kept in its real-world shape (two tables, so the mass at exactly 50%
    stays on the >= 50 side)."""
    u_pos = np.clip((u - p0) / (1 - p0), 0, 1)
    cut = 1 - fit.pdl1_high_share_of_positive
    low = _from_quantiles(np.clip(u_pos / cut, 0, 1), fit.pdl1_low_quantiles)
    high = _from_quantiles(np.clip((u_pos - cut) / (1 - cut), 0, 1), fit.pdl1_high_quantiles)
    return np.where(u < p0, 0.0, np.round(np.where(u_pos < cut, low, high)))


def sample_drivers(rng: np.random.Generator, adeno: np.ndarray, ever: np.ndarray,
                   ) -> dict[str, np.ndarray]:
    """Driver flags given histology and smoking (probabilities beside their sources above)."""
    n = len(adeno)
    groups = {"adeno_ever": adeno & ever, "adeno_never": adeno & ~ever, "non_adeno": ~adeno}
    egfr = rng.random(n) < _by_group(groups, EGFR_PROB, n)
    kras = ~egfr & (rng.random(n) < _by_group(groups, KRAS_PROB, n))
    kras_share = KRAS_STK11_PREVALENCE / 0.25  # P(STK11 | KRAS) at the ~25% KRAS prevalence
    stk11_other = (STK11_PREVALENCE - KRAS_STK11_PREVALENCE) / 0.75
    stk11 = rng.random(n) < np.where(kras, kras_share, stk11_other)
    keap1 = rng.random(n) < np.where(stk11, KEAP1_PROB["stk11"], KEAP1_PROB["wt"])
    tp53 = rng.random(n) < _by_group(groups, TP53_PROB, n)
    return {"stk11": stk11, "keap1": keap1, "egfr": egfr, "kras": kras, "tp53": tp53}


def sample_covariates(
    rng: np.random.Generator, n: int, fit: CopulaFit = PUBLIC_ICI_FIT
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Draw ``n`` PEMBRO-RT-like patients.

    Returns the baseline columns of clinical.csv (docs/cohort-format.md; TMB here is the true
    burden, which biology.py turns into mutation calls) and the latent normal scores that
    biology.py and outcomes.py read (e.g. the PD-L1 latent drives the inflamed state).
    """
    corr = np.array(fit.correlation)
    z = rng.standard_normal((n, len(COPULA_VARIABLES))) @ np.linalg.cholesky(corr).T
    lat = pd.DataFrame(z, columns=COPULA_VARIABLES)
    u = stats.norm.cdf(z)
    col = {name: u[:, i] for i, name in enumerate(COPULA_VARIABLES)}

    age = _from_quantiles(col["age"], fit.quantiles["age"]).clip(18, 95)
    male = col["male"] > 1 - fit.male_share
    ever = col["ever_smoker"] > 1 - fit.ever_smoker_share
    current = ever & (rng.random(n) < CURRENT_SMOKER_SHARE_OF_EVER)
    pack_years = np.where(ever, _from_quantiles(col["pack_years"], fit.quantiles["pack_years"]), 0)
    non_adeno = col["non_adeno"] > 1 - fit.non_adeno_share
    squamous = non_adeno & (rng.random(n) < fit.squamous_share_of_non_adeno)
    histology = np.where(~non_adeno, "adenocarcinoma", np.where(squamous, "squamous", "other"))
    ecog = np.searchsorted(np.cumsum(fit.ecog_probs)[:-1], col["ecog"], side="right")
    # prior-therapy latent -> lines (everyone previously treated, see TRIAL_PRIOR_LINES_CUMPROBS)
    prior_lines = 1 + np.searchsorted(TRIAL_PRIOR_LINES_CUMPROBS[:-1], col["prior_therapy"],
                                      side="right")
    albumin = _from_quantiles(col["albumin"], fit.quantiles["albumin"])
    nlr = _from_quantiles(col["nlr"], fit.quantiles["nlr"])
    pdl1 = pdl1_from_uniform(col["pdl1"], fit)
    drivers = sample_drivers(rng, ~non_adeno, ever)
    tmb = _from_quantiles(col["tmb"], fit.quantiles["tmb"]) * np.where(
        drivers["egfr"], EGFR_TMB_FACTOR, 1)
    # LDH (assumed model, see LDH_* constants)
    e = (LDH_CORR_NLR * lat["nlr"] + LDH_CORR_ALBUMIN * lat["albumin"]).to_numpy()
    e += np.sqrt(1 - LDH_CORR_NLR**2 - LDH_CORR_ALBUMIN**2) * rng.standard_normal(n)
    ldh = LDH_MEDIAN * np.exp(LDH_LOG_SD * e)

    baseline = pd.DataFrame({
        "age": np.round(age).astype(int),
        "sex": np.where(male, "M", "F"),
        "ecog": ecog.astype(int),
        "histology": histology,
        "smoking_status": np.where(~ever, "never", np.where(current, "current", "former")),
        "pack_years": np.round(pack_years, 1),
        "pdl1_tps": pdl1,
        "tmb": tmb,
        "nlr": np.round(nlr, 2),
        "ldh": np.round(ldh).astype(int),
        "albumin": np.round(albumin, 1),
        "prior_lines": prior_lines.astype(int),
        **{f"{g}_mut": drivers[g].astype(int) for g in DRIVER_FLAGS},
    })
    return baseline, lat
