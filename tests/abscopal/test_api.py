"""The Python API runs the CLI's and the server's code paths, and imports the pipeline lazily."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from abscopal import build_features, evaluate, load_model, predict, simulate, train
from features.pipeline import features_for_cohort
from training.scoring import predict_cohort


def test_importing_the_base_or_the_top_package_does_not_import_the_pipeline():
    code = ("import sys, common, common.settings, common.atomic, abscopal; "
            "print(sorted(m for m in ('cohorts', 'features', 'models', 'training', 'serving', "
            "'abscopal.api') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_predict_takes_a_cohort_a_frame_or_records_like_the_cli(champion, tmp_path):
    model = load_model()
    from_cli = predict_cohort(None, champion.cohort, tmp_path / "p.csv")
    from_cohort = predict(model, champion.cohort)
    pd.testing.assert_frame_equal(from_cohort, from_cli)
    clinical = pd.read_csv(champion.cohort / "clinical.csv")
    baseline = clinical.drop(columns=["arm", "pfs_months", "pfs_event", "os_months",
                                      "os_event", "best_response"], errors="ignore")
    from_frame = predict(model, baseline)
    pd.testing.assert_frame_equal(from_frame, from_cli)
    records = [{k: v for k, v in row.items() if pd.notna(v)}
               for row in baseline.head(5).to_dict("records")]
    from_records = predict(None, records)  # None: the champion, loaded here
    pd.testing.assert_frame_equal(from_records, from_cli.head(5))


def test_build_features_equals_the_written_table(champion, tmp_path):
    manifest = features_for_cohort(champion.cohort, tmp_path / "features.parquet")
    written = pd.read_parquet(tmp_path / "features.parquet")
    frame = build_features(champion.cohort)
    assert manifest.n_patients == len(frame)
    pd.testing.assert_frame_equal(frame.reset_index(drop=True),
                                  written.reset_index(drop=True)[list(frame.columns)],
                                  check_dtype=False)


def test_evaluate_reports_on_the_cohort(champion):
    metrics = evaluate(load_model(), champion.cohort)
    assert metrics["cohort"]["n"] == len(pd.read_csv(champion.cohort / "clinical.csv"))
    assert metrics["model"]["synthetic_training_data"] is True
    assert set(metrics["recommendations"]) == {"add_rt", "no_added_benefit", "uncertain"}


@pytest.mark.slow
def test_simulate_train_predict(tmp_path):
    trial = simulate(tmp_path / "trial", n_patients=200, seed=5)
    result = train(trial, learner="t", folds=2, n_bootstrap=5, register=False)
    table = predict(result.model_uri, [{"pdl1_tps": 0, "tmb": 4.2}, {"pdl1_tps": 80}])
    assert len(table) == 2 and table["rmst_gain_12mo"].notna().all()
    assert table["rmst_gain_12mo_lower"].le(table["rmst_gain_12mo_upper"]).all()
