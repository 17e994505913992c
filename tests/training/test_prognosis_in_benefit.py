"""The prognosis model inside the benefit model: as an input and as the real-world baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from tests.conftest import write_small_trial
from tests.training.test_prognosis_job import write_sites
from training.job import TrainConfig, train
from training.loading import ModelNotFoundError, load_model
from training.prognosis_bundle import PROGNOSIS_FEATURE
from training.prognosis_job import PrognosisConfig, train_prognosis


def config(cohort, **overrides) -> TrainConfig:
    return TrainConfig(**{"cohort": cohort, "learner": "t", "folds": 3, "n_bootstrap": 10,
                          "seed": 3, "heterogeneity_alpha": 1.0, **overrides})


@pytest.fixture
def prognosis(tmp_path):
    """An ici-prognosis champion trained on SYNTHETIC real-world-like sites."""
    train_prognosis(PrognosisConfig(cohort=write_sites(tmp_path / "sites.csv"),
                                    group_col="site", n_bootstrap=20))


def test_real_world_baseline_without_a_prognosis_model_fails_before_any_run(tmp_path):
    cohort = write_small_trial(tmp_path / "t.csv", n=200)
    with pytest.raises(ModelNotFoundError, match="train-prognosis"):
        train(config(cohort, baseline="real-world", prognosis_feature=True))
    assert MlflowClient().get_experiment_by_name("abscopal") is None


def test_prognosis_input_is_one_feature_path_and_the_risk_learner_uses_it(tmp_path, prognosis):
    cohort = write_small_trial(tmp_path / "t.csv", n=300)
    result = train(config(cohort, learner="risk", prognosis_feature=True, model_name="pf"))
    bundle = load_model(result.model_uri).bundle
    assert PROGNOSIS_FEATURE in bundle.feature_names and bundle.baseline == "trial"
    assert bundle.feature_info[PROGNOSIS_FEATURE]["source"].startswith("ici-prognosis v1")
    member = bundle.estimator.members_[0]
    assert member.external_risk == PROGNOSIS_FEATURE and member.risk_model_ is None
    # serving path (records) and training path (cohort) give the same prognosis input
    from training.data import load_training_data
    from training.job import use_prognosis

    data = load_training_data(cohort)
    use_prognosis(data, config(cohort, prognosis_feature=True), None)
    records = [{k: v for k, v in row.items() if not pd.isna(v) and k not in (
        "arm", "pfs_months", "pfs_event")} for row in pd.read_csv(cohort).to_dict("records")]
    served = bundle.features_for(bundle.raw_from_records(records))
    np.testing.assert_allclose(served[PROGNOSIS_FEATURE].to_numpy(),
                               data.X[PROGNOSIS_FEATURE].to_numpy(), rtol=1e-6)


def test_real_world_baseline_serves_the_prognosis_curve_with_the_trial_effect(tmp_path,
                                                                              prognosis):
    cohort = write_small_trial(tmp_path / "t.csv", n=300)
    result = train(config(cohort, baseline="real-world", prognosis_feature=True,
                          model_name="rw"))
    loaded = load_model(result.model_uri)
    bundle = loaded.bundle
    records = [{"patient_id": "a", "tmb": 25.0, "albumin": 4.3, "nlr": 2.0},
               {"patient_id": "b", "tmb": 2.0, "albumin": 3.1, "nlr": 11.0}, {"patient_id": "c"}]
    X = bundle.features_for(bundle.raw_from_records(records))
    prediction = bundle.predict(X)
    columns, months, s_ici = prediction.columns(), prediction.months, prediction.survival_ici
    expected = bundle.prognosis.survival(X, "pfs", months)
    np.testing.assert_allclose(s_ici, expected, atol=1e-12)
    assert s_ici[0, 24] > s_ici[1, 24]  # better prognosis, better real-world curve
    np.testing.assert_allclose(columns["s_ici_12mo"], expected[:, 24], atol=1e-12)
    np.testing.assert_allclose(columns["pfs_gain_6mo"],
                               columns["s_rt_ici_6mo"] - columns["s_ici_6mo"], atol=1e-9)
    assert ((columns["rmst_gain_12mo_lower"] <= columns["rmst_gain_12mo"])
            & (columns["rmst_gain_12mo"] <= columns["rmst_gain_12mo_upper"])).all()
    # the fast path (Cox terms of all members at once) equals the member-by-member curves
    from models.base import BENEFIT_GRID_MONTHS
    from models.transport import hazard_ratio_curve

    loop = np.stack([hazard_ratio_curve(*m.predict_survival(X, BENEFIT_GRID_MONTHS))
                     for m in bundle.estimator.members_])
    scale, curve = bundle.estimator.hazard_ratio_draws(X, BENEFIT_GRID_MONTHS)
    stacked = np.nan_to_num(scale[:, :, None] * curve[:, None, :], nan=1.0)
    np.testing.assert_allclose(stacked, loop, rtol=1e-6)
    # the trial's effect (RT helps, most in cold tumours) carries over on average
    trial = pd.read_csv(cohort).drop(columns=["arm", "pfs_months", "pfs_event"])
    everyone = bundle.features_for(bundle.raw_from_records(trial.to_dict("records")))
    assert bundle.predict(everyone).to_frame()["rmst_gain_12mo"].mean() > 0.5
    from serving.card import model_card
    from serving.predictor import Predictor

    card = model_card(loaded)
    assert card["model"]["baseline"] == "real-world"
    assert card["prognosis_model"]["version"] == "1" and "validation" in card["prognosis_model"]
    predictor = Predictor(loaded)
    assert predictor.model_info["baseline"] == "real-world"
    # `abscopal evaluate` scores the served model on the same inputs (the risk included)
    from training.scoring import evaluate_cohort

    metrics = evaluate_cohort(loaded, cohort)
    assert np.isfinite(metrics["benefit_loss"])
    assert sum(metrics["recommendations"].values()) == pytest.approx(1.0)


def test_average_effect_on_the_real_world_baseline_recommends_nothing(tmp_path, prognosis):
    cohort = write_small_trial(tmp_path / "t.csv", n=300)
    result = train(config(cohort, baseline="real-world", prognosis_feature=True,
                          heterogeneity_alpha=0.0, model_name="avg"))
    bundle = load_model(result.model_uri).bundle
    assert bundle.serves_average
    X = bundle.features_for(bundle.raw_from_records([{"tmb": 25.0, "albumin": 4.3},
                                                     {"tmb": 2.0, "albumin": 3.1}]))
    columns = bundle.predict(X).columns()
    assert (columns["recommendation"] == "uncertain").all()
    assert columns["rmst_gain_12mo"][0] != columns["rmst_gain_12mo"][1]  # absolute gain: risk
    assert (columns["rmst_gain_12mo_lower"] < columns["rmst_gain_12mo_upper"]).all()
