"""A registered champion shared by the adversarial registry and artifact tests."""

from __future__ import annotations

import os

import mlflow
import pytest

from tests.conftest import write_small_trial


@pytest.fixture(scope="session")
def artifact_store(tmp_path_factory) -> str:
    """One registered champion (rt-benefit version 1, its own MLflow store, SYNTHETIC data);
    tests that change the registry work on a copy of its database (``store_copy``)."""
    from unittest import mock

    from abscopal.settings import get_settings
    from training.job import TrainConfig, train

    root = tmp_path_factory.mktemp("artifacts")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with mock.patch.dict(os.environ, {"MLFLOW_TRACKING_URI": uri, "ABSCOPAL_TRACKING_URI": uri}):
        get_settings.cache_clear()
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        train(TrainConfig(cohort=write_small_trial(root / "t.csv", n=200), learner="risk",
                          folds=3, n_bootstrap=10, seed=3))
    get_settings.cache_clear()
    return uri
