"""The virtual trial through the project's own features: the benefit is only partly predictable.

Issue 10's oracle: gradient boosting on every baseline feature, trained on the individual true
gain of half the patients, scored on the other half, lies in 0.35-0.70 (here with a 0.30 floor
for the smaller trial), and no single feature (cold_tumour included) carries the simulator's
effect formula.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cohorts import read_cohort
from cohorts.simulate import write_trial
from cohorts.simulate.calibration import holdout_r2
from features import build_features, raw_inputs_from_cohort


@pytest.mark.slow
def test_features_explain_the_benefit_only_partly(tmp_path):
    root = write_trial(tmp_path / "vt", n_patients=4000, seed=23)
    fs = build_features(raw_inputs_from_cohort(read_cohort(root)))
    baseline = [s.name for s in fs.specs if s.timepoint == "baseline"]
    x = fs.frame[baseline]
    truth = pd.read_csv(root / "truth.csv", dtype={"patient_id": str}).set_index("patient_id")
    gain = truth.loc[x.index, "true_rmst_gain_12mo"].to_numpy()
    assert 0.30 <= holdout_r2(x, gain) <= 0.70
    single = {name: holdout_r2(x[[name]], gain) for name in baseline
              if x[name].notna().mean() > 0.5 and x[name].nunique() > 1}
    assert max(single.values()) < 0.45, max(single, key=single.get)
    assert single["cold_tumour"] < 0.35
    assert np.isfinite(list(single.values())).all()
