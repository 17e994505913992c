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
    for var in ("MLFLOW_DISABLE_TELEMETRY", "BENTOML_DO_NOT_TRACK", "DO_NOT_TRACK"):
        monkeypatch.setenv(var, "true")
    point_mlflow_at(f"sqlite:///{store / 'mlflow.db'}", monkeypatch)
    yield
    from abscopal.settings import get_settings

    get_settings.cache_clear()


def point_mlflow_at(uri: str, monkeypatch) -> None:
    """Environment and MLflow's process-wide URIs (set_tracking_uri outlives env changes)."""
    import mlflow

    from abscopal.settings import get_settings

    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("ABSCOPAL_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    get_settings.cache_clear()


@pytest.fixture
def public_ici_path() -> Path:
    if not PUBLIC_ICI.exists():
        pytest.skip(f"real ICI cohort not found at {PUBLIC_ICI} (../shared/data/public_ici)")
    return PUBLIC_ICI


def pytest_configure(config):
    os.environ.setdefault("MPLBACKEND", "Agg")


def write_small_trial(path: Path, n: int = 400, seed: int = 7, truth: Path | None = None) -> Path:
    """A clinical-only randomised trial with a known effect: RT helps cold tumours most.

    SYNTHETIC test data. ``truth``: also write each patient's true 6-month PFS gain there.
    """
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    pdl1 = rng.choice([0.0, 5.0, 30.0, 70.0], n, p=[0.55, 0.15, 0.1, 0.2])
    tmb = np.round(rng.lognormal(2.0, 0.7, n), 2)
    arm = rng.integers(0, 2, n)
    cold = (pdl1 < 1) | (tmb < 10)
    rate = 0.3 * np.exp(-arm * np.where(cold, 0.9, 0.1))
    t = rng.exponential(1 / rate)
    c = rng.uniform(3, 30, n)
    pd.DataFrame(
        {
            "patient_id": [f"P{i:04d}" for i in range(n)],
            "arm": arm,
            "pfs_months": np.round(np.minimum(t, c), 3) + 0.01,
            "pfs_event": (t <= c).astype(int),
            "pdl1_tps": pdl1,
            "tmb": tmb,
            "age": rng.integers(40, 80, n),
            "sex": rng.choice(["F", "M"], n),
            "ecog": rng.integers(0, 2, n),
            "albumin": np.round(rng.normal(3.8, 0.4, n), 1),
            "nlr": np.round(rng.lognormal(1.6, 0.5, n), 2),
        }
    ).to_csv(path, index=False)
    if truth is not None:
        rate_ici, rate_rt = 0.3, 0.3 * np.exp(-np.where(cold, 0.9, 0.1))
        pd.DataFrame(
            {
                "patient_id": [f"P{i:04d}" for i in range(n)],
                "true_pfs_gain_6mo": np.exp(-rate_rt * 6) - np.exp(-rate_ici * 6),
            }
        ).to_csv(truth, index=False)
    return path


class TrainedModel:
    """A registered champion in its own MLflow store, trained once per test session."""

    def __init__(self, root: Path):
        self.root = root
        self.tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
        self.cohort = root / "trial"
        self.cohort.mkdir()
        write_small_trial(self.cohort / "clinical.csv")
        (self.cohort / "cohort.json").write_text(
            '{"name": "small synthetic test trial", "synthetic": true}\n'
        )
        self.result = None

    def env(self, monkeypatch) -> None:
        point_mlflow_at(self.tracking_uri, monkeypatch)


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory) -> TrainedModel:
    from unittest import mock

    from abscopal.settings import get_settings
    from training.job import TrainConfig, train

    model = TrainedModel(tmp_path_factory.mktemp("trained"))
    env = {"MLFLOW_TRACKING_URI": model.tracking_uri, "ABSCOPAL_TRACKING_URI": model.tracking_uri}
    with mock.patch.dict(os.environ, env):
        get_settings.cache_clear()
        # heterogeneity_alpha=1: the shared champion serves individual effects whatever its
        # gate says, so the serving tests exercise that path; the gate has its own tests
        # (tests/training/test_heterogeneity_gate.py).
        model.result = train(TrainConfig(cohort=model.cohort, folds=3, n_bootstrap=10, seed=1,
                                         heterogeneity_alpha=1.0))
    get_settings.cache_clear()
    return model


@pytest.fixture
def champion(trained_model, monkeypatch) -> TrainedModel:
    """The session's trained champion, with MLflow pointed at its store for this test."""
    trained_model.env(monkeypatch)
    return trained_model
