"""Shared fixtures: small, deterministic, and isolated from the developer's mlflow.db."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PUBLIC_ICI = SHARED_DATA / "public_ici" / "nsclc_ici_cohorts.csv"


@pytest.fixture(autouse=True)
def _isolated_mlflow(tmp_path_factory, monkeypatch):
    """Every test gets its own MLflow store, never the repository's mlflow.db."""
    store = tmp_path_factory.mktemp("mlflow")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store / 'mlflow.db'}")
    monkeypatch.setenv("ABSCOPAL_TRACKING_URI", f"sqlite:///{store / 'mlflow.db'}")
    for var in ("MLFLOW_DISABLE_TELEMETRY", "BENTOML_DO_NOT_TRACK", "DO_NOT_TRACK"):
        monkeypatch.setenv(var, "true")
    from abscopal.settings import get_settings

    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def public_ici_path() -> Path:
    if not PUBLIC_ICI.exists():
        pytest.skip(f"real ICI cohort not found at {PUBLIC_ICI} (../shared/data/public_ici)")
    return PUBLIC_ICI


def pytest_configure(config):
    os.environ.setdefault("MPLBACKEND", "Agg")
