"""Open a cohort: a directory in the documented format, or a bare clinical CSV."""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cohorts.contract import near_miss_message
from cohorts.errors import CohortFormatError, Problem
from cohorts.meta import CohortMeta
from cohorts.schema import (
    CATEGORICAL_BASELINE,
    KNOWN_COLUMNS,
    MUTATION_FLAGS,
    clinical_schema,
    likely_field,
    validate,
)

CLINICAL_FILE = "clinical.csv"
MAF_FILE = "mutations.maf"
EXPRESSION_FILE = "expression.tsv"
TCR_DIR = "tcr"
CTDNA_FILE = "ctdna.csv"
META_FILE = "cohort.json"
TRUTH_FILE = "truth.csv"  # simulator only; never read by training
TRUTH_CURVES_FILE = "truth_curves.csv"  # simulator only: S(t) per patient, level and arm


# Columns of coded values (text codes, 0/1 flags), which trials code their own ways.
CODED_COLUMNS = frozenset({*CATEGORICAL_BASELINE, *MUTATION_FLAGS, "best_response"})
Codings = Mapping[str, Mapping[str, str | None]]  # column -> {code in the file: value}


@dataclass(frozen=True)
class ReadOptions:
    """How a user's own file is read (the --map and --ignore-column flags of every command that
    reads a cohort): value codings mapped onto the format's, and columns carried unread although
    their names are close to a known field."""

    codings: Codings = field(default_factory=dict)
    ignore: frozenset[str] = frozenset()


_OPTIONS: ContextVar[ReadOptions | None] = ContextVar("cohort_read_options", default=None)


@contextlib.contextmanager
def read_options(codings: Codings | None = None, ignore: Collection[str] = ()) -> Iterator[None]:
    """Every cohort read inside the block uses these options (the CLI wraps a command in it, so
    the stages below need no new parameters)."""
    token = _OPTIONS.set(ReadOptions(dict(codings or {}), frozenset(ignore)))
    try:
        yield
    finally:
        _OPTIONS.reset(token)


def parse_coding(text: str) -> tuple[str, dict[str, str | None]]:
    """``"sex=1:M,2:F"`` -> ``("sex", {"1": "M", "2": "F"})``; ``"9:"`` maps 9 to missing."""
    column, sep, pairs = text.partition("=")
    codes: dict[str, str | None] = {}
    for pair in pairs.split(",") if sep else []:
        code, colon, value = (part.strip() for part in pair.partition(":"))
        if not colon or not code:
            codes = {}
            break
        codes[code] = value or None
    if not column.strip() or not codes:
        raise ValueError(f"--map {text!r}: expected COLUMN=CODE:VALUE,CODE:VALUE (e.g. "
                         "sex=1:M,2:F; an empty VALUE means missing)")
    return column.strip(), codes


def read_clinical(
    path: str | Path, *, rename: dict[str, str] | None = None, endpoint: str | None = "pfs",
    used: Collection[str] | None = None,
) -> pd.DataFrame:
    """Read and validate clinical.csv (or any CSV with the clinical columns).

    ``rename`` maps a foreign trial's column names onto the format's before validation;
    ``endpoint`` ("pfs" or "os") says which time/event pair must be present; ``None`` (scoring new
    patients) makes the arm and outcomes optional. ``used`` names the format columns the caller
    reads (the selected features' inputs): the others are carried as they are, unvalidated (a
    trial's own coding of a column nobody uses is not an error); ``None`` validates them all.
    """
    return _read_clinical(Path(path), rename, endpoint, used)[0]


def _read_clinical(
    path: Path, rename: dict[str, str] | None, endpoint: str | None,
    used: Collection[str] | None,
) -> tuple[pd.DataFrame, list[str]]:
    """The validated table and the format columns carried unvalidated (not in ``used``)."""
    options = _OPTIONS.get() or ReadOptions()
    df = apply_codings(read_table(path), options.codings, path)
    df = map_columns(df, rename, path)
    check_column_names(df.columns, path, ignore=options.ignore,
                       chosen={*(rename or {}).values(), *(used or ())},
                       renamed=rename or {})
    schema = clinical_schema(endpoint)
    keep = {*(used or ()), *(name for name, column in schema.columns.items() if column.required)}
    carried = ([c for c in df.columns if c in schema.columns and c not in keep]
               if used is not None else [])
    try:
        checked = validate(df.drop(columns=carried), schema, str(path))
    except CohortFormatError as exc:
        raise _with_coding_hint(exc, used is None) from None
    if not carried:
        return checked, []
    return pd.concat([checked, df[carried]], axis=1)[list(df.columns)], carried


def _with_coding_hint(exc: CohortFormatError, all_columns: bool) -> CohortFormatError:
    """A file coded its own way (sex as 1/2): say how to map it, or to leave it unread."""
    coded = sorted({p.column for p in exc.problems
                    if p.column in CODED_COLUMNS and p.line is not None})
    if not coded:
        return exc
    hint = (f"the file codes {', '.join(coded)} its own way: map its values onto the format's "
            f"with --map (e.g. --map {coded[0]}=CODE:VALUE,CODE:VALUE)")
    if all_columns:
        hint += ", or select the features with --features so that unused columns are carried unread"
    return CohortFormatError(exc.file, [Problem(None, hint), *exc.problems])


def apply_codings(df: pd.DataFrame, codings: Codings, path: Path) -> pd.DataFrame:
    """Replace a file's own value codes (``--map sex=1:M,2:F``); a value without a mapping is an
    error naming the column, the value and its lines."""
    if not codings:
        return df
    problems = [Problem(column, "column named by --map is missing") for column in codings
                if column not in df.columns]
    if problems:
        raise CohortFormatError(path, problems)
    df = df.copy()
    for column, codes in codings.items():
        given = df[column].notna().to_numpy()
        keys = np.array([_code(v) for v in df[column]], dtype=object)
        unmapped = given & ~np.isin(keys, list(codes))
        if unmapped.any():
            problems += [Problem(column, f"value not mapped by --map {column}=... (mapped: "
                                         f"{', '.join(codes)})", int(i) + 2, keys[i])
                         for i in np.flatnonzero(unmapped)[:20]]
            continue
        values = [(codes[k] or None) if g else None for k, g in zip(keys, given, strict=True)]
        mapped = pd.Series(values, index=df.index, dtype=object)
        numeric = pd.to_numeric(mapped, errors="coerce")
        df[column] = numeric if numeric.notna().sum() == mapped.notna().sum() else mapped
    if problems:
        raise CohortFormatError(path, problems)
    return df


def _code(value) -> str:
    """A cell as the text a --map code is compared with (2.0 read by pandas matches "2")."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def check_column_names(
    columns, path: Path, *, ignore: Collection[str] = (), chosen: Collection[str] = (),
    renamed: Mapping[str, str] | None = None,
) -> None:
    """Refuse a column whose name is close to a known field (``pdl1_tsp`` for ``pdl1_tps``),
    naming the likely field, unless the user chose it (a mapping flag, ``--features``) or said to
    ignore it (``--ignore-column``): the HTTP API refuses an unknown field the same way."""
    sources = {dst: src for src, dst in (renamed or {}).items()}
    absent = sorted(set(ignore) - set(columns) - set(renamed or {}))
    problems = [Problem(name, "column named by --ignore-column is missing") for name in absent]
    near_misses = []
    for column in map(str, columns):
        if column in chosen or column in ignore or sources.get(column) in ignore:
            continue
        likely = likely_field(column, KNOWN_COLUMNS)
        if likely is not None:  # the message of a record and of a request (cohorts.contract)
            near_misses.append(Problem(column, near_miss_message(likely)))
    if near_misses:
        names = ", ".join(p.column for p in near_misses)
        problems += [Problem(None, f"rename the column(s) {names}, or pass --ignore-column NAME "
                                   f"to carry one unread (--ignore-column "
                                   f"{near_misses[0].column})"), *near_misses]
    if problems:
        raise CohortFormatError(path, problems)


def read_table(path: Path) -> pd.DataFrame:
    """A clinical CSV as read, before any mapping or validation; unreadable files say why."""
    try:
        return pd.read_csv(path, dtype={"patient_id": str}, skipinitialspace=True)
    except FileNotFoundError:
        raise CohortFormatError(path, [Problem(None, "file not found")]) from None
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise CohortFormatError(path, [Problem(None, f"not a readable CSV: {exc}")]) from None


def map_columns(df: pd.DataFrame, rename: dict[str, str] | None, path: Path) -> pd.DataFrame:
    """Rename a foreign table's columns (the mapping flags), naming any mapped column absent."""
    if not rename:
        return df
    missing = [src for src in rename if src not in df.columns]
    if missing:
        raise CohortFormatError(
            path, [Problem(src, "column named by a mapping flag is missing") for src in missing]
        )
    return df.rename(columns=rename)


@dataclass
class Cohort:
    """A validated cohort: clinical table and metadata, plus where the optional modalities are."""

    clinical: pd.DataFrame
    meta: CohortMeta
    root: Path | None = None
    files: dict[str, Path] = field(default_factory=dict)
    # Format columns carried as read, unvalidated (read_clinical ``used``): the feature pipeline
    # does not read them.
    carried: list[str] = field(default_factory=list)

    @property
    def patient_ids(self) -> list[str]:
        return self.clinical["patient_id"].tolist()

    def path(self, name: str) -> Path | None:
        """Path of an optional modality (``mutations.maf``, ``expression.tsv``, ``tcr``, ...)."""
        return self.files.get(name)


def read_cohort(
    path: str | Path, *, rename: dict[str, str] | None = None, endpoint: str | None = "pfs",
    used: Collection[str] | None = None,
) -> Cohort:
    """A cohort directory or a bare clinical CSV (``used``: see read_clinical)."""
    path = Path(path)
    if not path.exists():
        raise CohortFormatError(path, [Problem(None, "no such file or directory")])
    if path.is_file():
        clinical, carried = _read_clinical(path, rename, endpoint, used)
        meta = CohortMeta(name=path.stem, synthetic=False, description=f"clinical table {path}")
        return Cohort(clinical=clinical, meta=meta, root=None, files={}, carried=carried)
    clinical_path = path / CLINICAL_FILE
    if not clinical_path.exists():
        raise CohortFormatError(path, [Problem(None, f"a cohort directory needs {CLINICAL_FILE}")])
    clinical, carried = _read_clinical(clinical_path, rename, endpoint, used)
    meta_path = path / META_FILE
    meta = (
        CohortMeta.read(meta_path)
        if meta_path.exists()
        else CohortMeta(name=path.name, synthetic=False)
    )
    files = {
        name: path / name
        for name in (MAF_FILE, EXPRESSION_FILE, TCR_DIR, CTDNA_FILE)
        if (path / name).exists()
    }
    return Cohort(clinical=clinical, meta=meta, root=path, files=files, carried=carried)
