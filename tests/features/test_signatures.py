"""Each signature against a hand computation on a tiny matrix."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from cohorts import genesets as gs
from features.signatures import MIN_GENE_FRACTION, needed_genes, signature_scores


@pytest.fixture
def tiny():
    """Two patients; every needed gene at 3 TPM (A) or 15 TPM (B), with a few set apart."""
    genes = needed_genes()
    frame = pd.DataFrame({"A": 3.0, "B": 15.0}, index=pd.Index(genes, name="gene"))
    frame.loc["IFNG", "A"] = 0.0
    frame.loc["STAT1", "B"] = 255.0
    frame.loc["GZMA", "A"] = 7.99
    frame.loc["PRF1", "A"] = 1.99
    return frame


def test_ifng_6_is_mean_log2_tpm_plus_one(tiny):
    scores = signature_scores(tiny)
    # A: IFNG 0 -> log2(1) = 0, five others at 3 TPM -> log2(4) = 2.
    assert scores.loc["A", "ifng_6"] == pytest.approx((0 + 5 * 2) / 6)
    # B: STAT1 255 -> log2(256) = 8, five others at 15 TPM -> 4.
    assert scores.loc["B", "ifng_6"] == pytest.approx((8 + 5 * 4) / 6)


def test_mean_log2_signatures(tiny):
    scores = signature_scores(tiny)
    # B: every gene at 15 TPM except STAT1 (in the expanded 18).
    assert scores.loc["B", "expanded_immune_18"] == pytest.approx((17 * 4 + 8) / 18)
    assert scores.loc["B", "chemokine_12"] == pytest.approx(4.0)
    assert scores.loc["B", "davoli_immune"] == pytest.approx(4.0)
    # Davoli for A includes PRF1 at 1.99 -> log2(2.99).
    assert scores.loc["A", "davoli_immune"] == pytest.approx((6 * 2 + math.log2(2.99)) / 7)
    assert scores.loc["A", "danaher_treg"] == pytest.approx(2.0)
    cytotoxic_a = (8 * 2 + math.log2(8.99) + math.log2(2.99)) / 10
    assert scores.loc["A", "danaher_cytotoxic_cells"] == pytest.approx(cytotoxic_a)


def test_cyt_is_geometric_mean_of_gzma_and_prf1(tiny):
    scores = signature_scores(tiny)
    assert scores.loc["A", "cyt"] == pytest.approx(math.sqrt(8.0 * 2.0))  # (7.99+.01)(1.99+.01)
    assert scores.loc["B", "cyt"] == pytest.approx(15.01)


def test_geometric_mean_signatures(tiny):
    scores = signature_scores(tiny)
    assert scores.loc["B", "tls"] == pytest.approx(16.0)
    # Roh for B: 40 genes at 16 (TPM+1), STAT1 at 256: exp(mean(log)).
    expected = math.exp((40 * math.log(16) + math.log(256)) / 41)
    assert scores.loc["B", "roh_immune"] == pytest.approx(expected)


def test_gep_weighted_and_housekeeping_normalised(tiny):
    scores = signature_scores(tiny)
    # A: every GEP gene and housekeeping gene at 3 TPM -> normalised values 0 -> score 0.
    assert scores.loc["A", "gep_tcell_inflamed"] == pytest.approx(0.0)
    # B: STAT1 at 255 TPM vs housekeeping at 15 -> only STAT1 contributes.
    expected = gs.GEP_WEIGHTS["STAT1"] * (math.log10(256) - math.log10(16))
    assert scores.loc["B", "gep_tcell_inflamed"] == pytest.approx(expected)


def test_gep_reads_the_published_housekeeping_alias():
    genes = [g for g in needed_genes() if g != "NRDE2"]
    frame = pd.DataFrame({"A": 9.0}, index=genes)
    frame.loc["C14orf102", "A"] = 99.0  # the alias of NRDE2 used in the publication
    with_alias = signature_scores(frame).loc["A", "gep_tcell_inflamed"]
    hk = (10 * 1.0 + 2.0) / 11  # log10(10) for ten genes, log10(100) for NRDE2
    expected = sum(gs.GEP_WEIGHTS.values()) * (1.0 - hk)
    assert with_alias == pytest.approx(expected)


def test_too_few_genes_gives_nan_not_a_silent_score():
    genes = needed_genes()
    frame = pd.DataFrame({"A": 5.0, "B": 5.0}, index=genes)
    # B loses 2 of 6 IFN-gamma genes (4/6 = 0.67 < 0.75): NaN; A loses 1 (5/6 >= 0.75): scored.
    frame.loc[["IFNG", "STAT1"], "B"] = np.nan
    frame.loc["IDO1", "A"] = np.nan
    scores = signature_scores(frame)
    assert MIN_GENE_FRACTION == 0.75
    assert np.isnan(scores.loc["B", "ifng_6"])
    assert scores.loc["A", "ifng_6"] == pytest.approx(math.log2(6))
    assert scores.loc["B", "cyt"] == pytest.approx(5.01)


def test_missing_gene_rows_and_single_gene_types():
    frame = pd.DataFrame({"A": [1.0, 7.0]}, index=["FOXP3", "GZMA"])
    scores = signature_scores(frame)
    assert scores.loc["A", "danaher_treg"] == pytest.approx(1.0)
    assert scores[["ifng_6", "cyt", "gep_tcell_inflamed", "tls"]].isna().all(axis=None)


def test_scores_do_not_depend_on_other_patients(tiny):
    alone = signature_scores(tiny[["A"]])
    together = signature_scores(tiny)
    pd.testing.assert_series_equal(alone.loc["A"], together.loc["A"])
