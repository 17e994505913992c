"""Folds and hold-out splits on small trials: censored patients may be fewer than the folds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.data import TrainingData, TrainingDataError
from training.split import check_folds, cv_folds, holdout_split


def _trial(arm: np.ndarray, event: np.ndarray) -> TrainingData:
    n = len(arm)
    index = pd.Index([f"p{i}" for i in range(n)], name="patient_id")
    return TrainingData(
        Y=pd.DataFrame({"time": np.linspace(1.0, 12.0, n), "event": event}, index=index),
        T=pd.Series(arm, index=index),
        X=pd.DataFrame({"x": np.arange(n, dtype=float)}, index=index),
        feature_info={}, cohort_name="small", synthetic=True,
    )


def _small_ici_trial(censored_ici: int) -> TrainingData:
    """36 patients per arm; ICI alone has ``censored_ici`` censored patients, RT+ICI has 8."""
    arm = np.repeat([0, 1], 36)
    event = np.ones(72, dtype=int)
    event[:censored_ici] = 0
    event[36:44] = 0
    return _trial(arm, event)


@pytest.mark.parametrize("censored_ici", [1, 2])
def test_five_folds_with_fewer_censored_patients_than_folds(censored_ici):
    data = _small_ici_trial(censored_ici)
    check_folds(data, 5)
    folds = cv_folds(data, 5, seed=0)
    arm, event = data.T.to_numpy(), data.Y["event"].to_numpy()
    assert sorted(np.concatenate([test for _, test in folds]).tolist()) == list(range(72))
    for train, _ in folds:
        assert event[train][arm[train] == 0].sum() > 0 and event[train][arm[train] == 1].sum() > 0


def test_holdout_with_a_single_censored_patient_in_an_arm():
    data = _small_ici_trial(1)
    train, hold = holdout_split(data, 0.25, seed=3)
    assert len(hold) == 18 and not set(train) & set(hold)
    arm, event = data.T.to_numpy(), data.Y["event"].to_numpy()
    for part in (train, hold):
        assert event[part][arm[part] == 0].sum() > 0 and event[part][arm[part] == 1].sum() > 0


def test_too_few_events_names_the_arm():
    arm = np.repeat([0, 1], 20)
    event = np.zeros(40, dtype=int)
    event[:3] = 1  # 3 ICI events
    event[20:30] = 1
    with pytest.raises(TrainingDataError, match=r"ICI events: 3\); add patients or lower --folds"):
        check_folds(_trial(arm, event), 5)
