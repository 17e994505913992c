"""Open a cohort: a directory in the documented format, or a bare clinical CSV."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from cohorts.errors import CohortFormatError, Problem
from cohorts.meta import CohortMeta
from cohorts.schema import clinical_schema, validate

CLINICAL_FILE = "clinical.csv"
MAF_FILE = "mutations.maf"
EXPRESSION_FILE = "expression.tsv"
TCR_DIR = "tcr"
CTDNA_FILE = "ctdna.csv"
META_FILE = "cohort.json"
TRUTH_FILE = "truth.csv"  # simulator only; never read by training
TRUTH_CURVES_FILE = "truth_curves.csv"  # simulator only: S(t) per patient, level and arm


def read_clinical(
    path: str | Path, *, rename: dict[str, str] | None = None, endpoint: str | None = "pfs"
) -> pd.DataFrame:
    """Read and validate clinical.csv (or any CSV with the clinical columns).

    ``rename`` maps a foreign trial's column names onto the format's before validation;
    ``endpoint`` ("pfs" or "os") says which time/event pair must be present; ``None`` (scoring new
    patients) makes the arm and outcomes optional.
    """
    path = Path(path)
    df = map_columns(read_table(path), rename, path)
    return validate(df, clinical_schema(endpoint), str(path))


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

    @property
    def patient_ids(self) -> list[str]:
        return self.clinical["patient_id"].tolist()

    def path(self, name: str) -> Path | None:
        """Path of an optional modality (``mutations.maf``, ``expression.tsv``, ``tcr``, ...)."""
        return self.files.get(name)


def read_cohort(
    path: str | Path, *, rename: dict[str, str] | None = None, endpoint: str | None = "pfs"
) -> Cohort:
    path = Path(path)
    if not path.exists():
        raise CohortFormatError(path, [Problem(None, "no such file or directory")])
    if path.is_file():
        clinical = read_clinical(path, rename=rename, endpoint=endpoint)
        meta = CohortMeta(name=path.stem, synthetic=False, description=f"clinical table {path}")
        return Cohort(clinical=clinical, meta=meta, root=None, files={})
    clinical_path = path / CLINICAL_FILE
    if not clinical_path.exists():
        raise CohortFormatError(path, [Problem(None, f"a cohort directory needs {CLINICAL_FILE}")])
    clinical = read_clinical(clinical_path, rename=rename, endpoint=endpoint)
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
    return Cohort(clinical=clinical, meta=meta, root=path, files=files)
