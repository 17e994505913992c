from __future__ import annotations

import json

import pandas as pd
import pytest

from models.base import PREDICTION_COLUMNS
from tests.conftest import write_small_trial
from training.loading import ModelNotFoundError, load_model
from training.scoring import evaluate_cohort, predict_cohort


def test_predict_writes_one_row_per_patient(champion, tmp_path):
    out = tmp_path / "pred.csv"
    table = predict_cohort(None, champion.cohort, out)
    written = pd.read_csv(out, keep_default_na=False)
    assert list(written.columns) == ["patient_id", *PREDICTION_COLUMNS, "warnings"]
    assert (written["warnings"] == table["warnings"]).all()
    assert len(written) == len(table) == 400
    for est in ("pfs_gain_6mo", "pfs_gain_12mo", "rmst_gain_12mo"):
        assert (written[f"{est}_lower"] <= written[est] + 1e-9).all()
        assert (written[est] <= written[f"{est}_upper"] + 1e-9).all()
    assert set(written["recommendation"]) <= {"add_rt", "no_added_benefit", "uncertain"}
    assert written["probability_of_benefit"].between(0, 1).all()


def test_predict_scores_patients_without_outcomes(champion, tmp_path):
    new = tmp_path / "new.csv"
    pd.DataFrame({"patient_id": ["n1", "n2"], "pdl1_tps": [0, 90], "tmb": [2.0, 30.0]}).to_csv(
        new, index=False
    )
    table = predict_cohort(None, new, tmp_path / "pred.csv")
    assert list(table["patient_id"]) == ["n1", "n2"]


def test_evaluate_with_truth(champion, tmp_path):
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    write_small_trial(cohort / "clinical.csv", n=300, seed=11, truth=cohort / "truth.csv")
    metrics = evaluate_cohort(None, cohort, tmp_path / "metrics.json")
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["model"]["version"] == champion.result.version
    assert saved["cohort"]["n"] == 300
    for key in ("harrell_c_ici", "harrell_c_rt_ici", "c_for_benefit", "calibration_of_benefit",
                "qini", "average_effect", "benefit_loss"):
        assert key in saved
    # the effect is real and heterogeneous: the champion should rank it
    assert metrics["truth"]["spearman_6mo"] > 0.1  # truth has two levels (cold vs hot)
    assert 0.4 < saved["harrell_c_ici"] < 1


def test_missing_model_names_the_training_command(tmp_path):
    with pytest.raises(ModelNotFoundError, match="abscopal train"):
        load_model("models:/nothing-here@champion")


def test_logged_model_uri_loads_without_a_registry_version(champion):
    loaded = load_model(champion.result.model_uri)  # models:/m-<id> in MLflow 3
    assert loaded.version is None and loaded.bundle is not None


def test_model_with_clinical_columns_as_given_scores_them(tmp_path):
    from training.job import TrainConfig, train

    cohort = write_small_trial(tmp_path / "t.csv", n=200)
    frame = pd.read_csv(cohort)
    frame["cd4"] = range(len(frame))
    frame.to_csv(cohort, index=False)
    result = train(TrainConfig(cohort=cohort, features=["tmb", "cd4"], learner="risk", folds=3,
                               n_bootstrap=10, register=False))
    bundle = load_model(result.model_uri).bundle
    assert bundle.extra_columns == ["cd4"]
    X = bundle.features_for(bundle.raw_from_records([{"patient_id": "a", "cd4": 250, "tmb": 3}]))
    assert X.loc["a", "cd4"] == 250


def test_drivers_are_the_surrogates_treeshap_values(champion):
    """The served drivers: the surrogate's exact TreeSHAP (xgboost's pred_contribs), top 5 by
    size, in months of 12-month RMST gain."""
    import numpy as np
    import xgboost as xgb

    from cohorts.io import read_cohort
    from features import raw_inputs_from_cohort

    bundle = load_model().bundle
    X = bundle.features_for(raw_inputs_from_cohort(read_cohort(champion.cohort))).iloc[:25]
    reference = bundle.surrogate_.predict(
        xgb.DMatrix(X, missing=np.nan), pred_contribs=True)[:, :-1]
    for i, drivers in enumerate(bundle.drivers(X, top_k=5)):
        top = np.sort(np.abs(reference[i]))[::-1][:5]
        assert len(drivers) == int((top > 0).sum())
        for d in drivers:
            j = list(X.columns).index(d["feature"])
            assert d["contribution_months"] == pytest.approx(round(float(reference[i, j]), 4),
                                                             abs=1e-4)
            assert abs(reference[i, j]) >= top[len(drivers) - 1] - 1e-5


def test_truth_is_the_conditional_gain_when_the_trial_has_it(tmp_path):
    from training.scoring import _truth

    pd.DataFrame({"patient_id": ["a", "b"], "true_pfs_gain_6mo": [0.5, 0.0],
                  "cond_pfs_gain_6mo": [0.2, 0.1], "true_rmst_gain_12mo": [3.0, 0.0],
                  "cond_rmst_gain_12mo": [1.5, 0.5]}).to_csv(tmp_path / "truth.csv", index=False)
    truth = _truth(tmp_path, pd.Index(["b", "a"]))
    assert truth["pfs_gain_6mo"].tolist() == [0.1, 0.2]
    assert truth["rmst_gain_12mo"].tolist() == [0.5, 1.5]
