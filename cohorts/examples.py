"""Public example trials written as their distributors ship them, for the README's own-trial path.

ACTG 320 (Hammer et al., NEJM 1997;337:725; indinavir added to two nucleosides in HIV, 1,151
patients) comes from scikit-survival's ``load_aids``, which is GPL-3 and installed with the
``dev`` extra only; the file keeps every column as distributed (``sex`` coded 1/2, ``karnof`` as
70-100, ages from 15), so reading it exercises the carried-not-validated columns and ``--map``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from common.atomic import atomic_path

EXAMPLES = {"actg320": "ACTG 320 (Hammer et al., NEJM 1997), from scikit-survival's load_aids"}
NEEDS_DEV = ("needs scikit-survival (GPL-3), installed with the dev extra: "
             "pip install -e '.[dev]'")


def actg320() -> pd.DataFrame:
    """ACTG 320 as distributed, one row per patient: ``id``, every covariate of load_aids, then
    ``time`` (days) and ``censor`` (1 = AIDS-defining event or death)."""
    try:
        from sksurv.datasets import load_aids
    except ImportError:
        raise LookupError(f"example-data actg320 {NEEDS_DEV}") from None
    X, y = load_aids()
    frame = X.apply(lambda column: pd.to_numeric(column.astype(str)))  # categories as numbers
    frame.insert(0, "id", [f"A{i + 1}" for i in range(len(frame))])
    frame["time"] = y["time"]
    frame["censor"] = y["censor"].astype(int)
    return frame


def write_example(name: str, out: str | Path) -> pd.DataFrame:
    """Write example ``name`` (one of EXAMPLES) as a CSV, atomically."""
    if name not in EXAMPLES:
        raise LookupError(f"unknown example {name!r}; one of {sorted(EXAMPLES)}")
    frame = actg320()
    with atomic_path(out) as tmp:
        frame.to_csv(tmp, index=False)
    return frame
