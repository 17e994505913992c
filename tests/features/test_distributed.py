"""The Dask path gives exactly the single-machine features."""

from __future__ import annotations

import pandas as pd
import pytest

from cohorts import read_cohort
from features import build_features, raw_inputs_from_cohort, read_features
from features.pipeline import features_for_cohort


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        yield client


def test_dask_equals_single_machine(client, cohort_dir, tmp_path):
    raw = raw_inputs_from_cohort(read_cohort(cohort_dir))
    local = build_features(raw).frame
    spread = build_features(raw, client=client, chunk_patients=2).frame
    pd.testing.assert_frame_equal(spread, local, check_exact=True)

    lazy = raw_inputs_from_cohort(read_cohort(cohort_dir), lazy=True)
    assert type(lazy.mutations).__module__.startswith("dask")
    assert type(lazy.tcr).__module__.startswith("dask")
    out = tmp_path / "features.parquet"
    features_for_cohort(cohort_dir, out, client=client)
    from_files, manifest = read_features(out)
    pd.testing.assert_frame_equal(from_files, local, check_exact=True)
    assert manifest.n_patients == len(local)


def test_local_patient_chunks_equal_one_pass(cohort_dir, monkeypatch):
    import features.build as build

    raw = raw_inputs_from_cohort(read_cohort(cohort_dir))
    whole = build_features(raw).frame
    monkeypatch.setattr(build, "LOCAL_CHUNK_ROWS", 10)  # force chunking on the tiny fixture
    chunked = build_features(raw, chunk_patients=1).frame
    pd.testing.assert_frame_equal(chunked, whole, check_exact=True)


def test_cli_scheduler_flag(client, cohort_dir, tmp_path):
    from typer.testing import CliRunner

    from abscopal.cli import app

    out = tmp_path / "features.parquet"
    address = client.scheduler.address
    result = CliRunner().invoke(app, ["features", "--cohort", str(cohort_dir), "--out", str(out),
                                      "--scheduler", address])
    assert result.exit_code == 0, result.output
    local = build_features(raw_inputs_from_cohort(read_cohort(cohort_dir))).frame
    pd.testing.assert_frame_equal(read_features(out)[0], local, check_exact=True)
