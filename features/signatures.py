"""Immune signature scores from a genes x patients TPM matrix (gene lists: cohorts.genesets).

Every score is computed for one patient from that patient's values only (no z-scoring across the
cohort), so a patient scores the same in a 1,000-patient training run and in a 1-patient request.
A score needs at least MIN_GENE_FRACTION of its genes measured for that patient, else it is NaN.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from cohorts import genesets as gs
from features.specs import FeatureSpec, spec

MIN_GENE_FRACTION = 0.75  # below this share of a signature's genes the score is NaN (+ warning)

AYERS = "Ayers et al., J Clin Invest 2017"
LOG2 = "mean log2(TPM+1)"


def _mean_log2_specs() -> list[tuple[str, list[str], str, str]]:
    """(feature name, genes, source, description) of every mean-log2 signature."""
    rows = [
        ("ifng_6", gs.IFNG_6, AYERS, "IFN-gamma 6-gene signature"),
        ("expanded_immune_18", gs.EXPANDED_IMMUNE_18, AYERS, "Expanded immune 18-gene signature"),
        ("chemokine_12", gs.CHEMOKINE_12, "Messina et al., Sci Rep 2012",
         "12-chemokine signature (per-patient mean log2 instead of the paper's cohort z-scores)"),
        ("davoli_immune", gs.DAVOLI_IMMUNE, "Davoli et al., Science 2017",
         "Immune infiltrate signature (per-patient mean log2)"),
    ]
    rows += [
        (f"danaher_{cell}", genes, "Danaher et al., J Immunother Cancer 2017",
         f"Danaher {cell.replace('_', ' ')} cell-type score")
        for cell, genes in gs.DANAHER_CELL_TYPES.items()
    ]
    return rows


MEAN_LOG2 = _mean_log2_specs()

SPECS: list[FeatureSpec] = [
    *[spec(name, "expression", LOG2, src, f"{desc}: mean log2(TPM+1) of its genes.")
      for name, _, src, desc in MEAN_LOG2],
    spec("gep_tcell_inflamed", "expression", "weighted log10 (housekeeping-normalised)",
         "Ayers et al., JCI 2017; Cristescu et al., Science 2018",
         "T cell-inflamed GEP: sum of published weights x (log10(TPM+1) minus the mean "
         "log10(TPM+1) of the 11 housekeeping genes)."),
    spec("cyt", "expression", "TPM (geometric mean)", "Rooney et al., Cell 2015",
         "Cytolytic activity: geometric mean of GZMA and PRF1 TPM + 0.01."),
    spec("roh_immune", "expression", "TPM+1 (geometric mean)", "Roh et al., Sci Transl Med 2017",
         "Immune score: geometric mean of TPM+1 over its 41 genes."),
    spec("tls", "expression", "TPM+1 (geometric mean)", "Cabrita et al., Nature 2020",
         "Tertiary lymphoid structure signature: geometric mean of TPM+1 over its 9 genes."),
]
NAMES = [s.name for s in SPECS]


_NEEDED_GENES = tuple(sorted({*gs.signature_genes(), *gs.GENE_ALIASES}))


def needed_genes() -> list[str]:
    """Every symbol a score reads (with the published aliases), for selective reading."""
    return list(_NEEDED_GENES)  # a fresh list: callers may change theirs


def min_genes(n: int) -> int:
    return math.ceil(MIN_GENE_FRACTION * n - 1e-9)


GENES = gs.signature_genes()  # row order of the working matrix
_ROW = {gene: i for i, gene in enumerate(GENES)}


def _idx(genes) -> np.ndarray:
    return np.array([_ROW[g] for g in genes])


def _row_sum(rows: np.ndarray) -> np.ndarray:
    """Sum along each row in a fixed sequential order (np.sum's pairwise/SIMD order depends on
    the array's shape, so a patient would score differently alone and in a batch)."""
    if rows.shape[1] == 0:
        return np.zeros(len(rows))
    return np.cumsum(rows, axis=1)[:, -1]


def _mean(values: np.ndarray, genes) -> np.ndarray:
    """Per-patient mean over the ``genes`` columns, NaN below the minimum of measured genes.

    ``values`` is patients x genes; see _row_sum for why the reduction is sequential.
    """
    rows = values[:, _idx(genes)]
    measured = ~np.isnan(rows)
    n = measured.sum(axis=1)
    total = _row_sum(np.where(measured, rows, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n >= min_genes(len(genes)), total / n, np.nan)


def _geometric_mean(tpm: np.ndarray, genes, offset: float) -> np.ndarray:
    return np.exp(_mean(np.log(tpm + offset), genes))


def _gep(tpm: np.ndarray) -> np.ndarray:
    log10 = np.log10(tpm + 1.0)
    housekeeping = _mean(log10, gs.GEP_HOUSEKEEPING)
    weights = np.array(list(gs.GEP_WEIGHTS.values()))[None, :]
    rows = log10[:, _idx(gs.GEP_WEIGHTS)] - housekeeping[:, None]
    measured = ~np.isnan(rows)
    raw = _row_sum(np.where(measured, rows * weights, 0.0))
    # Missing genes (at most 25%) are handled by rescaling to the full absolute weight.
    present_weight = _row_sum(measured * np.abs(weights))
    with np.errstate(invalid="ignore", divide="ignore"):
        score = raw * (np.abs(weights).sum() / present_weight)
    enough = measured.sum(axis=1) >= min_genes(len(gs.GEP_WEIGHTS))
    return np.where(enough & ~np.isnan(housekeeping), score, np.nan)


def standardise_symbols(expression: pd.DataFrame) -> pd.DataFrame:
    """Map published aliases (C14orf102 -> NRDE2); per patient, the current symbol's value wins
    and the alias fills in where the current symbol is missing."""
    expression = expression.copy()
    for alias, current in gs.GENE_ALIASES.items():
        if alias in expression.index:
            if current in expression.index:
                merged = expression.loc[current].fillna(expression.loc[alias])
                expression.loc[current] = merged
            else:
                expression.loc[current] = expression.loc[alias]
            expression = expression.drop(index=alias)
    return expression


def signature_scores(expression: pd.DataFrame) -> pd.DataFrame:
    """Patients x signatures from genes x patients TPM (NaN cells = gene not measured)."""
    wanted = expression.index.isin(set(needed_genes()))  # subset first: never copy 20,000 genes
    tpm = np.ascontiguousarray(  # patients x genes
        standardise_symbols(expression[wanted]).reindex(GENES).to_numpy(dtype=float).T
    )
    log2 = np.log2(tpm + 1.0)
    scores = {name: _mean(log2, genes) for name, genes, _, _ in MEAN_LOG2}
    scores["gep_tcell_inflamed"] = _gep(tpm)
    scores["cyt"] = _geometric_mean(tpm, gs.CYT, 0.01)
    scores["roh_immune"] = _geometric_mean(tpm, gs.ROH_IMMUNE, 1.0)
    scores["tls"] = _geometric_mean(tpm, gs.TLS, 1.0)
    return pd.DataFrame(
        np.column_stack([scores[name] for name in NAMES]) if len(tpm) else
        np.empty((0, len(NAMES))),
        index=pd.Index(expression.columns.astype(str), name="patient_id"), columns=NAMES,
    )
