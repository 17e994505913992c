"""Serving fixtures: a record built from a row of the session's trained trial."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

from cohorts.schema import BASELINE_COLUMNS
from serving.process import ServerProcess


@contextmanager
def token_server(tracking_uri: str, log: Path, token: str):
    """``abscopal serve`` of the store's champion on loopback, one worker, requiring ``token``;
    stopped on exit."""
    process = ServerProcess.abscopal(
        log, tracking_uri=tracking_uri,
        env={"ABSCOPAL_API_TOKEN": token, "ABSCOPAL_WORKERS": "1", "OMP_NUM_THREADS": "1"})
    try:
        process.wait_ready(timeout=120)
        yield process
    finally:
        process.stop()


def records_from_csv(path, n: int) -> list[dict]:
    """The first ``n`` patients of a clinical CSV as request records (baseline fields only)."""
    path = path / "clinical.csv" if path.is_dir() else path
    frame = pd.read_csv(path, dtype={"patient_id": str}).head(n)
    keep = ["patient_id", *[c for c in BASELINE_COLUMNS if c in frame.columns]]
    return [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items() if pd.notna(v)}
        for row in frame[keep].to_dict(orient="records")
    ]


def assert_response_matches_table(body: dict, table: pd.DataFrame) -> None:
    """Every patient of an HTTP response equals its row of ``abscopal predict``'s table (indexed
    by patient_id): the three gains with their intervals, and the recommendation."""
    for p in body["predictions"]:
        row = table.loc[p["patient_id"]]
        for k in ("pfs_gain_6mo", "pfs_gain_12mo", "rmst_gain_12mo"):
            assert p["benefit"][k]["estimate"] == pytest.approx(row[k], rel=1e-9)
            assert p["benefit"][k]["lower"] == pytest.approx(row[f"{k}_lower"], rel=1e-9)
            assert p["benefit"][k]["upper"] == pytest.approx(row[f"{k}_upper"], rel=1e-9)
        assert p["recommendation"] == row["recommendation"]


@pytest.fixture
def trial_records(champion) -> list[dict]:
    return records_from_csv(champion.cohort, 3)
