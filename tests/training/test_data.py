from __future__ import annotations

import pandas as pd
import pytest

from tests.conftest import write_small_trial
from training.data import TrainingDataError, load_training_data


@pytest.fixture
def trial_csv(tmp_path):
    return write_small_trial(tmp_path / "trial.csv", n=120)


def test_default_features_are_baseline_with_coverage(trial_csv):
    data = load_training_data(trial_csv)
    assert data.n == 120
    assert set(data.Y.columns) == {"time", "event"}
    assert all(info["timepoint"] == "baseline" for info in data.feature_info.values())
    assert "pdl1_tps" in data.X.columns and "tmb" in data.X.columns
    # features absent from a clinical-only cohort are dropped, with the reason kept
    assert data.dropped_features
    assert not ({"arm", "pfs_months", "pfs_event"} & set(data.X.columns))


@pytest.mark.parametrize(("present", "kept"), [(0.3, True), (0.1, False)])
def test_a_sparse_feature_is_kept_down_to_a_fifth_of_the_patients(tmp_path, trial_csv, present,
                                                                   kept):
    """Omics missing at random still carry effect modifiers where present: TMB measured in 30% of
    the patients is used; in 10%, it is dropped and the reason kept."""
    frame = pd.read_csv(trial_csv)
    frame.loc[frame.index >= int(present * len(frame)), "tmb"] = None
    frame.to_csv(tmp_path / "sparse.csv", index=False)
    data = load_training_data(tmp_path / "sparse.csv")
    assert ("tmb" in data.X.columns) is kept
    assert ("tmb" in data.dropped_features) is not kept
    if not kept:
        assert data.dropped_features["tmb"] == "coverage below 20%"


def test_requested_features_include_numeric_columns_as_given(tmp_path, trial_csv):
    df = pd.read_csv(trial_csv)
    df["crp"] = range(len(df))
    df.to_csv(trial_csv, index=False)
    data = load_training_data(trial_csv, features=["tmb", "crp"])
    assert list(data.X.columns) == ["tmb", "crp"]
    assert data.feature_info["crp"]["group"] == "clinical (as given)"


@pytest.mark.parametrize(
    ("features", "message"),
    [
        (["nonexistent"], "unknown feature"),
        (["pfs_months"], "outcomes or the arm"),
        (["arm"], "outcomes or the arm"),
    ],
)
def test_bad_feature_requests_are_named(trial_csv, features, message):
    with pytest.raises(TrainingDataError, match=message):
        load_training_data(trial_csv, features=features)


def test_constant_feature_is_refused(tmp_path, trial_csv):
    df = pd.read_csv(trial_csv)
    df["site"] = 1.0
    df.to_csv(trial_csv, index=False)
    with pytest.raises(TrainingDataError, match="site is constant"):
        load_training_data(trial_csv, features=["tmb", "site"])


def test_time_units_convert_to_months(tmp_path, trial_csv):
    df = pd.read_csv(trial_csv).rename(columns={"pfs_months": "days", "patient_id": "id"})
    df["days"] = df["days"] * 30.4375
    df.to_csv(tmp_path / "days.csv", index=False)
    data = load_training_data(tmp_path / "days.csv", time_col="days", id_col="id",
                              time_unit="days")
    expected = pd.read_csv(trial_csv)["pfs_months"].to_numpy()
    assert data.Y["time"].to_numpy() == pytest.approx(expected)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda df: df.assign(arm=0), "two-arm"),
        (lambda df: df.assign(pfs_event=df["pfs_event"].where(df["arm"] == 0, 0)), "events"),
        (lambda df: df[(df["arm"] == 0) | (df.index < 90)].iloc[:70], "patients"),
    ],
    ids=["single-arm", "no-events-in-an-arm", "too-few-in-an-arm"],
)
def test_untrainable_cohorts_fail_before_any_run(tmp_path, trial_csv, mutate, message):
    df = mutate(pd.read_csv(trial_csv))
    if message == "patients":
        df = pd.concat([df[df["arm"] == 0], df[df["arm"] == 1].head(4)])
    df.to_csv(trial_csv, index=False)
    with pytest.raises(TrainingDataError, match=message):
        load_training_data(trial_csv)


def test_a_foreign_trial_is_validated_only_in_what_its_features_read(tmp_path):
    """A trial's own coding of a column no selected feature reads (sex 1/2, as ACTG 320 ships
    it) is carried, not refused; selecting a feature that reads it checks it again."""
    from cohorts import CohortFormatError
    from cohorts.io import read_options

    df = pd.read_csv(write_small_trial(tmp_path / "t.csv", n=120)).rename(
        columns={"patient_id": "id", "arm": "tx", "pfs_months": "time", "pfs_event": "censor"})
    df["sex"] = df["sex"].map({"F": 2, "M": 1})
    df["cd4"] = range(len(df))
    df.to_csv(tmp_path / "foreign.csv", index=False)
    read = {"id_col": "id", "arm_col": "tx", "time_col": "time", "event_col": "censor"}
    data = load_training_data(tmp_path / "foreign.csv", features=["cd4", "tmb"], **read)
    assert list(data.X.columns) == ["cd4", "tmb"] and data.n == 120
    assert data.available["sex_male"].isna().all()  # carried unread, not misread as "not M"
    with pytest.raises(CohortFormatError, match="column 'sex'"):
        load_training_data(tmp_path / "foreign.csv", features=["cd4", "sex_male"], **read)
    with read_options({"sex": {"1": "M", "2": "F"}}):
        data = load_training_data(tmp_path / "foreign.csv", features=["cd4", "sex_male"], **read)
    assert data.X["sex_male"].tolist()[:5] == (df["sex"].head(5) == 1).astype(float).tolist()
