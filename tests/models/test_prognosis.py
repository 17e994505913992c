"""The ICI prognosis model and the LORIS comparator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.loris import loris_fill_values, loris_score
from models.metrics.survival_accuracy import harrell_c
from models.prognosis import PROGNOSIS_FEATURES, LinearCoxPrognosis, PrognosisModel


def real_world_like(n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """SYNTHETIC ICI-alone patients: risk falls with TMB and albumin, rises with NLR and ECOG;
    PD-L1 missing for 40%, ECOG for half (whole-field gaps, as in real-world tables)."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "tmb": rng.gamma(1.5, 6.0, n), "pdl1_tps": rng.choice([0.0, 10.0, 60.0], n),
        "prior_lines": rng.integers(0, 2, n).astype(float), "albumin": rng.normal(3.8, 0.4, n),
        "nlr": rng.lognormal(1.5, 0.5, n), "age": rng.normal(65, 10, n),
        "sex_male": rng.integers(0, 2, n).astype(float), "ecog": rng.integers(0, 3, n) * 1.0,
        "histology_squamous": rng.integers(0, 2, n) * 1.0, "histology_other": 0.0,
    })
    lp = (-0.05 * X.tmb - 0.01 * X.pdl1_tps - 0.8 * (X.albumin - 3.8) + 0.5 * np.log(X.nlr)
          + 0.4 * X.ecog)
    t = rng.exponential(4.0 * np.exp(-lp + lp.mean()))
    c = rng.uniform(3, 30, n)
    Y = pd.DataFrame({"time": np.minimum(t, c), "event": (t <= c).astype(int)})
    X.loc[rng.random(n) < 0.4, "pdl1_tps"] = np.nan
    X.loc[: n // 2, "ecog"] = np.nan
    return Y, X


@pytest.mark.parametrize("model", [PrognosisModel(random_state=0), LinearCoxPrognosis()])
def test_ranks_new_patients_and_handles_missing_inputs(model):
    Y, X = real_world_like(800, 1)
    Y_new, X_new = real_world_like(600, 2)
    model.fit(Y, X)
    risk = model.predict_log_risk(X_new)
    assert np.isfinite(risk).all()
    assert harrell_c(Y_new["time"], Y_new["event"], risk) > 0.64
    s = model.predict_survival(X_new, [6.0, 12.0])
    assert s.shape == (600, 2) and ((s >= 0) & (s <= 1)).all() and (s[:, 1] <= s[:, 0]).all()


def test_missing_share_is_reported_and_absent_columns_are_missing_not_zero():
    Y, X = real_world_like(400, 3)
    model = PrognosisModel().fit(Y, X.drop(columns=["histology_other"]))
    assert model.feature_names_in_ == PROGNOSIS_FEATURES
    assert model.missing_share_["histology_other"] == 1.0
    assert model.missing_share_["pdl1_tps"] == pytest.approx(0.4, abs=0.07)


def test_monotone_directions_hold():
    Y, X = real_world_like(600, 4)
    model = PrognosisModel().fit(Y, X)
    grid = pd.DataFrame([X.iloc[0]] * 50)
    grid["tmb"] = np.linspace(0, 60, 50)
    assert (np.diff(model.predict_log_risk(grid)) <= 1e-9).all()
    grid = pd.DataFrame([X.iloc[0]] * 50)
    grid["nlr"] = np.linspace(0.5, 30, 50)
    assert (np.diff(model.predict_log_risk(grid)) >= -1e-9).all()


def test_too_few_events_is_refused():
    Y, X = real_world_like(40, 5)
    Y["event"] = 0
    Y.loc[:4, "event"] = 1
    with pytest.raises(ValueError, match="at least 10 events"):
        PrognosisModel().fit(Y, X)


def test_loris_matches_its_published_formula():
    X = pd.DataFrame({"tmb": [60.0, 5.0], "pdl1_tps": [50.0, np.nan], "prior_lines": [2.0, 0.0],
                      "albumin": [4.0, 3.5], "nlr": [30.0, 4.0]})
    fill = loris_fill_values(pd.DataFrame({"tmb": [1.0], "pdl1_tps": [20.0], "prior_lines": [1],
                                           "albumin": [3.0], "nlr": [5.0]}))
    s = loris_score(X, fill)
    expected0 = 0.0353 * 50 + 0.0111 * 50 - 0.375 + 0.2924 * 4.0 - 0.0103 * 25 - 1.5593
    expected1 = 0.0353 * 5 + 0.0111 * 20 + 0.2924 * 3.5 - 0.0103 * 4 - 1.5593
    assert s == pytest.approx([expected0, expected1])
