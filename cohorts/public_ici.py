"""Real ICI-treated patients for the prognosis model: a cohort-format table or the LORIS
compilation.

The LORIS compilation (Chang et al., Nature Cancer 2024; its rows come from the supplementary
tables of Chowell et al. 2022, the MSK cohorts, Shim et al. 2020 and Vanguri et al. 2022) codes
categories as numbers. ``loris_to_clinical`` turns it into the cohort format (docs/cohort-format.md)
so the shared feature pipeline reads it exactly as it reads any cohort:

| LORIS column | cohort format |
|---|---|
| ``cohort`` | ``cohort``, kept: the group of leave-one-cohort-out |
| ``sample_id`` | ``patient_id`` = ``cohort:sample_id`` |
| ``sex`` 1 / 0 | ``sex`` M / F |
| ``histology`` 1 / 2 / 3 | adenocarcinoma / squamous / other |
| ``smoking_status`` 0 / 1 | never / missing: "ever" does not say former or current |
| ``prior_systemic_therapy`` 0 / 1 | ``prior_lines`` 0 / 1 (1 = at least one line) |
| ``drug`` 1 | ``ici_combination`` 1 (anti-PD-(L)1 plus anti-CTLA-4), kept as a column |

Every patient of the compilation received ICI without radiation: all are arm 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cohorts.errors import CohortFormatError, Problem
from cohorts.io import map_columns, read_cohort, read_table
from cohorts.schema import clinical_schema, validate

LORIS_MARKERS = {"cohort", "sample_id", "prior_systemic_therapy", "drug"}
GROUP_COLUMN = "cohort"
LORIS_SOURCE = "LORIS compilation (Chang et al., Nature Cancer 2024)"


def is_loris_compilation(columns) -> bool:
    return LORIS_MARKERS <= set(columns)


def loris_to_clinical(frame: pd.DataFrame) -> pd.DataFrame:
    """The LORIS-coded table in the cohort format's columns and codes (table above)."""
    out = pd.DataFrame({
        "patient_id": frame["cohort"].astype(str) + ":" + frame["sample_id"].astype(str),
        GROUP_COLUMN: frame["cohort"].astype(str),
        "arm": 0,
    })
    for col in ("pfs_months", "pfs_event", "os_months", "os_event", "age", "ecog", "pack_years",
                "tmb", "pdl1_tps", "nlr", "albumin"):
        if col in frame.columns:
            out[col] = pd.to_numeric(frame[col], errors="coerce")
    out["sex"] = frame["sex"].map({1: "M", 0: "F"})
    if "histology" in frame.columns:
        out["histology"] = frame["histology"].map({1: "adenocarcinoma", 2: "squamous",
                                                   3: "other"})
    if "smoking_status" in frame.columns:
        out["smoking_status"] = np.where(frame["smoking_status"] == 0, "never", None)
    out["prior_lines"] = pd.to_numeric(frame["prior_systemic_therapy"], errors="coerce")
    out["ici_combination"] = pd.to_numeric(frame["drug"], errors="coerce")
    return out


def read_ici_cohort(
    path: str | Path,
    *,
    rename: dict[str, str] | None = None,
    endpoint: str = "pfs",
    group_col: str | None = None,
) -> tuple[pd.DataFrame, pd.Series, str]:
    """The ICI-alone patients of ``path`` as a validated clinical table, their groups, a name.

    Outcomes are checked for every patient that has them; patients without the ``endpoint``
    outcome stay in the table (the other endpoint may use them). ``path`` is a cohort
    directory, a cohort-format CSV (``rename`` maps its columns, as for
    ``abscopal train``) or the LORIS compilation CSV. Patients of arm 1 (RT then ICI) are left out;
    a table without an ``arm`` column is all ICI alone. Groups come from ``group_col`` (default:
    the ``cohort`` column when present); without one, every patient is in one group.
    """
    path = Path(path)
    if path.is_dir():
        clinical = read_cohort(path, rename=rename, endpoint=None).clinical
        name = path.name
    else:
        frame = read_table(path)
        frame = (loris_to_clinical(frame) if is_loris_compilation(frame.columns)
                 else map_columns(frame, rename, path))
        if "arm" not in frame.columns:
            frame = frame.assign(arm=0)
        clinical = validate(frame, clinical_schema(None), str(path))
        name = path.stem
    group_col = group_col or (GROUP_COLUMN if GROUP_COLUMN in clinical.columns else None)
    if group_col is not None and group_col not in clinical.columns:
        raise CohortFormatError(path, [Problem(group_col, "the --group-col column is missing")])
    time_col, event_col = f"{endpoint}_months", f"{endpoint}_event"
    absent = [c for c in (time_col, event_col) if c not in clinical.columns]
    if absent:
        raise CohortFormatError(path, [Problem(c, f"the {endpoint} outcome column is missing "
                                                  "(map it with --time-col / --event-col)")
                                       for c in absent])
    arm = clinical["arm"] if "arm" in clinical.columns else pd.Series(0.0, clinical.index)
    clinical = clinical[arm.fillna(0).eq(0)].reset_index(drop=True)
    if clinical.empty:
        raise CohortFormatError(path, [Problem("arm", "no patient treated with ICI alone (arm 0)")])
    groups = (clinical[group_col].astype(str) if group_col else
              pd.Series(name, index=clinical.index)).rename("group")
    return clinical, groups, name
