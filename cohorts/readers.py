"""Readers for the optional modalities of a cohort: MAF, expression matrix, AIRR repertoires, ctDNA.

Each reader validates with the schemas of cohorts/schema.py and raises CohortFormatError naming the
file, line and column. They read only the columns (and, for expression, the genes) the pipeline
needs, so a full-transcriptome matrix or a 120-column MAF stays cheap.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from cohorts.errors import CohortFormatError, Problem
from cohorts.schema import AIRR_SCHEMA, CTDNA_SCHEMA, MAF_SCHEMA, TIMEPOINTS, validate

MAF_COLUMNS = ["Tumor_Sample_Barcode", "Hugo_Symbol", "Variant_Classification", "t_alt_count",
               "t_depth"]
AIRR_COLUMNS = ["junction_aa", "v_call", "j_call", "duplicate_count"]
TCR_COLUMNS = ["patient_id", "timepoint", *AIRR_COLUMNS]


def _read_table(path: Path, **kwargs) -> pd.DataFrame:
    try:
        return pd.read_csv(path, **kwargs)
    except FileNotFoundError:
        raise CohortFormatError(path, [Problem(None, "file not found")]) from None
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise CohortFormatError(path, [Problem(None, f"not a readable table: {exc}")]) from None


def _comment_lines(path: Path) -> int:
    """Number of leading ``#`` lines (MAF version headers); '#' elsewhere is data."""
    n = 0
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if not line.startswith("#"):
                break
            n += 1
    return n


def _header(path: Path, skip: int = 0) -> list[str]:
    with open(path, encoding="utf-8", errors="replace", newline="") as handle:
        for _ in range(skip):
            handle.readline()
        line = handle.readline()
    if not line.strip():
        raise CohortFormatError(path, [Problem(None, "empty file: expected a header line")])
    return next(csv.reader([line.rstrip("\r\n")], delimiter="\t"))


def read_maf(path: str | Path) -> pd.DataFrame:
    """Read the columns of a MAF that features need and validate them (MAF_SCHEMA)."""
    path = Path(path)
    if not path.exists():
        raise CohortFormatError(path, [Problem(None, "file not found")])
    skip = _comment_lines(path)
    header = _header(path, skip)
    missing = [c for c in MAF_COLUMNS if c not in header]
    if missing:
        raise CohortFormatError(
            path, [Problem(c, "required column is missing", skip + 1) for c in missing]
        )
    df = _read_table(
        path, sep="\t", skiprows=skip, usecols=MAF_COLUMNS, quoting=csv.QUOTE_NONE,
        dtype={"Tumor_Sample_Barcode": str, "Hugo_Symbol": str, "Variant_Classification": str},
        keep_default_na=False, na_values=[""],
    )
    return validate(df, MAF_SCHEMA, str(path), header_lines=skip + 1)[MAF_COLUMNS]


def read_expression(path: str | Path, genes: Iterable[str] | None = None) -> tuple[
    pd.DataFrame, list[str]
]:
    """Read expression.tsv (genes x patients, TPM) and return ``(matrix, all_gene_symbols)``.

    With ``genes``, only those rows are parsed (the rest of a full transcriptome is skipped
    after its symbols are checked for duplicates); the second value still lists every symbol in
    the file so callers can count unknown ones.
    """
    path = Path(path)
    if not path.exists():
        raise CohortFormatError(path, [Problem(None, "file not found")])
    header = _header(path)
    problems = []
    if header[0] != "gene":
        problems.append(Problem(header[0], "first column header must be 'gene'", 1))
    seen: set[str] = set()
    for name in header[1:]:
        if not name.strip():
            problems.append(Problem(None, "empty patient_id in header", 1))
        elif name in seen:
            problems.append(Problem(name, "duplicate patient column; must be unique", 1))
        seen.add(name)
    if problems:
        raise CohortFormatError(path, problems)
    symbols = _read_table(
        path, sep="\t", usecols=[0], dtype=str, keep_default_na=False, quoting=csv.QUOTE_NONE
    ).iloc[:, 0]
    empty = np.flatnonzero(symbols.str.strip().eq("").to_numpy())
    dup = np.flatnonzero(symbols.duplicated(keep="first").to_numpy())
    problems = [Problem("gene", "empty gene symbol", int(i) + 2) for i in empty]
    problems += [
        Problem("gene", "duplicate gene symbol; must be unique", int(i) + 2, symbols.iloc[i])
        for i in dup
    ]
    if problems:
        raise CohortFormatError(path, sorted(problems, key=lambda p: p.line))
    rows = np.arange(len(symbols))
    if genes is not None:
        rows = np.flatnonzero(symbols.isin(set(genes)).to_numpy())
    keep_lines = set((rows + 1).tolist())  # file line index (0-based) of kept rows; 0 = header
    skiprows = None if genes is None else (lambda i: i != 0 and i not in keep_lines)
    raw = _read_table(
        path, sep="\t", skiprows=skiprows, dtype={"gene": str}, keep_default_na=False,
        na_values=[""], quoting=csv.QUOTE_NONE, index_col=0,
    )
    matrix = _numeric_matrix(raw, rows + 2, path)
    matrix.index.name = "gene"
    matrix.columns.name = "patient_id"
    return matrix, symbols.tolist()


def _numeric_matrix(raw: pd.DataFrame, lines: np.ndarray, path: Path) -> pd.DataFrame:
    """TPM values as float; empty cells are missing; text or negative values are errors."""
    problems = []
    for j in np.flatnonzero([not pd.api.types.is_numeric_dtype(t) for t in raw.dtypes]):
        column = raw.iloc[:, j]
        parsed = pd.to_numeric(column, errors="coerce")
        for i in np.flatnonzero((parsed.isna() & column.notna()).to_numpy())[:20]:
            problems.append(
                Problem(str(raw.columns[j]), "expected a number (TPM)", int(lines[i]),
                        column.iloc[i])
            )
    if problems:
        raise CohortFormatError(path, sorted(problems, key=lambda p: (p.line, p.column))[:50])
    values = raw.to_numpy(dtype=float)
    problems = [
        Problem(str(raw.columns[j]), "expected TPM >= 0", int(lines[i]), values[i, j])
        for i, j in np.argwhere(values < 0)[:50]
    ]
    if problems:
        raise CohortFormatError(path, sorted(problems, key=lambda p: (p.line, p.column)))
    return pd.DataFrame(values, index=raw.index.astype(str), columns=raw.columns.astype(str))


def tcr_files(tcr_dir: str | Path) -> list[tuple[str, str, Path]]:
    """``(patient_id, timepoint, path)`` for every repertoire under ``tcr/<timepoint>/``."""
    tcr_dir = Path(tcr_dir)
    unexpected = [p for p in tcr_dir.iterdir() if p.is_dir() and p.name not in TIMEPOINTS]
    if unexpected:
        raise CohortFormatError(
            unexpected[0],
            [Problem(None, f"unknown timepoint folder; expected one of {TIMEPOINTS}")],
        )
    return [
        (path.stem, timepoint, path)
        for timepoint in TIMEPOINTS
        if (tcr_dir / timepoint).is_dir()
        for path in sorted((tcr_dir / timepoint).glob("*.tsv"))
    ]


def _read_airr_columns(path: Path) -> pd.DataFrame:
    header = _header(path)
    missing = [c for c in AIRR_COLUMNS if c not in header]
    if missing:
        problems = [Problem(c, "required column is missing", 1) for c in missing]
        raise CohortFormatError(path, problems)
    return _read_table(
        path, sep="\t", usecols=AIRR_COLUMNS, quoting=csv.QUOTE_NONE, keep_default_na=False,
        na_values=[""], dtype={"junction_aa": str, "v_call": str, "j_call": str},
    )[AIRR_COLUMNS]


def read_airr(path: str | Path, patient_id: str, timepoint: str) -> pd.DataFrame:
    """One AIRR rearrangement file, validated, in the long form features use."""
    path = Path(path)
    df = validate(_read_airr_columns(path), AIRR_SCHEMA, str(path))
    df.insert(0, "timepoint", timepoint)
    df.insert(0, "patient_id", patient_id)
    return df[TCR_COLUMNS]


def read_tcr(tcr_dir: str | Path) -> pd.DataFrame:
    """Every repertoire of ``tcr/`` as one long table (patient_id, timepoint, AIRR columns).

    The files are read, concatenated and validated in one pandera pass (thousands of files would
    otherwise pay the validation overhead thousands of times); if that pass fails, the files are
    validated one by one so the error names the offending file and its line.
    """
    files = tcr_files(tcr_dir)
    if not files:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in TCR_COLUMNS})
    frames = [_read_airr_columns(path) for _, _, path in files]
    df = pd.concat(frames, ignore_index=True)
    try:
        df = validate(df, AIRR_SCHEMA, str(tcr_dir))
    except CohortFormatError:
        for pid, tp, path in files:
            read_airr(path, pid, tp)
        raise
    sizes = [len(f) for f in frames]
    patients = pd.Categorical([pid for pid, _, _ in files])
    df.insert(0, "timepoint", pd.Categorical.from_codes(
        np.repeat([TIMEPOINTS.index(tp) for _, tp, _ in files], sizes), TIMEPOINTS
    ))
    df.insert(0, "patient_id", pd.Categorical.from_codes(
        np.repeat(patients.codes, sizes), patients.categories
    ))
    df["duplicate_count"] = df["duplicate_count"].astype("int64")
    return df[TCR_COLUMNS]


def read_ctdna(path: str | Path) -> pd.DataFrame:
    """ctdna.csv validated with CTDNA_SCHEMA (one row per patient and timepoint)."""
    path = Path(path)
    df = _read_table(path, dtype={"patient_id": str}, skipinitialspace=True)
    return validate(df, CTDNA_SCHEMA, str(path))[["patient_id", "timepoint", "max_vaf"]]
