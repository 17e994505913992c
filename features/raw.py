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
    INTEGER_BASELINE,
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
    # columns carried unvalidated (a foreign trial's own coding of a field its model does not
    # use) are not read as the format's fields
    clinical = cohort.clinical.drop(columns=cohort.carried) if cohort.carried else cohort.clinical
    raw = RawInputs(clinical=clinical, panel_size_mb=cohort.meta.panel_size_mb)
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
_RECORD_FIELDS = frozenset({"patient_id", *BASELINE_COLUMNS, *MODALITY_KEYS})
_NUMBER_TYPES = frozenset({int, float})  # exact JSON number types (bool is a subclass of int)
_NUMBER_OR_NULL = _NUMBER_TYPES | {type(None)}
_ID_TYPES = frozenset({str, int, type(None)})
_ALLOWED = {key: frozenset(values) for key, values in CATEGORICAL_BASELINE.items()}


@dataclass
class _Records:
    """Records read into columns (one list per field, None = not given) and modality tables."""

    ids: list[str] = field(default_factory=list)
    columns: dict[str, list] = field(default_factory=dict)
    expression: dict[str, dict] = field(default_factory=dict)
    mutation_rows: list[dict] = field(default_factory=list)
    sequenced: list[str] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)


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
    (a number must be a number, not a string). The checks run a column at a time; only when one
    fails are the records read one by one, to list every problem in record order.
    """
    patients = list(patients)  # read a second time when a column check fails
    records = _read_by_column(patients, tuple(extra_numeric))
    if records is None:
        records = _read_by_record(patients, extra_numeric)
    if records.problems:
        raise RecordError(records.problems)
    clinical = pd.DataFrame(
        {"patient_id": records.ids,
         **{key: _as_array(key, values) for key, values in records.columns.items()}},
        copy=False,  # the arrays are fresh: no need for pandas to copy them into one block
    )
    raw = RawInputs(clinical=clinical, panel_size_mb=panel_size_mb)
    if records.expression:
        raw.expression, raw.report["unknown_genes"] = _expression_matrix(records.expression)
    if records.sequenced:
        raw.mutations = pd.DataFrame(
            records.mutation_rows,
            columns=["Tumor_Sample_Barcode", "Hugo_Symbol", "Variant_Classification"],
        )
        raw.sequenced_patients = records.sequenced
    return raw


def _as_array(key: str, values: list) -> np.ndarray:
    if key in CATEGORICAL_BASELINE:
        return np.array(values, dtype=object)
    return np.array(values, dtype=float)  # None becomes NaN


def _expression_matrix(expression: dict[str, dict]) -> tuple[pd.DataFrame, int]:
    """genes x patients TPM of the genes a score reads, and the number of other symbols."""
    genes = needed_genes()
    matrix = np.array([[values.get(g, np.nan) for g in genes]
                       for values in expression.values()], dtype=float).reshape(-1, len(genes))
    frame = pd.DataFrame(matrix.T, index=pd.Index(genes, name="gene"), columns=list(expression))
    unknown = len(set().union(*expression.values()) - set(genes))
    return frame, unknown


def _read_by_column(patients: list, extra_numeric: tuple[str, ...]) -> _Records | None:
    """Read and check the records a field at a time; None as soon as a check fails (or the
    request is unusual: a non-object record, extra names that repeat or shadow a field), in
    which case _read_by_record gives the exact problem list.
    """
    if len(set(extra_numeric)) < len(extra_numeric) or _RECORD_FIELDS.intersection(extra_numeric):
        return None
    if any(type(record) is not dict for record in patients):
        return None
    given = set().union(*patients)
    if not given <= _RECORD_FIELDS.union(extra_numeric):
        return None
    ids = _patient_ids([record.get("patient_id") for record in patients])
    if ids is None:
        return None
    records = _Records(ids=ids)
    if patients:  # as in _read_by_record, extra columns exist as soon as there is a record
        for key in extra_numeric:
            values = [record.get(key) for record in patients]
            if not _types_are_numbers(values):
                return None
            records.columns[key] = values
    first_given: dict[str, int] = {}
    for key in BASELINE_COLUMNS:
        if key not in given:
            continue
        values = [record.get(key) for record in patients]
        first = next((i for i, value in enumerate(values) if value is not None), None)
        if first is None:  # only nulls: no column, as in _read_by_record
            continue
        if not _column_holds(key, values):
            return None
        first_given[key] = first
        records.columns[key] = values
    # _read_by_record adds a column at the first record that gives it (then in field order).
    for key in sorted(first_given, key=first_given.__getitem__):
        records.columns[key] = records.columns.pop(key)
    if "expression" in given or "mutations" in given:
        for i, record in enumerate(patients):
            _read_modalities(record, ids[i], f"patients[{i}]", records)
    return records


def _patient_ids(values: list) -> list[str] | None:
    """Ids (``patient-<n>`` when not given) when all are valid and distinct, else None."""
    if not set(map(type, values)) <= _ID_TYPES or "" in values:
        return None
    ids = [f"patient-{i + 1}" if pid is None else str(pid) for i, pid in enumerate(values)]
    return ids if len(set(ids)) == len(ids) else None


def _types_are_numbers(values: list) -> bool:
    return set(map(type, values)) <= _NUMBER_OR_NULL


def _column_holds(key: str, values: list) -> bool:
    """Whether every given value of one baseline field passes _check_field (a column at once)."""
    given = [value for value in values if value is not None]
    if key in CATEGORICAL_BASELINE:
        try:
            return set(given) <= _ALLOWED[key]
        except TypeError:  # unhashable, so not one of the codes
            return False
    if not set(map(type, given)) <= _NUMBER_TYPES:
        return False
    if key in NUMERIC_BASELINE:
        lo, hi = NUMERIC_BASELINE[key]
        whole = key not in INTEGER_BASELINE or all(value % 1 == 0 for value in given)
        return whole and all(lo <= value <= hi for value in given)  # NaN, infinities fail
    return all(value == 0 or value == 1 for value in given)


def _read_by_record(patients: list, extra_numeric) -> _Records:
    """Read the records one by one, collecting every problem in record and field order."""
    records = _Records()
    problems, ids, columns = records.problems, records.ids, records.columns
    seen: set[str] = set()
    known = {*_RECORD_FIELDS, *extra_numeric}
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
        if pid in seen:
            problems.append((f"{where}.patient_id", f"duplicate patient_id {pid!r}"))
        ids.append(pid)
        seen.add(pid)
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
        _read_modalities(record, pid, where, records)
    return records


def _read_modalities(record: dict, pid: str, where: str, records: _Records) -> None:
    if "expression" in record:
        records.expression[pid] = _expression(
            record["expression"], f"{where}.expression", records.problems
        )
    if "mutations" in record:
        records.sequenced.append(pid)
        records.mutation_rows += _mutations(
            record["mutations"], pid, f"{where}.mutations", records.problems
        )


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_field(key: str, value) -> str | None:
    """The CLINICAL_SCHEMA rule for one baseline field, as a message, or None when it holds."""
    if key in NUMERIC_BASELINE:
        lo, hi = NUMERIC_BASELINE[key]
        if not _is_number(value):
            return "expected a number"
        if key in INTEGER_BASELINE and value % 1:
            return "expected a whole number"
        return None if lo <= value <= hi else f"expected a value in [{lo}, {hi}]"
    if key in CATEGORICAL_BASELINE:
        allowed = CATEGORICAL_BASELINE[key]
        return None if value in allowed else f"expected one of {allowed}"
    return None if _is_number(value) and value in (0, 1) else "expected 0 or 1"


def _expression(value, where: str, problems: list) -> dict[str, float]:
    if not isinstance(value, dict):
        problems.append((where, "expected an object {gene: TPM}"))
        return {}
    if _all_tpm(value):
        return value
    for gene, tpm in value.items():
        if not _is_number(tpm) or tpm < 0:
            problems.append((f"{where}.{gene}", "expected a finite TPM >= 0"))
    return value


def _all_tpm(value: dict) -> bool:
    """Fast check of a whole {gene: TPM} dict: every value a finite number >= 0 (no text, no
    booleans, which numpy would otherwise convert)."""
    try:
        tpm = np.fromiter(value.values(), dtype=float, count=len(value))
    except (TypeError, ValueError):
        return False
    if not bool(np.all(np.isfinite(tpm) & (tpm >= 0))):
        return False
    return not any(issubclass(kind, (bool, str)) for kind in set(map(type, value.values())))


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
