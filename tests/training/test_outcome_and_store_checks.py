"""Issue 13 smaller items: absurd outcome times and a mistyped tracking store are refused."""

from __future__ import annotations

import pandas as pd
import pytest

from common.settings import get_settings
from tests.conftest import point_mlflow_at, write_small_trial
from training.data import MAX_TIME_MONTHS, TrainingDataError, load_training_data
from training.tracking import TrackingStoreError, configure


@pytest.mark.parametrize("value, what", [(float("inf"), "an infinite time"),
                                         (1e308, "a time above 1,200 months"),
                                         (1201.0, "a time above 1,200 months")])
def test_infinite_and_absurd_times_are_refused_naming_row_and_column(tmp_path, value, what):
    path = write_small_trial(tmp_path / "t.csv", n=60)
    frame = pd.read_csv(path)
    frame.loc[3, "pfs_months"] = value
    frame.to_csv(path, index=False)
    with pytest.raises(TrainingDataError) as refused:
        load_training_data(path)
    message = str(refused.value)
    assert what in message and "'pfs_months'" in message and "row 4 (patient P0003" in message


def test_the_bound_applies_after_the_time_unit_and_names_the_given_column(tmp_path):
    path = write_small_trial(tmp_path / "t.csv", n=60)
    frame = pd.read_csv(path).rename(columns={"pfs_months": "days", "pfs_event": "status"})
    frame["days"] = frame["days"] * 30.4375
    frame.loc[0, "days"] = 40_000.0  # 109 years
    frame.to_csv(path, index=False)
    with pytest.raises(TrainingDataError, match=r"'days': row 1 \(patient P0000, days=40000\)"):
        load_training_data(path, time_col="days", event_col="status", time_unit="days")
    frame.loc[0, "days"] = MAX_TIME_MONTHS * 30.4375 - 1  # just under 100 years: accepted
    frame.to_csv(path, index=False)
    load_training_data(path, time_col="days", event_col="status", time_unit="days")


def test_a_store_in_a_missing_directory_is_refused_naming_the_path(tmp_path, monkeypatch):
    missing = tmp_path / "typo" / "mlflow.db"
    point_mlflow_at(f"sqlite:///{missing}", monkeypatch)
    with pytest.raises(TrackingStoreError, match=str(tmp_path / "typo")):
        configure(get_settings())
    assert not (tmp_path / "typo").exists()


def test_a_new_store_in_an_existing_directory_is_created(tmp_path, monkeypatch):
    point_mlflow_at(f"sqlite:///{tmp_path / 'mlflow.db'}", monkeypatch)
    configure(get_settings()).search_experiments()
    assert (tmp_path / "mlflow.db").exists()
    configure(get_settings())  # and reused


@pytest.mark.parametrize("suffix", ["", "?timeout=60", "?timeout=5&foo=bar"])
def test_every_spelling_of_a_store_takes_one_lock_file(tmp_path, monkeypatch, suffix):
    """Issue 14: ``mlflow.db?timeout=60.lock`` beside ``mlflow.db.lock`` (two locks, one store)."""
    import fnmatch

    from common.settings import project_root
    from training.tracking import lock_path, store_lock

    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    forms = [f"sqlite:///{tmp_path}/mlflow.db{suffix}", f"sqlite:///mlflow.db{suffix}",
             f"sqlite:///sub/../mlflow.db{suffix}"]
    assert {lock_path(uri) for uri in forms} == {tmp_path / "mlflow.db.lock"}
    for uri in forms:
        with store_lock(uri):
            pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlflow.db.lock", "sub"]
    patterns = [line.strip() for line in (project_root() / ".gitignore").read_text().splitlines()
                if line.strip() and not line.startswith(("#", "!"))]
    for name in ("mlflow.db.lock", "mlflow.db?timeout=60.lock"):
        assert any(fnmatch.fnmatchcase(name, p) for p in patterns), name
