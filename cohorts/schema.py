"""pandera schemas for every file of a cohort directory: defined once, imported everywhere.

The patient fields of clinical.csv (names, ranges, vocabularies) are not written here: they come
from the one input contract, cohorts/contract.py, which the serving request and the record reader
are built from too; so are the messages of offending cells. docs/cohort-format.md documents them.
"""

from __future__ import annotations

import re

import pandas as pd
import pandera.pandas as pa

from cohorts import contract
from cohorts.contract import (  # noqa: F401  (importers read the vocabulary from here)
    BASELINE_FIELDS,
    BEST_RESPONSES,
    HISTOLOGIES,
    MAF_VARIANT_CLASSIFICATIONS,
    NEAR_MISS_CUTOFF,
    SEXES,
    SMOKING_STATUSES,
)
from cohorts.errors import CohortFormatError, Problem

ARMS = {0: "ICI alone", 1: "RT then ICI"}
TIMEPOINTS = ["baseline", "on_treatment"]

# The patient fields, from the contract's table (cohorts/contract.py): the columns a patient may
# carry in clinical.csv and in a serving request, with their ranges and vocabularies.
NUMERIC_BASELINE = {s.name: s.range for s in BASELINE_FIELDS if s.kind == "number"}
# Counts and grades: whole numbers (an ECOG of 2.5 or 1.7 prior lines is a data error).
INTEGER_BASELINE = tuple(s.name for s in BASELINE_FIELDS if s.whole)
CATEGORICAL_BASELINE = {s.name: list(s.values) for s in BASELINE_FIELDS if s.kind == "category"}
MUTATION_FLAGS = [s.name for s in BASELINE_FIELDS if s.kind == "flag"]
BASELINE_COLUMNS = [*NUMERIC_BASELINE, *CATEGORICAL_BASELINE, *MUTATION_FLAGS]
OUTCOME_COLUMNS = ["pfs_months", "pfs_event", "os_months", "os_event", "best_response"]
# Every column name the format gives a meaning to: a column whose name is close to one of these
# (``pdl1_tsp``) is a likely misspelling, refused as the HTTP API refuses it.
KNOWN_COLUMNS = ["patient_id", "arm", *OUTCOME_COLUMNS, *BASELINE_COLUMNS]


def likely_field(column: str, known: list[str] | None = None) -> str | None:
    """The known column ``column`` is probably a misspelling of (case-insensitive), or None."""
    return contract.likely_field(column, KNOWN_COLUMNS if known is None else known)


# Variant classifications that count as nonsynonymous coding mutations (for TMB and gene flags;
# the simulator writes TMB with the same set): the default "nonSyn" set of maftools (Mayakonda et
# al., Genome Res 2018;28:1747), the protein-altering classes MSK-IMPACT TMB counts (Samstein et
# al., Nat Genet 2019;51:202). Silent, UTR, intronic, flanking and intergenic calls are excluded.
NONSYNONYMOUS_CLASSIFICATIONS = (
    "Missense_Mutation", "Nonsense_Mutation", "Frame_Shift_Del", "Frame_Shift_Ins",
    "In_Frame_Del", "In_Frame_Ins", "Splice_Site", "Translation_Start_Site", "Nonstop_Mutation",
)


_WHOLE_NUMBER = pa.Check(lambda s: s.isna() | (s % 1 == 0), element_wise=False,
                         name="whole_number", error="expected a whole number")


def _binary(name: str, *, required: bool = False, nullable: bool = True) -> pa.Column:
    return pa.Column(
        float, pa.Check.isin([0, 1]), name=name, required=required, nullable=nullable, coerce=True
    )


def _baseline_column(spec: contract.FieldSpec) -> pa.Column:
    """The pandera column of one patient field of the contract (optional, nullable)."""
    if spec.kind == "flag":
        return _binary(spec.name)
    if spec.kind == "category":
        return pa.Column(str, pa.Check.isin(list(spec.values)), required=False, nullable=True)
    checks = [pa.Check.in_range(*spec.range), *([_WHOLE_NUMBER] if spec.whole else [])]
    return pa.Column(float, checks, required=False, nullable=True, coerce=True)


CLINICAL_SCHEMA = pa.DataFrameSchema(
    {
        "patient_id": pa.Column(str, pa.Check.str_length(min_value=1), unique=True, coerce=True),
        "arm": pa.Column(int, pa.Check.isin([0, 1]), coerce=True),
        "pfs_months": pa.Column(float, pa.Check.gt(0), coerce=True),
        "pfs_event": pa.Column(int, pa.Check.isin([0, 1]), coerce=True),
        "os_months": pa.Column(float, pa.Check.gt(0), required=False, nullable=True, coerce=True),
        "os_event": _binary("os_event"),
        "best_response": pa.Column(
            str, pa.Check.isin(BEST_RESPONSES), required=False, nullable=True
        ),
        **{spec.name: _baseline_column(spec) for spec in BASELINE_FIELDS},
    },
    strict=False,  # extra columns are allowed: training maps them with --features
    name="clinical.csv",
)

ENDPOINTS = ("pfs", "os")


def clinical_schema(endpoint: str | None = "pfs") -> pa.DataFrameSchema:
    """CLINICAL_SCHEMA requiring the time and event columns of ``endpoint`` only.

    ``endpoint=None`` is for scoring new patients: arm and outcomes are then optional.
    """
    if endpoint not in (*ENDPOINTS, None):
        raise ValueError(f"endpoint must be one of {ENDPOINTS}, got {endpoint!r}")
    if endpoint == "pfs":
        return CLINICAL_SCHEMA
    optional = {"required": False, "nullable": True}
    changes = {
        "pfs_months": optional,
        "pfs_event": {**optional, "dtype": float},
    }
    if endpoint == "os":
        changes["os_months"] = {"required": True, "nullable": False}
        changes["os_event"] = {"required": True, "nullable": False}
    else:
        changes["arm"] = {**optional, "dtype": float}
    return CLINICAL_SCHEMA.update_columns(changes)


MAF_SCHEMA = pa.DataFrameSchema(
    {
        "Hugo_Symbol": pa.Column(str, pa.Check.str_length(min_value=1)),
        "Variant_Classification": pa.Column(str, pa.Check.isin(MAF_VARIANT_CLASSIFICATIONS)),
        "Tumor_Sample_Barcode": pa.Column(str, pa.Check.str_length(min_value=1), coerce=True),
        "t_alt_count": pa.Column(int, pa.Check.ge(0), coerce=True),
        "t_depth": pa.Column(int, pa.Check.gt(0), coerce=True),
    },
    checks=[
        pa.Check(lambda df: df["t_alt_count"] <= df["t_depth"], error="t_alt_count <= t_depth")
    ],
    strict=False,
    name="mutations.maf",
)

AIRR_SCHEMA = pa.DataFrameSchema(
    {
        "junction_aa": pa.Column(str, pa.Check.str_matches(r"^[ACDEFGHIKLMNPQRSTVWY*]+$")),
        "v_call": pa.Column(str, nullable=True),
        "j_call": pa.Column(str, nullable=True),
        "duplicate_count": pa.Column(int, pa.Check.ge(1), coerce=True),
    },
    strict=False,
    name="AIRR rearrangements",
)

CTDNA_SCHEMA = pa.DataFrameSchema(
    {
        "patient_id": pa.Column(str, coerce=True),
        "timepoint": pa.Column(str, pa.Check.isin(TIMEPOINTS)),
        "max_vaf": pa.Column(float, pa.Check.in_range(0, 1), nullable=True, coerce=True),
    },
    unique=["patient_id", "timepoint"],
    strict=False,
    name="ctdna.csv",
)


def validate(df: pd.DataFrame, schema: pa.DataFrameSchema, file: str, *, header_lines: int = 1):
    """Validate ``df`` lazily and raise one CohortFormatError that lists every offending cell.

    ``df`` must keep the default RangeIndex of the file it was read from, so that the index maps
    to a line number (``index + header_lines + 1``).
    """
    try:
        return schema.validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        raise CohortFormatError(file, _problems(exc.failure_cases, header_lines)) from None


_DTYPE_WORDS = {"float64": "a number", "int64": "an integer", "str": "text", "object": "text"}


def _problems(cases: pd.DataFrame, header_lines: int) -> list[Problem]:
    problems: dict[tuple, Problem] = {}
    typed_columns: set[str] = set()
    for case in cases.itertuples(index=False):
        column = case.column if isinstance(case.column, str) else None
        line = None if pd.isna(case.index) else int(case.index) + header_lines + 1
        check, value = str(case.check), case.failure_case
        if check == "column_in_dataframe":
            column, value, message = str(value), None, "required column is missing"
        elif check.startswith(("coerce_dtype", "dtype")):
            dtype = re.sub(r"^\w+\('?|'?\)$", "", check)
            message = f"expected {_DTYPE_WORDS.get(dtype, dtype)}"
            typed_columns.add(column or "")
        elif "unique" in check:
            message = "duplicate value; must be unique"
        elif check == "not_nullable":
            message, value = "a value is required", None
        else:
            message = f"expected {check}"
        if line is not None and column in contract.FIELD and column != "patient_id":
            # an offending cell of a patient field: the contract's message, as in a request
            message = contract.value_message(column, value) or message
        problems.setdefault((line, column), Problem(column, message, line, value))
    # A check that crashed on a column with wrongly typed cells repeats the dtype problem.
    kept = [
        p for p in problems.values()
        if not (p.line is None and typed_columns and p.message.startswith("expected")
                and (p.column in typed_columns or "Error(" in str(p.value)))
    ]
    return sorted(kept, key=lambda p: (p.line is None, p.line or 0, p.column or ""))
