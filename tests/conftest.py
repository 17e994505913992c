"""Shared fixtures: small, deterministic, and isolated from the developer's mlflow.db."""

from __future__ import annotations

import os
import pickle
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from common import OFFLINE_ENV

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PUBLIC_ICI = SHARED_DATA / "public_ici" / "nsclc_ici_cohorts.csv"


@pytest.fixture(autouse=True)
def _own_sys_path():
    """A test that loads a model with ``mlflow.pyfunc.load_model`` leaves the model's ``code/``
    first on sys.path (``training.loading.load_model`` restores it; MLflow does not). Later,
    joblib's worker processes, which copy sys.path, would import the project from that copy and
    write caches into the shared store's model (seen: code/models/__pycache__ in CI)."""
    before = list(sys.path)
    yield
    sys.path[:] = before


@pytest.fixture(autouse=True)
def _isolated_mlflow(tmp_path_factory, monkeypatch):
    """Every test gets its own MLflow store, never the repository's mlflow.db."""
    store = tmp_path_factory.mktemp("mlflow")
    for var, value in OFFLINE_ENV.items():
        monkeypatch.setenv(var, value)
    point_mlflow_at(f"sqlite:///{store / 'mlflow.db'}", monkeypatch)
    yield
    from common.settings import get_settings

    get_settings.cache_clear()


def point_mlflow_at(uri: str, monkeypatch) -> None:
    """Environment and MLflow's process-wide URIs (set_tracking_uri outlives env changes)."""
    import mlflow

    from common.settings import get_settings

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


def pytest_collection_modifyitems(config, items):
    """Every test that asks for ``public_ici_path`` reads ../shared/data: mark it so
    (``-m "not needs_shared_data"`` leaves them out; without the data they skip anyway)."""
    for item in items:
        if "public_ici_path" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.needs_shared_data)


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
    """A registered champion in its own MLflow store (``root``: the store, its artifacts and the
    training cohort ``root/trial``)."""

    def __init__(self, root: Path, result=None):
        self.root = root
        self.tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
        self.cohort = root / "trial"
        self.result = result  # training.job.TrainResult

    def env(self, monkeypatch) -> None:
        point_mlflow_at(self.tracking_uri, monkeypatch)


def train_into(root: Path, config_for: Callable[[Path], object]) -> object:
    """``training.job.train(config_for(root))`` into the MLflow store ``root/mlflow.db``, without
    touching the test's environment; the result is also pickled to ``root/result.pkl``."""
    from unittest import mock

    from common.settings import get_settings
    from training.job import train

    uri = f"sqlite:///{root / 'mlflow.db'}"
    with mock.patch.dict(os.environ, {"MLFLOW_TRACKING_URI": uri, "ABSCOPAL_TRACKING_URI": uri}):
        get_settings.cache_clear()
        result = train(config_for(root))
    get_settings.cache_clear()
    (root / "result.pkl").write_bytes(pickle.dumps(result))
    return result


def built_once(name: str, tmp_path_factory, build: Callable[[Path], object]) -> Path:
    """A folder that ``build(folder)`` fills ONCE per test session, then copied for each caller.

    Under pytest-xdist every worker is its own process with its own session fixtures: the first
    worker to get here builds into the session's shared base folder under a file lock (the
    pattern of the pytest-xdist docs, "Making session-scoped fixtures execute only once"); every
    worker, the builder included, then works on its own copy, so tests that register, promote,
    tamper with or delete from a store never see another worker's changes. A copied MLflow
    store is relocated (``relocate_store``): it names its own artifacts, not the shared ones.
    """
    own = tmp_path_factory.mktemp(name)
    if not os.environ.get("PYTEST_XDIST_WORKER"):  # one process: nothing to share
        build(own)
        return own
    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp().parent / f"built-once-{name}"
    with FileLock(f"{shared}.lock"):
        done = shared / ".built"
        if not done.exists():
            shutil.rmtree(shared, ignore_errors=True)  # a worker that failed half way
            shared.mkdir()
            build(shared)
            done.touch()
    return copy_store(shared, own)


def copy_store(source: Path, target: Path) -> Path:
    """A copy of the folder ``source`` (an MLflow store and its artifacts, if it holds one) at
    ``target``, whose store names the copied artifacts (``relocate_store``)."""
    shutil.copytree(source, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".built"))
    if (target / "mlflow.db").exists():
        relocate_store(target / "mlflow.db", source, target)
    return target


def relocate_store(db: Path, old: Path, new: Path) -> None:
    """Point a copied MLflow sqlite store at its copy: every text value naming ``old`` (artifact
    locations, model version sources, the cohort parameter) names ``new`` instead. The files are
    left as copied (their digests are recorded at registration): MLmodel's informative
    ``artifact_path`` still names ``old``, which loading does not read."""
    import sqlite3

    con = sqlite3.connect(db)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for column in [r[1] for r in con.execute(f'PRAGMA table_info("{table}")')]:
                con.execute(
                    f'UPDATE "{table}" SET "{column}" = replace("{column}", ?, ?) '
                    f'WHERE typeof("{column}") = \'text\' AND instr("{column}", ?) > 0',
                    (str(old), str(new), str(old)),
                )
        con.commit()
    finally:
        con.close()


def _train_champion(root: Path):
    from training.job import TrainConfig

    cohort = root / "trial"
    cohort.mkdir()
    write_small_trial(cohort / "clinical.csv")
    (cohort / "cohort.json").write_text(
        '{"name": "small synthetic test trial", "synthetic": true}\n'
    )
    # heterogeneity_alpha=1: the shared champion serves individual effects whatever its gate
    # says, so the serving tests exercise that path; the gate has its own tests
    # (tests/training/test_heterogeneity_gate.py).
    return train_into(root, lambda root: TrainConfig(
        cohort=cohort, folds=3, n_bootstrap=10, seed=1, heterogeneity_alpha=1.0))


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory) -> TrainedModel:
    """The champion of a small SYNTHETIC trial, trained once per session (``built_once``): each
    xdist worker gets its own copy of the store."""
    root = built_once("trained", tmp_path_factory, _train_champion)
    return TrainedModel(root, pickle.loads((root / "result.pkl").read_bytes()))


@pytest.fixture
def champion(trained_model, monkeypatch) -> TrainedModel:
    """The session's trained champion, with MLflow pointed at its store for this test."""
    trained_model.env(monkeypatch)
    return trained_model
