"""Raw inputs of the feature pipeline, from a cohort directory (training) or JSON records (serving).

Both constructors produce the same RawInputs, and build_features is the only code that turns them
into features: this is what keeps training and serving vectors identical.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import ValidationError

from cohorts.contract import (
    BASELINE_FIELDS,
    MAF_VARIANT_CLASSIFICATIONS,
    MAX_GENES,
    MAX_ID_LENGTH,
    MAX_MUTATIONS,
    NOT_AN_OBJECT,
    NUMBER,
    RECORD_FIELDS,
    FieldSpec,
    PatientRecord,
    error_problems,
)
from cohorts.io import CTDNA_FILE, EXPRESSION_FILE, MAF_FILE, TCR_DIR, Cohort
from cohorts.readers import read_airr, read_ctdna, read_expression, read_maf, read_tcr, tcr_files
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
    """A record breaks the input contract; ``problems`` are (JSON path, message) pairs, in the
    words of POST /predict (cohorts.contract.error_problems)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{where}: {message}" for where, message in problems))


_NUMBER_TYPES = frozenset({int, float})  # exact JSON number types (bool is a subclass of int)
_NUMBER_OR_NULL = _NUMBER_TYPES | {type(None)}
_ID_TYPES = frozenset({str, int, type(None)})
_ALLOWED = {spec.name: frozenset(spec.values) for spec in BASELINE_FIELDS
            if spec.kind == "category"}
_VOCABULARY = frozenset(MAF_VARIANT_CLASSIFICATIONS)
_MUTATION_KEYS = frozenset({"gene", "variant_classification"})


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

    A record is held to the input contract (cohorts/contract.py), the rules and messages of
    POST /predict: JSON types are strict (a number must be a number, not a string), an unknown
    field is refused, naming the field it probably misspells. The contract's table is checked a
    column at a time in plain Python first, because this runs once per request; only when a
    check fails (or a value is of an unusual type) are the records validated one by one with the
    contract's pydantic model, which lists every problem in record order.
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
    if key in _ALLOWED:
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
    """Read and check the records a field at a time against the contract's table; None as soon
    as a check fails (or the request is unusual: a non-object record, a value of another type
    than the JSON ones, extra names that repeat or shadow a field), in which case
    _read_by_record validates each record with the contract's model.
    """
    if len(set(extra_numeric)) < len(extra_numeric) or RECORD_FIELDS.intersection(extra_numeric):
        return None
    if any(type(record) is not dict for record in patients):
        return None
    given = set().union(*patients)
    if not given <= RECORD_FIELDS.union(extra_numeric):
        return None
    ids = _patient_ids([record.get("patient_id") for record in patients])
    if ids is None:
        return None
    records = _Records(ids=ids)
    if patients:  # as in _read_by_record, extra columns exist as soon as there is a record
        for key in extra_numeric:
            values = [record.get(key) for record in patients]
            if not _numbers(values):
                return None
            records.columns[key] = values
    first_given: dict[str, int] = {}
    for spec in BASELINE_FIELDS:
        key = spec.name
        if key not in given:
            continue
        values = [record.get(key) for record in patients]
        first = next((i for i, value in enumerate(values) if value is not None), None)
        if first is None:  # only nulls: no column, as in _read_by_record
            continue
        if not _column_holds(spec, values):
            return None
        first_given[key] = first
        records.columns[key] = values
    # _read_by_record adds a column at the first record that gives it (then in field order).
    for key in sorted(first_given, key=first_given.__getitem__):
        records.columns[key] = records.columns.pop(key)
    if "expression" in given or "mutations" in given:
        for pid, record in zip(ids, patients, strict=True):
            if not _modalities_hold(record):
                return None
            _add_modalities(pid, record.get("expression"), record.get("mutations"), records)
    return records


def _patient_ids(values: list) -> list[str] | None:
    """Ids (``patient-<n>`` when not given) when all are valid and distinct, else None."""
    types = set(map(type, values))
    if not types <= _ID_TYPES or "" in values:
        return None
    if types == {str}:  # every id given as text (the usual request): kept as they are
        ids = values
    else:
        ids = [f"patient-{i + 1}" if pid is None else str(pid) for i, pid in enumerate(values)]
    if ids and max(map(len, ids)) > MAX_ID_LENGTH:
        return None
    return ids if len(set(ids)) == len(ids) else None


def _numbers(values: list) -> bool:
    """Every value null or a finite JSON number (NaN and infinities fail the comparisons)."""
    if not set(map(type, values)) <= _NUMBER_OR_NULL:
        return False
    given = [value for value in values if value is not None]
    return not given or (-np.inf < min(given) and max(given) < np.inf
                         and all(value == value for value in given))


def _column_holds(spec: FieldSpec, values: list) -> bool:
    """Whether every given value of one field holds the contract (a column at once); only
    exact JSON types are vouched for here, others are left to the contract's model."""
    given = [value for value in values if value is not None]
    if spec.kind == "category":
        try:
            return set(given) <= _ALLOWED[spec.name]
        except TypeError:  # unhashable, so not one of the codes
            return False
    if not set(map(type, given)) <= _NUMBER_TYPES:
        return False
    if spec.kind == "number":
        lo, hi = spec.range
        whole = not spec.whole or all(value % 1 == 0 for value in given)
        return whole and all(lo <= value <= hi for value in given)  # NaN, infinities fail
    return all(value == 0 or value == 1 for value in given)


def _modalities_hold(record: dict) -> bool:
    """The record's expression and mutations hold the contract (checked without pydantic)."""
    expression, mutations = record.get("expression"), record.get("mutations")
    if expression is not None and not _tpm_holds(expression):
        return False
    return mutations is None or _mutations_hold(mutations)


def _tpm_holds(value) -> bool:
    """A dict ``{gene: TPM}`` of at most MAX_GENES text keys and finite JSON numbers >= 0."""
    if type(value) is not dict or len(value) > MAX_GENES:
        return False
    if not value:
        return True
    if not set(map(type, value)) <= {str} or not set(map(type, value.values())) <= _NUMBER_TYPES:
        return False
    tpm = np.fromiter(value.values(), dtype=float, count=len(value))
    return bool(np.all(np.isfinite(tpm) & (tpm >= 0)))


def _mutations_hold(value) -> bool:
    """A list of at most MAX_MUTATIONS ``{"gene": 1-64 characters, "variant_classification":
    a MAF class}``."""
    if type(value) is not list or len(value) > MAX_MUTATIONS:
        return False
    for item in value:
        if (type(item) is not dict or item.keys() != _MUTATION_KEYS
                or type(gene := item["gene"]) is not str or not 0 < len(gene) <= 64
                or type(vc := item["variant_classification"]) is not str
                or vc not in _VOCABULARY):
            return False
    return True


def _add_modalities(pid: str, expression, mutations, records: _Records) -> None:
    """A patient's expression and mutation calls (None: not given; [] means sequenced)."""
    if expression is not None:
        records.expression[pid] = expression
    if mutations is not None:
        records.sequenced.append(pid)
        records.mutation_rows += [
            {"Tumor_Sample_Barcode": pid, "Hugo_Symbol": m["gene"],
             "Variant_Classification": m["variant_classification"]} for m in mutations]


def _read_by_record(patients: list, extra_numeric) -> _Records:
    """Validate the records one by one with the contract's model, collecting every problem in
    record order, with the paths and messages of POST /predict."""
    records = _Records()
    problems = records.problems
    extras = [key for key in dict.fromkeys(extra_numeric) if key not in RECORD_FIELDS]
    known = RECORD_FIELDS.union(extras)  # extras: checked as numbers at their own path
    models: list[tuple[PatientRecord, dict]] = []
    seen: set[str] = set()
    for i, record in enumerate(patients):
        root = ("patients", i)
        if not isinstance(record, dict):
            problems.append((f"patients[{i}]", NOT_AN_OBJECT))
            continue
        fields = {k: v for k, v in record.items() if k not in extras}
        model, given = None, {}
        try:
            model = PatientRecord.model_validate(fields)
        except ValidationError as exc:
            problems += error_problems(exc, root, known=known)
        for key in [key for key in record if key in extras]:  # in the record's order
            try:
                given[key] = NUMBER.validate_python(record.get(key))
            except ValidationError as exc:
                problems += error_problems(exc, (*root, key), known=known)
        pid = record.get("patient_id")
        pid = f"patient-{i + 1}" if pid is None else str(pid)
        if pid in seen:
            problems.append((f"patients[{i}].patient_id", f"duplicate patient_id {pid!r}"))
        seen.add(pid)
        if model is not None:
            models.append((model, given))
    if problems:
        return records
    for i, (model, _) in enumerate(models):
        pid = f"patient-{i + 1}" if model.patient_id is None else model.patient_id
        records.ids.append(pid)
        mutations = None if model.mutations is None else [m.model_dump() for m in model.mutations]
        _add_modalities(pid, model.expression, mutations, records)
    records.columns = {key: [given.get(key) for _, given in models] for key in extras}
    first_given: dict[str, int] = {}
    for spec in BASELINE_FIELDS:
        values = [getattr(model, spec.name) for model, _ in models]
        first = next((i for i, value in enumerate(values) if value is not None), None)
        if first is not None:
            first_given[spec.name] = first
            records.columns[spec.name] = values
    for key in sorted(first_given, key=first_given.__getitem__):
        records.columns[key] = records.columns.pop(key)
    return records
