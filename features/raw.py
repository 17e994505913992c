"""Raw inputs of the feature pipeline, from a cohort directory (training) or JSON records (serving).

Both constructors produce the same RawInputs, and build_features is the only code that turns them
into features: this is what keeps training and serving vectors identical.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cohorts.io import CTDNA_FILE, EXPRESSION_FILE, MAF_FILE, TCR_DIR, Cohort
from cohorts.readers import read_airr, read_ctdna, read_expression, read_maf, read_tcr, tcr_files
from cohorts.schema import (
    BASELINE_COLUMNS,
    CATEGORICAL_BASELINE,
    MAF_VARIANT_CLASSIFICATIONS,
    NUMERIC_BASELINE,
)
from features.signatures import needed_genes


@dataclass
class RawInputs:
    """Everything the pipeline reads for a set of patients; any modality may be absent (None).

    ``mutations`` needs Tumor_Sample_Barcode, Hugo_Symbol, Variant_Classification; ``expression``
    is genes x patients TPM; ``tcr`` is long AIRR (patient_id, timepoint, junction_aa, v_call,
    j_call, duplicate_count). ``mutations`` and ``tcr`` may also be dask DataFrames (scale-out).
    ``sequenced_patients`` lists patients whose tumour was sequenced; None means "those with at
    least one row in ``mutations``" (a request with an empty mutation list was sequenced).
    """

    clinical: pd.DataFrame
    mutations: pd.DataFrame | None = None
    expression: pd.DataFrame | None = None
    tcr: pd.DataFrame | None = None
    ctdna: pd.DataFrame | None = None
    panel_size_mb: float | None = None
    sequenced_patients: list[str] | None = None
    report: dict = field(default_factory=dict)
    input_files: dict[str, Path] = field(default_factory=dict)


def unknown_gene_count(symbols) -> int:
    """Symbols no feature uses. Without an offline HGNC list this is "unused", not "invalid"."""
    used = set(needed_genes())
    return sum(1 for s in symbols if s not in used)


def raw_inputs_from_cohort(cohort: Cohort, *, lazy: bool = False) -> RawInputs:
    """Read and validate every modality file of a cohort (a clinical-only cohort has none).

    ``lazy=True`` (scale-out) gives the MAF and repertoires as dask DataFrames, read and
    validated on the workers, one partition per file.
    """
    files: dict[str, Path] = {}
    if cohort.root is not None:
        files["clinical.csv"] = cohort.root / "clinical.csv"
    raw = RawInputs(clinical=cohort.clinical, panel_size_mb=cohort.meta.panel_size_mb)
    if (path := cohort.path(MAF_FILE)) is not None:
        raw.mutations = _lazy(read_maf, [(path,)], MAF_META) if lazy else read_maf(path)
        files[MAF_FILE] = path
    if (path := cohort.path(EXPRESSION_FILE)) is not None:
        raw.expression, symbols = read_expression(path, genes=needed_genes())
        raw.report["expression_genes"] = len(symbols)
        raw.report["unknown_genes"] = unknown_gene_count(symbols)
        files[EXPRESSION_FILE] = path
    if (path := cohort.path(TCR_DIR)) is not None:
        calls = [(p, pid, tp) for pid, tp, p in tcr_files(path)]
        raw.tcr = _lazy(read_airr, calls) if lazy else read_tcr(path)
        files[TCR_DIR] = path
    if (path := cohort.path(CTDNA_FILE)) is not None:
        raw.ctdna, files[CTDNA_FILE] = read_ctdna(path), path
    raw.input_files = files
    return raw


MAF_META = pd.DataFrame({
    "Tumor_Sample_Barcode": pd.Series(dtype=object), "Hugo_Symbol": pd.Series(dtype=object),
    "Variant_Classification": pd.Series(dtype=object), "t_alt_count": pd.Series(dtype="int64"),
    "t_depth": pd.Series(dtype="int64"),
})


def _lazy(reader, calls: list[tuple], meta: pd.DataFrame | None = None):
    """A dask DataFrame with one partition per reader call (so errors keep file and line)."""
    import dask
    import dask.dataframe as dd

    if meta is None:  # one small file (a repertoire) read locally to learn the dtypes
        meta = reader(*calls[0]).iloc[:0]
    return dd.from_delayed([dask.delayed(reader)(*args) for args in calls], meta=meta)


class RecordError(ValueError):
    """A serving record breaks the contract; ``problems`` are (JSON path, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{where}: {message}" for where, message in problems))


MODALITY_KEYS = {"expression", "mutations"}


def raw_inputs_from_records(
    patients: list[dict],
    panel_size_mb: float | None = None,
    extra_numeric: tuple[str, ...] | list[str] = (),
) -> RawInputs:
    """Serving path: each record holds baseline clinical fields (all optional), optional
    ``"expression": {gene: TPM}`` and optional
    ``"mutations": [{"gene": ..., "variant_classification": ...}]``.
    ``extra_numeric`` names further numeric fields a model was trained on "as given" (a foreign
    trial's own clinical columns, e.g. ``cd4``); they are accepted as numbers.

    Fields are checked against the ranges and codes of cohorts/schema.py (the constants behind
    CLINICAL_SCHEMA) in plain Python, because this runs once per request; JSON types are strict
    (a number must be a number, not a string).
    """
    problems: list[tuple[str, str]] = []
    ids: list[str] = []
    columns: dict[str, list] = {}
    expression, mutation_rows, sequenced = {}, [], []
    for i, record in enumerate(patients):
        where = f"patients[{i}]"
        if not isinstance(record, dict):
            problems.append((where, "expected an object"))
            continue
        pid = record.get("patient_id")
        if pid is not None and (isinstance(pid, bool) or not isinstance(pid, (str, int))
                                or str(pid) == ""):
            problems.append((f"{where}.patient_id", "expected a non-empty string"))
        pid = f"patient-{i + 1}" if pid is None else str(pid)
        if pid in ids:
            problems.append((f"{where}.patient_id", f"duplicate patient_id {pid!r}"))
        ids.append(pid)
        known = {"patient_id", *BASELINE_COLUMNS, *MODALITY_KEYS, *extra_numeric}
        for key in sorted(set(record) - known):
            problems.append((f"{where}.{key}", "unknown field"))
        for key in extra_numeric:
            value = record.get(key)
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            if value is not None and not numeric:
                problems.append((f"{where}.{key}", "expected a number"))
            columns.setdefault(key, [None] * (len(ids) - 1)).append(value)
        for key in BASELINE_COLUMNS:
            value = record.get(key)
            if value is not None:
                message = _check_field(key, value)
                if message:
                    problems.append((f"{where}.{key}", message))
                columns.setdefault(key, [None] * (len(ids) - 1))
            if key in columns:
                columns[key].append(value)
        if "expression" in record:
            expression[pid] = _expression(record["expression"], f"{where}.expression", problems)
        if "mutations" in record:
            sequenced.append(pid)
            mutation_rows += _mutations(record["mutations"], pid, f"{where}.mutations", problems)
    if problems:
        raise RecordError(problems)
    clinical = pd.DataFrame({
        "patient_id": ids,
        **{
            key: np.array(values, dtype=object) if key in CATEGORICAL_BASELINE
            else np.array([np.nan if v is None else v for v in values], dtype=float)
            for key, values in columns.items()
        },
    })
    raw = RawInputs(clinical=clinical, panel_size_mb=panel_size_mb)
    if expression:
        genes = needed_genes()
        matrix = np.array([[values.get(g, np.nan) for g in genes]
                           for values in expression.values()], dtype=float).reshape(-1, len(genes))
        raw.expression = pd.DataFrame(matrix.T, index=pd.Index(genes, name="gene"),
                                      columns=list(expression))
        used = set(genes)
        raw.report["unknown_genes"] = len(
            {g for values in expression.values() for g in values} - used
        )
    if sequenced:
        raw.mutations = pd.DataFrame(
            mutation_rows, columns=["Tumor_Sample_Barcode", "Hugo_Symbol", "Variant_Classification"]
        )
        raw.sequenced_patients = sequenced
    return raw


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_field(key: str, value) -> str | None:
    """The CLINICAL_SCHEMA rule for one baseline field, as a message, or None when it holds."""
    if key in NUMERIC_BASELINE:
        lo, hi = NUMERIC_BASELINE[key]
        if not _is_number(value):
            return "expected a number"
        return None if lo <= value <= hi else f"expected a value in [{lo}, {hi}]"
    if key in CATEGORICAL_BASELINE:
        allowed = CATEGORICAL_BASELINE[key]
        return None if value in allowed else f"expected one of {allowed}"
    return None if _is_number(value) and value in (0, 1) else "expected 0 or 1"


def _expression(value, where: str, problems: list) -> dict[str, float]:
    if not isinstance(value, dict):
        problems.append((where, "expected an object {gene: TPM}"))
        return {}
    try:  # fast path: every value a number
        tpm = np.fromiter(value.values(), dtype=float, count=len(value))
        ok = bool(np.all(np.isfinite(tpm) & (tpm >= 0))) and not any(
            isinstance(v, (bool, str)) for v in value.values()
        )
    except (TypeError, ValueError):
        ok = False
    if ok:
        return value
    for gene, tpm in value.items():
        if not _is_number(tpm) or tpm < 0:
            problems.append((f"{where}.{gene}", "expected a finite TPM >= 0"))
    return value


def _mutations(value, pid: str, where: str, problems: list) -> list[dict]:
    if not isinstance(value, list):
        problems.append((where, "expected a list of {gene, variant_classification}"))
        return []
    rows = []
    for k, item in enumerate(value):
        here = f"{where}[{k}]"
        if not isinstance(item, dict) or set(item) - {"gene", "variant_classification"}:
            problems.append((here, "expected {gene, variant_classification} only"))
            continue
        gene, vc = item.get("gene"), item.get("variant_classification")
        if not isinstance(gene, str) or not gene:
            problems.append((f"{here}.gene", "expected a gene symbol"))
        elif vc not in MAF_VARIANT_CLASSIFICATIONS:
            problems.append((f"{here}.variant_classification",
                             "expected a MAF Variant_Classification, e.g. Missense_Mutation"))
        else:
            rows.append({"Tumor_Sample_Barcode": pid, "Hugo_Symbol": gene,
                         "Variant_Classification": vc})
    return rows
