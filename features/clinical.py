"""Clinical and biomarker features: numeric codes for categories, TMB, PD-L1, flags, LIPI, cold."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cohorts.schema import HISTOLOGIES, SMOKING_STATUSES
from features.mutations import FLAG_COLUMNS
from features.specs import FeatureSpec, spec

# LIPI (Mezquita et al., JAMA Oncol 2018;4:351): dNLR > 3 and LDH > upper limit of normal (ULN).
LIPI_DNLR_CUTOFF = 3.0
# Mezquita used each centre's laboratory ULN; the cohort format carries LDH in U/L without a
# per-laboratory ULN, so we use 250 U/L, a common adult reference upper limit (our assumption).
LDH_ULN_U_PER_L = 250.0
# dNLR = neutrophils / (white cells - neutrophils). With only NLR = N/L known, we approximate the
# non-neutrophil, non-lymphocyte share of white cells (monocytes + eosinophils + basophils) by a
# typical adult differential, f = 0.11 (our assumption), which gives
# dNLR = NLR / (1 + f/(1-f) * (NLR + 1)); dNLR > 3 then corresponds to NLR > 5.36.
OTHER_LEUKOCYTE_FRACTION = 0.11

# Cold tumour (Huang et al., Nat Cancer 2025): low TMB, PD-L1 negative, or a Wnt-pathway mutation.
# Low TMB: < 10 mut/Mb, the FDA-approved high-TMB cut-off (Marcus et al., Clin Cancer Res 2021);
# PD-L1 negative: TPS < 1% (22C3), as in PEMBRO-RT (Theelen et al., JAMA Oncol 2019).
COLD_TMB_BELOW = 10.0
COLD_PDL1_BELOW = 1.0

# PD-L1 TPS categories <1, 1-49, >=50 % (KEYNOTE cut-offs; Theelen 2019 subgroups).
PDL1_CUTS = (1.0, 50.0)

MEZQUITA = "Mezquita et al., JAMA Oncol 2018"
FORMAT = "clinical.csv (docs/cohort-format.md)"

SPECS: list[FeatureSpec] = [
    spec("age", "clinical", "years", FORMAT, "Age at randomisation."),
    spec("sex_male", "clinical", "0/1", FORMAT, "1 if sex is M, 0 if F."),
    spec("ecog", "clinical", "0-4", FORMAT, "ECOG performance status."),
    *[
        spec(f"histology_{h}", "clinical", "0/1", FORMAT, f"One-hot: histology is {h}.")
        for h in HISTOLOGIES
    ],
    *[
        spec(f"smoking_{s}", "clinical", "0/1", FORMAT, f"One-hot: smoking status is {s}.")
        for s in SMOKING_STATUSES
    ],
    spec("pack_years", "clinical", "pack-years", FORMAT, "Cumulative tobacco exposure."),
    spec("prior_lines", "clinical", "lines", FORMAT, "Prior systemic therapy lines."),
    spec("tmb", "biomarker", "mut/Mb",
         "MAF + cohort.json panel_size_mb; maftools nonSyn classes (Mayakonda 2018)",
         "Nonsynonymous coding mutations per Mb of panel when the patient was sequenced, "
         "else the clinical tmb column."),
    spec("pdl1_tps", "biomarker", "%", FORMAT, "PD-L1 tumour proportion score (22C3)."),
    spec("pdl1_category", "biomarker", "0/1/2", "Theelen et al., JAMA Oncol 2019",
         "PD-L1 TPS category: 0 = <1%, 1 = 1-49%, 2 = >=50%."),
    *[
        spec(col, "biomarker", "0/1", "MAF (nonsynonymous) or clinical.csv flag",
             f"{col.split('_')[0].upper()} mutated (nonsynonymous call in the MAF when "
             "sequenced, else the clinical flag).")
        for col in FLAG_COLUMNS[:-1]
    ],
    spec("wnt_mut", "biomarker", "0/1", "cohorts.genesets.WNT_PATHWAY; Huang et al. 2025",
         "Nonsynonymous mutation in a Wnt/beta-catenin pathway gene (needs a MAF or mutation "
         "list)."),
    spec("nlr", "biomarker", "ratio", FORMAT, "Neutrophil-to-lymphocyte ratio."),
    spec("ldh", "biomarker", "U/L", FORMAT, "Lactate dehydrogenase."),
    spec("albumin", "biomarker", "g/dL", FORMAT, "Serum albumin."),
    spec("lipi", "biomarker", "0/1/2", MEZQUITA,
         "Lung immune prognostic index: number of dNLR > 3 (approximated from NLR) and "
         "LDH > 250 U/L; 0 good, 1 intermediate, 2 poor."),
    spec("cold_tumour", "biomarker", "0/1", "Huang et al., Nat Cancer 2025",
         "1 if TMB < 10 mut/Mb, PD-L1 TPS < 1% or a Wnt-pathway mutation; 0 if none and all "
         "three are known; NaN otherwise."),
]
NAMES = [s.name for s in SPECS]


def _column(clinical: pd.DataFrame, name: str) -> np.ndarray:
    if name not in clinical:
        return np.full(len(clinical), np.nan)
    column = clinical[name]
    if pd.api.types.is_float_dtype(column.dtype):  # already numeric (the serving path): no parse
        return column.to_numpy(dtype=float)
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)


def _category(clinical: pd.DataFrame, name: str) -> np.ndarray:
    if name not in clinical:
        return np.full(len(clinical), None, dtype=object)
    return clinical[name].to_numpy(dtype=object)


def _one_hot(values: np.ndarray, level: str) -> np.ndarray:
    known = pd.notna(values)
    return np.where(known, (values == level).astype(float), np.nan)


def _flag(condition: np.ndarray, known: np.ndarray) -> np.ndarray:
    return np.where(known, condition.astype(float), np.nan)


def dnlr_from_nlr(nlr):
    """Approximate derived NLR from NLR (see OTHER_LEUKOCYTE_FRACTION)."""
    f = OTHER_LEUKOCYTE_FRACTION
    return nlr / (1.0 + f / (1.0 - f) * (nlr + 1.0))


def _kleene_or(*flags: np.ndarray) -> np.ndarray:
    """Three-valued OR: 1 if any flag is 1, 0 if all are known 0, NaN otherwise."""
    stacked = np.vstack(flags)
    anyone = (stacked == 1).any(axis=0)
    known = ~np.isnan(stacked).any(axis=0)
    return np.where(anyone, 1.0, np.where(known, 0.0, np.nan))


def clinical_features(
    clinical: pd.DataFrame, mutations: pd.DataFrame | None, panel_size_mb: float | None
) -> pd.DataFrame:
    """Clinical and biomarker features for every patient of ``clinical``.

    ``mutations`` is the per-patient mutation summary (features.mutations) of the sequenced
    patients; for them TMB and gene flags come from the calls, for the others from the clinical
    columns (NaN when those are empty too). Plain numpy per column: this runs per request.
    """
    index = pd.Index(clinical["patient_id"].astype(str), name="patient_id")
    out: dict[str, np.ndarray] = {"age": _column(clinical, "age")}
    out["sex_male"] = _one_hot(_category(clinical, "sex"), "M")
    out["ecog"] = _column(clinical, "ecog")
    histology = _category(clinical, "histology")
    for level in HISTOLOGIES:
        out[f"histology_{level}"] = _one_hot(histology, level)
    smoking = _category(clinical, "smoking_status")
    for level in SMOKING_STATUSES:
        out[f"smoking_{level}"] = _one_hot(smoking, level)
    out["pack_years"] = _column(clinical, "pack_years")
    out["prior_lines"] = _column(clinical, "prior_lines")

    tmb = _column(clinical, "tmb")
    flags = {col: _column(clinical, col) for col in FLAG_COLUMNS}  # wnt_mut has no clinical column
    if mutations is not None and len(mutations):
        seq = mutations.reindex(index)
        count = seq["nonsyn_count"].to_numpy(dtype=float)
        sequenced = ~np.isnan(count)
        if panel_size_mb is not None:
            tmb = np.where(sequenced, count / float(panel_size_mb), tmb)
        for col in FLAG_COLUMNS:
            flags[col] = np.where(sequenced, seq[col].to_numpy(dtype=float), flags[col])
    out["tmb"] = tmb
    pdl1 = _column(clinical, "pdl1_tps")
    out["pdl1_tps"] = pdl1
    category = np.select([pdl1 < PDL1_CUTS[0], pdl1 < PDL1_CUTS[1]], [0.0, 1.0], 2.0)
    out["pdl1_category"] = np.where(np.isnan(pdl1), np.nan, category)
    out.update(flags)
    nlr, ldh = _column(clinical, "nlr"), _column(clinical, "ldh")
    out["nlr"], out["ldh"], out["albumin"] = nlr, ldh, _column(clinical, "albumin")
    high_dnlr = _flag(dnlr_from_nlr(nlr) > LIPI_DNLR_CUTOFF, ~np.isnan(nlr))
    high_ldh = _flag(ldh > LDH_ULN_U_PER_L, ~np.isnan(ldh))
    out["lipi"] = high_dnlr + high_ldh  # NaN unless both factors are known
    low_tmb = _flag(tmb < COLD_TMB_BELOW, ~np.isnan(tmb))
    pdl1_neg = _flag(pdl1 < COLD_PDL1_BELOW, ~np.isnan(pdl1))
    out["cold_tumour"] = _kleene_or(low_tmb, pdl1_neg, flags["wnt_mut"])
    return pd.DataFrame(np.column_stack([out[name] for name in NAMES]), index=index,
                        columns=NAMES)
