"""A registered champion shared by the adversarial registry and artifact tests."""

from __future__ import annotations

import pytest

from tests.conftest import built_once, train_into, write_small_trial


def _train_store(root):
    from training.job import TrainConfig

    cohort = write_small_trial(root / "t.csv", n=200)
    return train_into(root, lambda root: TrainConfig(
        cohort=cohort, learner="risk", folds=3, n_bootstrap=10, seed=3))


@pytest.fixture(scope="session")
def artifact_store(tmp_path_factory) -> str:
    """One registered champion (rt-benefit version 1, its own MLflow store, SYNTHETIC data),
    trained once per session and copied for each xdist worker (``built_once``); tests that
    change the registry work on a copy of its database (test_registry_faults.py, ``store``)."""
    return f"sqlite:///{built_once('artifacts', tmp_path_factory, _train_store) / 'mlflow.db'}"
