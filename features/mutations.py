"""TMB and gene-level mutation flags from somatic mutation calls (MAF rows)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cohorts.genesets import FLAGGED_GENES, WNT_PATHWAY
from cohorts.schema import NONSYNONYMOUS_CLASSIFICATIONS

NONSYNONYMOUS = list(NONSYNONYMOUS_CLASSIFICATIONS)  # defined and cited in cohorts/schema.py

FLAG_COLUMNS = [*FLAGGED_GENES.values(), "wnt_mut"]
SUMMARY_COLUMNS = ["nonsyn_count", *FLAG_COLUMNS]


def mutation_summary(mutations: pd.DataFrame) -> pd.DataFrame:
    """Per patient (Tumor_Sample_Barcode): nonsynonymous count and 0/1 gene and Wnt flags.

    Every patient with at least one row is in the result (a patient with only silent calls was
    sequenced and has count 0). Works on any subset of patients, so Dask can map it over
    partitions shuffled by patient.
    """
    codes, patients = pd.factorize(mutations["Tumor_Sample_Barcode"])
    n = len(patients)
    nonsyn = mutations["Variant_Classification"].isin(NONSYNONYMOUS).to_numpy()
    gene = mutations["Hugo_Symbol"]
    columns = {"nonsyn_count": np.bincount(codes[nonsyn], minlength=n).astype(float)}
    for symbol, column in FLAGGED_GENES.items():
        hit = nonsyn & gene.eq(symbol).to_numpy()
        columns[column] = (np.bincount(codes[hit], minlength=n) > 0).astype(float)
    hit = nonsyn & gene.isin(WNT_PATHWAY).to_numpy()
    columns["wnt_mut"] = (np.bincount(codes[hit], minlength=n) > 0).astype(float)
    index = pd.Index(np.asarray(patients).astype(str), name="patient_id")
    return pd.DataFrame(columns, index=index)[SUMMARY_COLUMNS]


def empty_summary() -> pd.DataFrame:
    return pd.DataFrame(
        {c: pd.Series(dtype=float) for c in SUMMARY_COLUMNS},
        index=pd.Index([], dtype=object, name="patient_id"),
    )


def tmb(summary: pd.DataFrame, panel_size_mb: float | None) -> pd.Series:
    """Nonsynonymous mutations per Mb of the declared panel territory (NaN without a panel size)."""
    if panel_size_mb is None:
        return pd.Series(np.nan, index=summary.index)
    return summary["nonsyn_count"] / float(panel_size_mb)
