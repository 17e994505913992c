"""On a trial where RT does nothing, the champion must not invent a benefit."""

from __future__ import annotations

import pytest

from cohorts.simulate import write_trial
from training.job import TrainConfig, train
from training.scoring import evaluate_cohort


@pytest.mark.slow
def test_null_scenario_champion_finds_no_benefit(tmp_path):
    write_trial(tmp_path / "train", n_patients=1000, seed=4, scenario="null")
    write_trial(tmp_path / "fresh", n_patients=1000, seed=40, scenario="null")
    result = train(TrainConfig(cohort=tmp_path / "train", folds=3, n_bootstrap=20, seed=4))
    assert result.promoted
    # Precondition, computed from the training files: this null trial is not by chance
    # "significant" (a 90% interval excludes zero in ~10% of null trials, whatever the model).
    ate = result.metrics["average_effect"]
    assert ate["rmst_difference_lower"] < 0 < ate["rmst_difference_upper"]

    metrics = evaluate_cohort(None, tmp_path / "fresh")
    gain = metrics["average_predicted_gain"]["rmst_gain_12mo"]
    assert gain["lower"] <= 0 <= gain["upper"], gain
    assert metrics["recommendations"]["add_rt"] < 0.1
