"""T cell receptor repertoire features from AIRR rearrangements (baseline and on treatment).

A clonotype is the triple (junction_aa, v_call, j_call). Everything is vectorised over all
patients at once: clonotypes become integer keys, counts are summed with bincount, and the
per-clone expansion tests and their FDR control run as whole-array operations.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from features.specs import FeatureSpec, spec

# Significantly expanded clones: per clone, a one-sided exact test of the on-treatment count
# against the baseline count, conditional on their sum (binomial with p = N_on / (N_base + N_on):
# the exact test for two Poisson counts, which Fisher's exact test approaches for large
# repertoires), then Benjamini-Hochberg across the patient's clones. Threshold q < 0.01 as in
# DeWitt et al., J Virol 2015;89:4517 (Fisher's exact + BH at 0.01); see Rytlewski et al., PLoS One
# 2019;14:e0213684 for count-model tests of T cell expansion.
EXPANSION_FDR = 0.01

DEWITT = "DeWitt et al., J Virol 2015; Rytlewski et al., PLoS One 2019"
SPECS: list[FeatureSpec] = [
    spec("tcr_clonality", "tcr", "0-1", "Pielou 1966; e.g. Huang et al., Nat Cancer 2025",
         "Baseline blood clonality: 1 - Shannon entropy / log(richness) (1 for a single clone)."),
    spec("tcr_richness", "tcr", "clonotypes", "AIRR clonotype (junction_aa, v_call, j_call)",
         "Number of distinct baseline clonotypes."),
    spec("tcr_top_clone_fraction", "tcr", "fraction", "AIRR duplicate_count",
         "Share of baseline reads in the largest clonotype."),
    spec("tcr_expanded_clones", "tcr", "clonotypes", DEWITT,
         "Clonotypes significantly expanded on treatment vs baseline (one-sided exact binomial "
         "test, BH q < 0.01).", "on_treatment"),
    spec("tcr_expanded_fraction", "tcr", "fraction", DEWITT,
         "Expanded clonotypes / distinct on-treatment clonotypes.", "on_treatment"),
    spec("tcr_new_clone_fraction", "tcr", "fraction", "Huang et al., Nat Cancer 2025",
         "Share of distinct on-treatment clonotypes not seen at baseline.", "on_treatment"),
]
NAMES = [s.name for s in SPECS]


def _codes(column: pd.Series) -> tuple[np.ndarray, int]:
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy().astype(np.int64)
        return codes + 1, len(column.cat.categories) + 1  # -1 (missing) becomes 0
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    return codes.astype(np.int64) + 1, len(uniques) + 1


def _sum(values, group, n):
    return np.bincount(group, weights=values, minlength=n)


def tcr_features(tcr: pd.DataFrame) -> pd.DataFrame:
    """Per patient: baseline diversity and on-treatment expansion features (NaN when absent)."""
    patient_codes, patients = pd.factorize(tcr["patient_id"])
    patients = pd.Index(np.asarray(patients).astype(str))
    n_pat = len(patients)
    out = pd.DataFrame(np.nan, index=pd.Index(patients, name="patient_id"), columns=NAMES)
    if n_pat == 0:
        return out.astype(float)
    on = (tcr["timepoint"] == "on_treatment").to_numpy()
    junction, _ = _codes(tcr["junction_aa"])
    v, n_v = _codes(tcr["v_call"])
    j, n_j = _codes(tcr["j_call"])
    clone = (junction * n_v + v) * n_j + j
    del junction, v, j
    n_clone = int(clone.max()) + 1
    key = patient_codes.astype(np.int64) * n_clone + clone
    del clone
    inverse, uniq = pd.factorize(key)  # hash-based, O(rows)
    del key
    count = tcr["duplicate_count"].to_numpy(dtype=np.float64)
    base = np.bincount(inverse, weights=np.where(on, 0.0, count), minlength=len(uniq))
    post = np.bincount(inverse, weights=np.where(on, count, 0.0), minlength=len(uniq))
    del inverse, count
    patient = np.asarray(uniq) // n_clone
    del uniq
    # A fixed order within each patient (by counts) makes every sum independent of how the
    # clonotype codes were assigned, so Dask partitions give bit-identical results.
    order = np.lexsort((post, base, patient))
    patient, base, post = patient[order], base[order], post[order]

    n_base = _sum(base, patient, n_pat)
    richness = _sum((base > 0).astype(float), patient, n_pat)
    freq = np.divide(base, n_base[patient], out=np.zeros_like(base), where=n_base[patient] > 0)
    plogp = np.where(freq > 0, freq * np.log(np.where(freq > 0, freq, 1.0)), 0.0)
    entropy = -_sum(plogp, patient, n_pat)
    has_base = n_base > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        clonality = np.where(richness > 1, 1.0 - entropy / np.log(richness), 1.0)
    top = np.zeros(n_pat)
    last = np.r_[np.flatnonzero(np.diff(patient)), len(patient) - 1]  # sorted: largest clone last
    top[patient[last]] = freq[last]
    out["tcr_clonality"] = np.where(has_base, clonality, np.nan)
    out["tcr_richness"] = np.where(has_base, richness, np.nan)
    out["tcr_top_clone_fraction"] = np.where(has_base, top, np.nan)

    n_post = _sum(post, patient, n_pat)
    both = has_base & (n_post > 0)
    tested = both[patient]
    p_t, b_t, o_t = patient[tested], base[tested], post[tested]
    p0 = n_post[p_t] / (n_base[p_t] + n_post[p_t])
    # P(X >= k) for X ~ Binomial(k + b, p0) equals the regularised incomplete beta
    # I_p0(k, b + 1) for k >= 1 (the identity behind scipy's binom.sf, without its overhead);
    # 1 when the on-treatment count is 0.
    pvalue = np.where(o_t > 0, special.betainc(np.maximum(o_t, 1.0), b_t + 1.0, p0), 1.0)
    qvalue = _benjamini_hochberg(pvalue, p_t)
    grew = o_t / n_post[p_t] > b_t / n_base[p_t]
    expanded = _sum(((qvalue < EXPANSION_FDR) & grew).astype(float), p_t, n_pat)
    richness_post = _sum((post > 0).astype(float), patient, n_pat)
    new = _sum(((post > 0) & (base == 0)).astype(float), patient, n_pat)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["tcr_expanded_clones"] = np.where(both, expanded, np.nan)
        out["tcr_expanded_fraction"] = np.where(both, expanded / richness_post, np.nan)
        out["tcr_new_clone_fraction"] = np.where(both, new / richness_post, np.nan)
    return out.astype(float)


def _benjamini_hochberg(pvalue: np.ndarray, group: np.ndarray) -> np.ndarray:
    """BH adjusted p-values within each group, for all groups at once."""
    if len(pvalue) == 0:
        return pvalue
    order = np.lexsort((pvalue, group))
    g, p = group[order], pvalue[order]
    starts = np.r_[0, np.flatnonzero(np.diff(g)) + 1]
    sizes = np.diff(np.r_[starts, len(g)])
    rank = np.arange(len(g)) - np.repeat(starts, sizes) + 1
    m = np.repeat(sizes, sizes)
    raw = p * m / rank
    # Step-up: running minimum from the largest p-value down, within each group.
    reversed_min = pd.Series(raw[::-1]).groupby(g[::-1]).cummin().to_numpy()[::-1]
    q = np.empty_like(pvalue)
    q[order] = np.minimum(reversed_min, 1.0)
    return q
