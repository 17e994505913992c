"""TCR diversity and expansion against direct per-clone computations; ctDNA response."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from features.ctdna import ctdna_features
from features.tcr import EXPANSION_FDR, tcr_features

DIGITS = str.maketrans("0123456789", "ACDEFGHIKL")  # amino-acid letters


def rows(pid, tp, counts, prefix="C"):
    return pd.DataFrame({
        "patient_id": pid, "timepoint": tp,
        "junction_aa": [f"CASS{prefix}{str(i).translate(DIGITS)}F" for i in range(len(counts))],
        "v_call": "TRBV5-1", "j_call": "TRBJ2-1", "duplicate_count": counts,
    })


def test_baseline_diversity_by_hand():
    counts = [50, 30, 20]
    out = tcr_features(rows("A", "baseline", counts))
    p = np.array(counts) / 100
    evenness = -(p * np.log(p)).sum() / np.log(3)
    assert out.loc["A", "tcr_clonality"] == pytest.approx(1 - evenness)
    assert out.loc["A", "tcr_richness"] == 3
    assert out.loc["A", "tcr_top_clone_fraction"] == pytest.approx(0.5)
    assert out.loc["A", ["tcr_expanded_clones", "tcr_new_clone_fraction"]].isna().all()


def test_same_clonotype_rows_are_summed_and_v_gene_distinguishes():
    df = rows("A", "baseline", [10, 10])
    df.loc[1, "junction_aa"] = df.loc[0, "junction_aa"]  # same CDR3 and genes: one clonotype
    df2 = df.copy()
    df2.loc[1, "v_call"] = "TRBV7-2"  # other V gene: two clonotypes
    assert tcr_features(df).loc["A", "tcr_richness"] == 1
    assert tcr_features(df).loc["A", "tcr_clonality"] == 1.0
    assert tcr_features(df2).loc["A", "tcr_richness"] == 2


def test_expansion_matches_per_clone_exact_tests_with_bh():
    rng = np.random.default_rng(0)
    base_counts = rng.integers(1, 40, 60)
    post_counts = base_counts.copy()
    post_counts[:5] *= 12  # expanded
    post_counts[5:15] = 0  # lost
    base = rows("A", "baseline", base_counts)
    post = rows("A", "on_treatment", post_counts)
    post = post[post["duplicate_count"] > 0]
    new = rows("A", "on_treatment", [200, 1, 1], prefix="N")
    df = pd.concat([base, post, new, rows("B", "baseline", [5, 5])], ignore_index=True)
    out = tcr_features(df)

    b = np.r_[base_counts, 0, 0, 0].astype(float)
    o = np.r_[post_counts, 200, 1, 1].astype(float)
    nb, no = b.sum(), o.sum()
    pvals = np.array([
        stats.binomtest(int(oi), int(oi + bi), no / (nb + no), alternative="greater").pvalue
        for bi, oi in zip(b, o, strict=True)
    ])
    reject = multipletests(pvals, alpha=EXPANSION_FDR, method="fdr_bh")[0]
    expected = int((reject & (o / no > b / nb)).sum())
    assert expected >= 5
    assert out.loc["A", "tcr_expanded_clones"] == expected
    richness_post = int((o > 0).sum())
    assert out.loc["A", "tcr_expanded_fraction"] == pytest.approx(expected / richness_post)
    assert out.loc["A", "tcr_new_clone_fraction"] == pytest.approx(3 / richness_post)
    assert np.isnan(out.loc["B", "tcr_expanded_clones"])  # no on-treatment sample


def test_ctdna_change_and_molecular_response():
    df = pd.DataFrame({
        "patient_id": ["A", "A", "B", "B", "C", "D", "D"],
        "timepoint": ["baseline", "on_treatment"] * 2 + ["baseline"] + ["baseline",
                                                                         "on_treatment"],
        "max_vaf": [0.2, 0.1, 0.2, 0.15, 0.3, 0.0, 0.01],
    })
    out = ctdna_features(df)
    assert out.loc["A", "ctdna_vaf_change"] == pytest.approx(-0.5)
    assert out.loc["A", "ctdna_molecular_response"] == 1.0
    assert out.loc["B", "ctdna_molecular_response"] == 0.0
    assert out.loc["C", "ctdna_max_vaf_baseline"] == 0.3
    assert out.loc["C", ["ctdna_vaf_change", "ctdna_molecular_response"]].isna().all()
    assert out.loc["D", ["ctdna_vaf_change", "ctdna_molecular_response"]].isna().all()
