"""The benefit benchmark: its oracles' labels are what they claim, its gate metrics score both
answers, and a run extends without repeating a trial."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cohorts.simulate import simulate_trial

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "benefit_bench.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("benefit_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def truth() -> tuple[pd.DataFrame, np.ndarray]:
    trial = simulate_trial(2000, seed=11, scenario="published")
    truth = trial.truth.set_index("patient_id")
    arm = trial.clinical.set_index("patient_id").loc[truth.index, "arm"].to_numpy()
    return truth, arm


@pytest.mark.parametrize("estimand", ["rmst_gain_12mo", "pfs_gain_6mo"])
def test_one_arm_label_is_unbiased_for_the_conditional_gain(bench, truth, estimand):
    """The efficient pseudo-outcome of one arm has the conditional gain as its mean given the
    inputs: on average, and along the conditional gain (slope 1), however noisy."""
    table, arm = truth
    label = bench.oracle_labels("oracle-one-arm", table, arm)[estimand]
    cond = table[f"cond_{estimand}"].to_numpy()
    se = label.std() / np.sqrt(len(label))
    assert abs(label.mean() - cond.mean()) < 4 * se
    slope, _ = np.polyfit(cond, label, 1)
    assert slope == pytest.approx(1.0, abs=0.5)
    assert label.var() > 5 * cond.var()  # the noise the ceiling is about


def test_oracle_labels_lose_information_in_order(bench, truth):
    """Conditional (exact) -> individual -> realised under both arms -> one arm: each label is
    further from the conditional gain than the one before."""
    table, arm = truth
    cond = table["cond_rmst_gain_12mo"].to_numpy()
    errors = [np.mean((bench.oracle_labels(name, table, arm)["rmst_gain_12mo"] - cond) ** 2)
              for name in bench.ORACLES]
    assert errors[0] == 0.0
    assert errors == sorted(errors)


def test_recommendation_measures_count_the_two_kinds_of_error(bench):
    """Below the MCID among all patients told add_rt (what P >= 0.9 promises) is not the share
    of the low-gain patients told add_rt (the issue's target): a small table tells them apart."""
    gains = np.array([0.2, 0.5, 0.8, 2.0, 3.0, 4.0, 0.1, 0.3])  # months; five below the MCID
    truth = pd.DataFrame({f"cond_{k}": gains for k in bench.ESTIMANDS})
    told = np.array(["add_rt"] * 6 + ["uncertain", "no_added_benefit"])
    pred = {k: gains for k in bench.ESTIMANDS} | {"recommendation": told}
    metrics = bench.replicate_metrics(pred, truth)
    assert metrics["add_rt_among_below_mcid"] == pytest.approx(3 / 5)
    assert metrics["below_mcid_among_add_rt"] == pytest.approx(3 / 6)
    assert metrics["add_rt_share"] == pytest.approx(6 / 8)
    nobody = bench.replicate_metrics(pred | {"recommendation": np.array(["uncertain"] * 8)}, truth)
    assert np.isnan(nobody["below_mcid_among_add_rt"]) and nobody["add_rt_among_below_mcid"] == 0


def test_gate_metrics_score_both_answers_the_gate_chooses_between(bench):
    """The served learner's row carries the gate's estimate and both candidate answers' scores,
    so another gate can be judged on the same run."""
    gains = np.array([0.2, 0.5, 2.0, 3.0])
    truth = pd.DataFrame({f"cond_{k}": gains for k in bench.ESTIMANDS})
    individual = {k: gains + 0.1 for k in bench.ESTIMANDS} | {
        "recommendation": np.array(["uncertain", "add_rt", "add_rt", "add_rt"])}
    average = {k: np.full(4, gains.mean()) for k in bench.ESTIMANDS} | {
        "recommendation": np.array(["uncertain"] * 4)}
    gate = {"slope": 0.9, "slope_se": 0.3, "p_value": 0.001}
    metrics = bench.gate_metrics({"gate": gate, "individual": individual, "average": average},
                                 truth)
    assert metrics["gate_slope"] == 0.9 and metrics["gate_p_value"] == 0.001
    assert metrics["individual_pehe_rmst_gain_12mo"] == pytest.approx(0.1)
    assert metrics["average_pehe_rmst_gain_12mo"] == pytest.approx(gains.std())
    assert metrics["individual_add_rt_among_below_mcid"] == pytest.approx(1 / 2)
    assert metrics["average_add_rt_share"] == 0
    assert bench.gate_metrics(individual, truth) == {}  # other learners: no gate columns
    assert set(metrics) <= set(bench.CSV_FIELDS)


def test_first_replicate_extends_a_run_with_the_next_trials(bench, tmp_path):
    """Replicates 2-3 of one run are replicates 2-3 of a run that starts there: same seeds,
    same rows, so a long benchmark can be extended without repeating a trial."""

    def run(first: int, count: int, out: Path) -> pd.DataFrame:
        args = argparse.Namespace(sizes=[72], scenarios=["published"], learners=["treat-all"],
                                  replicates=count, first_replicate=first, test_patients=150,
                                  seed=7, scheduler=None, bootstrap=5)
        work = tmp_path / out.stem
        work.mkdir()
        bench.virtual_trial_rows(args, work, out)
        return pd.read_csv(out)

    whole = run(0, 3, tmp_path / "whole.csv")
    tail = run(1, 2, tmp_path / "tail.csv")
    assert list(tail["replicate"]) == [1, 2]
    assert tail["train_seed"].nunique() == 2
    kept = ["replicate", "train_seed", "pehe_rmst_gain_12mo", "mean_s12_error_ici"]
    pd.testing.assert_frame_equal(whole[kept].iloc[1:].reset_index(drop=True), tail[kept])
