"""Training on a Dask cluster of worker processes gives exactly the local result (issue 16)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.conftest import write_small_trial
from training.distributed import on_cluster


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        yield cluster, client


@pytest.fixture(scope="module")
def trial(tmp_path_factory):
    from training.data import load_training_data

    root = tmp_path_factory.mktemp("dask_trial")
    path = write_small_trial(root / "clinical.csv", n=160, seed=11)
    return path, load_training_data(path)


def _tasks_done(client) -> int:
    """Tasks the workers have finished so far (proves the work ran there)."""
    return sum(client.run(lambda dask_worker: len(dask_worker.state.log)).values())


def test_bootstrap_members_on_cluster_equal_local(cluster, trial):
    from models import make_learner

    _, client = cluster
    _, data = trial
    local = make_learner("s", n_bootstrap=4, random_state=3).fit(data.Y, data.T, data.X)
    before = _tasks_done(client)
    with on_cluster(client=client):
        spread = make_learner("s", n_bootstrap=4, random_state=3).fit(data.Y, data.T, data.X)
    assert _tasks_done(client) > before
    pd.testing.assert_frame_equal(spread.predict(data.X).to_frame(),
                                  local.predict(data.X).to_frame(),
                                  check_exact=True)


def test_cross_validation_on_cluster_equals_local(cluster, trial):
    from training.job import cross_validate

    _, client = cluster
    _, data = trial
    candidates = ("t", "average")
    local = cross_validate(data, candidates, folds=2, seed=5)
    before = _tasks_done(client)
    with on_cluster(client=client):
        spread = cross_validate(data, candidates, folds=2, seed=5)
    assert _tasks_done(client) > before
    for name in candidates:
        assert spread[name]["metrics"] == local[name]["metrics"]
        for k, gains in local[name]["oof"].items():
            np.testing.assert_array_equal(spread[name]["oof"][k], gains)


def test_train_cli_scheduler_flag(cluster, trial):
    """``abscopal train --scheduler ADDRESS`` trains on that cluster (its workers run the
    tasks); the equality with local work is the two tests above, on the loops it distributes."""
    from typer.testing import CliRunner

    from abscopal.cli import app

    local_cluster, client = cluster
    path, _ = trial
    before = _tasks_done(client)
    result = CliRunner().invoke(app, [
        "train", "--cohort", str(path), "--learner", "s", "--folds", "2", "--bootstrap", "10",
        "--seed", "4", "--no-register", "--heterogeneity-alpha", "1", "--json",
        "--scheduler", local_cluster.scheduler_address])
    assert result.exit_code == 0, result.output
    # worker task transitions: the 10 bootstrap members and 2 folds ran there
    assert _tasks_done(client) - before >= 12


def test_without_scheduler_nothing_changes():
    from joblib.parallel import get_active_backend

    before = type(get_active_backend()[0])
    with on_cluster(None) as client:
        assert client is None
        assert type(get_active_backend()[0]) is before
