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


# The inputs each feature is computed from: clinical.csv columns, which are also the request
# fields of POST /predict, plus the raw modalities. A warning about a feature names these (what a
# user can send), and a foreign trial's file is validated only in the columns its model reads.
_MUTATION_LIST = "mutations"  # a MAF in a cohort directory, a list of calls in a request
FEATURE_INPUTS: dict[str, tuple[str, ...]] = {
    **{name: (name,) for name in ("age", "ecog", "pack_years", "prior_lines", "pdl1_tps", "nlr",
                                  "ldh", "albumin")},
    "sex_male": ("sex",),
    **{f"histology_{h}": ("histology",) for h in HISTOLOGIES},
    **{f"smoking_{s}": ("smoking_status",) for s in SMOKING_STATUSES},
    "tmb": ("tmb", _MUTATION_LIST),
    "pdl1_category": ("pdl1_tps",),
    **{col: (col, _MUTATION_LIST) for col in FLAG_COLUMNS},
    "lipi": ("nlr", "ldh"),
    "cold_tumour": ("tmb", "pdl1_tps", "wnt_mut", _MUTATION_LIST),
}
# Features of the other modalities, by FeatureSpec.group: the input that carries them.
MODALITY_INPUTS = {"expression": "expression", "tcr": "tcr", "ctdna": "ctdna"}


def feature_inputs(name: str, group: str | None = None) -> tuple[str, ...]:
    """The inputs feature ``name`` is computed from; a name the pipeline does not build (a
    trial's own column used as given) is its own input."""
    if name in FEATURE_INPUTS:
        return FEATURE_INPUTS[name]
    if group in MODALITY_INPUTS:
        return (MODALITY_INPUTS[group],)
    from features.build import SPECS_BY_NAME  # lazily: build imports this module

    spec = SPECS_BY_NAME.get(name)
    return (MODALITY_INPUTS[spec.group],) if spec is not None else (name,)

# Up to this many cells (a few hundred patients) a clinical frame is read through one object
# array (see ClinicalColumns); beyond, boxing every value costs more than a pandas Series per
# column (measured crossover: about 5,000 cells), so larger frames are read column by column.
ONE_PASS_MAX_CELLS = 4_000
_NUMBER_TYPES = frozenset({float, type(None)})  # values astype(float) reads as pandas would
_CATEGORY_TYPES = frozenset({str, float, type(None)})


class ClinicalColumns:
    """The columns of a clinical frame as numpy arrays, for the feature code.

    A pandas Series per column (or even ``frame.dtypes``) costs more than all the features
    together when a request holds one patient, so the frame is converted once to an object
    array. A column is read from it when its values are plain floats (numbers) or plain text,
    floats and None (categories), which is all that a request or clinical.csv carries; any other
    column, and every column of a frame with repeated names or too large to box, is read through
    pandas as before. Both ways give the same values.
    """

    def __init__(self, clinical: pd.DataFrame) -> None:
        self.frame = clinical
        self.position = {name: j for j, name in enumerate(clinical.columns)}
        unique = len(self.position) == len(clinical.columns)
        small = len(clinical) * len(clinical.columns) <= ONE_PASS_MAX_CELLS
        self.boxed = clinical.to_numpy(dtype=object) if unique and small else None

    def numbers(self, names: list[str]) -> np.ndarray:
        """patients x ``names`` floats; NaN for absent columns and text that is not a number."""
        out = np.full((len(self.frame), len(names)), np.nan, order="F")  # columns contiguous
        present = [k for k, name in enumerate(names) if name in self.position]
        block = self._block([names[k] for k in present], _NUMBER_TYPES)
        if block is not None:  # the usual case: every value a float, one conversion
            out[:, present] = block.astype(float)  # None becomes NaN
            return out
        for k in present:
            out[:, k] = self._number(names[k])
        return out

    def _block(self, names: list[str], types: frozenset) -> np.ndarray | None:
        """The ``names`` columns as objects when read in one pass and every value is of
        ``types``."""
        if self.boxed is None:
            return None
        block = self.boxed[:, [self.position[name] for name in names]]
        return block if set(map(type, block.ravel())) <= types else None

    def _number(self, name: str) -> np.ndarray:
        boxed = self._block([name], _NUMBER_TYPES)
        if boxed is not None:
            return boxed[:, 0].astype(float)
        column = self.frame[name]
        if pd.api.types.is_float_dtype(column.dtype):  # already numeric: no parse
            return column.to_numpy(dtype=float)
        return pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)

    def objects(self, names: list[str]) -> np.ndarray:
        """patients x ``names`` values as objects; None for absent columns."""
        out = np.full((len(self.frame), len(names)), None, dtype=object, order="F")
        present = [k for k, name in enumerate(names) if name in self.position]
        block = self._block([names[k] for k in present], _CATEGORY_TYPES)
        if block is not None:
            out[:, present] = block
            return out
        for k, name in enumerate(names):
            if name in self.position:
                boxed = self._block([name], _CATEGORY_TYPES)
                out[:, k] = (boxed[:, 0] if boxed is not None
                             else self.frame[name].to_numpy(dtype=object))
        return out

    def patient_index(self) -> pd.Index:
        """``patient_id`` as text, named patient_id: the row labels of the feature frame."""
        if "patient_id" in self.position:
            ids = self._block(["patient_id"], frozenset({str}))
            if ids is not None:  # already text
                return pd.Index(ids[:, 0], name="patient_id")
        return pd.Index(self.frame["patient_id"].astype(str), name="patient_id")


def _flag(condition: np.ndarray, value: np.ndarray) -> np.ndarray:
    """``condition`` as a float (True = 1), NaN where ``value``, its input, is missing."""
    return np.where(np.isnan(value), np.nan, condition)


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
    columns (NaN when those are empty too).
    """
    columns = ClinicalColumns(clinical)
    index = columns.patient_index()
    values = clinical_values(columns, index, mutations, panel_size_mb)
    return pd.DataFrame(values, index=index, columns=NAMES)


# Clinical columns read as numbers (wnt_mut too, should a clinical table carry it) and the
# features that are these numbers as given (tmb and the flags after the mutation calls).
NUMERIC_INPUTS = ["age", "ecog", "pack_years", "prior_lines", "tmb", "pdl1_tps", "nlr", "ldh",
                  "albumin", *FLAG_COLUMNS]
_INPUT = {name: k for k, name in enumerate(NUMERIC_INPUTS)}
_POSITION = {name: j for j, name in enumerate(NAMES)}
_AS_GIVEN = [name for name in NUMERIC_INPUTS if name in _POSITION]
_AS_GIVEN_TARGET = [_POSITION[name] for name in _AS_GIVEN]
_AS_GIVEN_SOURCE = [_INPUT[name] for name in _AS_GIVEN]
# One-hot features: (feature, categorical column, level).
ONE_HOT = [
    ("sex_male", "sex", "M"),
    *[(f"histology_{h}", "histology", h) for h in HISTOLOGIES],
    *[(f"smoking_{s}", "smoking_status", s) for s in SMOKING_STATUSES],
]
_CATEGORICAL = list(dict.fromkeys(column for _, column, _ in ONE_HOT))
_ONE_HOT_TARGET = [_POSITION[name] for name, _, _ in ONE_HOT]
_ONE_HOT_SOURCE = [_CATEGORICAL.index(column) for _, column, _ in ONE_HOT]
_ONE_HOT_LEVEL = np.array([level for _, _, level in ONE_HOT], dtype=object)


def clinical_values(
    columns: ClinicalColumns, index: pd.Index, mutations: pd.DataFrame | None,
    panel_size_mb: float | None,
) -> np.ndarray:
    """clinical_features as a patients x NAMES array (``index``: the patients' ids, in row
    order). Whole-column numpy, written into one array: this runs per request."""
    number = columns.numbers(NUMERIC_INPUTS)
    if mutations is not None and len(mutations):
        _use_mutation_calls(number, index, mutations, panel_size_mb)
    values = np.full((len(index), len(NAMES)), np.nan, order="F")  # columns contiguous
    values[:, _AS_GIVEN_TARGET] = number[:, _AS_GIVEN_SOURCE]

    category = columns.objects(_CATEGORICAL)
    known = pd.notna(category)[:, _ONE_HOT_SOURCE]  # a column per ONE_HOT entry
    hot = category[:, _ONE_HOT_SOURCE] == _ONE_HOT_LEVEL
    values[:, _ONE_HOT_TARGET] = np.where(known, hot, np.nan)

    tmb, pdl1, nlr, ldh, wnt = (number[:, _INPUT[n]] for n in
                                ("tmb", "pdl1_tps", "nlr", "ldh", "wnt_mut"))
    pdl1_category = np.where(pdl1 < PDL1_CUTS[0], 0.0, np.where(pdl1 < PDL1_CUTS[1], 1.0, 2.0))
    values[:, _POSITION["pdl1_category"]] = _flag(pdl1_category, pdl1)
    high_dnlr = _flag(dnlr_from_nlr(nlr) > LIPI_DNLR_CUTOFF, nlr)
    high_ldh = _flag(ldh > LDH_ULN_U_PER_L, ldh)
    values[:, _POSITION["lipi"]] = high_dnlr + high_ldh  # NaN unless both factors are known
    low_tmb = _flag(tmb < COLD_TMB_BELOW, tmb)
    pdl1_neg = _flag(pdl1 < COLD_PDL1_BELOW, pdl1)
    values[:, _POSITION["cold_tumour"]] = _kleene_or(low_tmb, pdl1_neg, wnt)
    return values


def _use_mutation_calls(number: np.ndarray, index: pd.Index, mutations: pd.DataFrame,
                        panel_size_mb: float | None) -> None:
    """For sequenced patients, TMB (given a panel size) and the gene flags from their calls
    replace the clinical values in ``number`` (patients x NUMERIC_INPUTS)."""
    seq = mutations.reindex(index)
    count = seq["nonsyn_count"].to_numpy(dtype=float)
    sequenced = ~np.isnan(count)
    if panel_size_mb is not None:
        number[sequenced, _INPUT["tmb"]] = count[sequenced] / float(panel_size_mb)
    for col in FLAG_COLUMNS:
        number[sequenced, _INPUT[col]] = seq[col].to_numpy(dtype=float)[sequenced]
