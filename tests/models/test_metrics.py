import warnings

import numpy as np
import pytest
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.datasets import load_rossi
from lifelines.utils import concordance_index, restricted_mean_survival_time

from models.metrics import (
    auroc_benefiters,
    average_effect,
    c_for_benefit,
    calibration_of_benefit,
    harrell_c,
    pehe,
    policy_regret,
    qini_curve,
    spearman,
)
from models.metrics.average import km_rmst
from models.metrics.concordance import match_on_benefit, pair_observed_benefit


def test_harrell_c_hand_example_and_lifelines():
    # 3 comparable pairs: (1,2), (1,3), (2,3); scores order two of them correctly
    time, event = np.array([1.0, 2.0, 3.0]), np.array([1, 1, 0])
    assert harrell_c(time, event, np.array([1.0, 3.0, 2.0])) == pytest.approx(2 / 3)
    rossi = load_rossi()
    score = -rossi["prio"].to_numpy(float)
    assert harrell_c(rossi["week"], rossi["arrest"], score) == concordance_index(
        rossi["week"], score, rossi["arrest"]
    )


def test_c_for_benefit_hand_worked_example():
    # treated A .1, B .3, E .5, G .7; control C .2, D .4, F .6, H .8 -> pairs by rank:
    # P1 (A, C) pred .15: A progressed at 2, C at 4 -> control lived longer: -1
    # P2 (B, D) pred .35: D progressed at 3, B at 6 -> treated lived longer: +1
    # P3 (E, F) pred .55: both progressed at 5 -> 0
    # P4 (G, H) pred .75: G censored at 1, H progressed at 4 -> order unknown, dropped
    # pairs-of-pairs with different observed benefit: P2>P1 concordant, P2>P3 discordant,
    # P3>P1 concordant -> C = 2/3
    pred = np.array([0.1, 0.3, 0.5, 0.7, 0.2, 0.4, 0.6, 0.8])
    arm = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    time = np.array([2.0, 6.0, 5.0, 1.0, 4.0, 3.0, 5.0, 4.0])
    event = np.array([1, 1, 1, 0, 1, 1, 1, 1])
    treated, control = match_on_benefit(pred, arm)
    np.testing.assert_array_equal(treated, [0, 1, 2, 3])
    np.testing.assert_array_equal(control, [4, 5, 6, 7])
    obs = pair_observed_benefit(time, event, treated, control)
    np.testing.assert_array_equal(obs[:3], [-1, 1, 0])
    assert np.isnan(obs[3])
    assert c_for_benefit(time, event, arm, pred) == pytest.approx(2 / 3)
    assert c_for_benefit(time, event, arm, -pred) == pytest.approx(1 / 3)


def test_matching_with_unequal_arms_uses_quantiles():
    pred = np.array([0.0, 1.0, 2.0, 3.0, 0.5, 2.5])
    arm = np.array([0, 0, 0, 0, 1, 1])
    treated, control = match_on_benefit(pred, arm)
    np.testing.assert_array_equal(treated, [4, 5])
    # control ranks floor((i + 0.5) * 4 / 2) = 1 and 3 of the sorted control arm
    np.testing.assert_array_equal(control, [1, 3])


def test_qini_hand_worked_example():
    # no censoring; time 10 = progression-free at 6 months, time 2 = progressed.
    # ranked by prediction: p1 (RT, free), p2 (ICI, progressed), p3 (RT, progressed), p4 (ICI, free)
    # top 1/2: S_RT(6) = 1, S_ICI(6) = 0 -> q = 0.5 * 1; all: 0.5 - 0.5 -> q = 0
    # AUUC = trapezoid over (0, 0), (0.5, 0.5), (1, 0) = 0.25; overall uplift 0 -> qini 0.25
    pred = np.array([0.9, 0.7, 0.5, 0.3])
    arm = np.array([1, 0, 1, 0])
    time = np.array([10.0, 2.0, 2.0, 10.0])
    event = np.ones(4, dtype=int)
    out = qini_curve(time, event, arm, pred, horizon=6.0, n_points=2)
    assert out["qini"] == pytest.approx([0.5, 0.0])
    assert out["auuc"] == pytest.approx(0.25)
    assert out["qini_coefficient"] == pytest.approx(0.25)
    # the reversed ranking is worse than random
    assert qini_curve(time, event, arm, -pred, horizon=6.0, n_points=2)["qini_coefficient"] < 0


def test_calibration_of_benefit_perfect_case():
    # group 1 (pred 0): S_RT(6) = S_ICI(6) = 0.5 -> observed 0
    # group 2 (pred 0.5): S_RT(6) = 1, S_ICI(6) = 0.5 -> observed 0.5  => intercept 0, slope 1
    pred = np.array([0, 0, 0, 0, 0.5, 0.5, 0.5, 0.5])
    arm = np.array([1, 1, 0, 0, 1, 1, 0, 0])
    time = np.array([10, 2, 10, 2, 10, 10, 10, 2], dtype=float)
    out = calibration_of_benefit(time, np.ones(8, int), arm, pred, horizon=6.0, n_groups=2)
    assert out["intercept"] == pytest.approx(0.0, abs=1e-12)
    assert out["slope"] == pytest.approx(1.0)
    assert [g["observed"] for g in out["groups"]] == pytest.approx([0.0, 0.5])
    # predictions twice too wide -> slope 0.5
    assert calibration_of_benefit(time, np.ones(8, int), arm, 2 * pred, 6.0, 2)["slope"] == (
        pytest.approx(0.5)
    )


def test_average_effect_against_lifelines_on_rossi():
    rossi = load_rossi()
    out = average_effect(rossi["week"], rossi["arrest"], rossi["fin"], horizon=52.0)
    cph = CoxPHFitter().fit(rossi[["week", "arrest", "fin"]], "week", "arrest")
    assert out["hazard_ratio"] == pytest.approx(float(np.exp(cph.params_["fin"])))
    assert out["hazard_ratio"] == pytest.approx(0.69, abs=0.01)  # the textbook HR
    assert out["hazard_ratio_lower"] < out["hazard_ratio"] < out["hazard_ratio_upper"]
    for a, key in ((0, "rmst_ici"), (1, "rmst_rt_ici")):
        m = rossi["fin"] == a
        kmf = KaplanMeierFitter().fit(rossi.loc[m, "week"], rossi.loc[m, "arrest"])
        assert out[key] == pytest.approx(restricted_mean_survival_time(kmf, t=52.0))
    assert out["rmst_difference_lower"] < out["rmst_difference"] < out["rmst_difference_upper"]


def test_rmst_variance_matches_the_bootstrap():
    rossi = load_rossi()
    time, event = rossi["week"].to_numpy(float), rossi["arrest"].to_numpy()
    _, var = km_rmst(time, event, 40.0)
    rng = np.random.default_rng(0)
    boot = [
        km_rmst(time[i], event[i], 40.0)[0] for i in rng.integers(0, len(time), (200, len(time)))
    ]
    assert var == pytest.approx(np.var(boot), rel=0.25)


def test_truth_metrics_hand_values():
    true = np.array([0.2, -0.1, 0.0, 0.3])
    pred = np.array([0.1, 0.1, -0.2, 0.3])
    assert pehe(pred, true) == pytest.approx(np.sqrt((0.01 + 0.04 + 0.04 + 0) / 4))
    assert spearman(true, true) == pytest.approx(1.0)
    assert spearman(-true, true) == pytest.approx(-1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an average served to all: undefined, said quietly
        assert np.isnan(spearman(np.full(4, 0.2), true))
    # benefiters: rows 0 and 3 (true > 0); their scores 0.1 and 0.3 vs others 0.1 and -0.2
    assert auroc_benefiters(pred, true) == pytest.approx((1 + 0.5 + 1 + 1) / 4)
    assert np.isnan(auroc_benefiters(pred, np.ones(4)))
    # oracle value 0.5/4; policy treats rows 0, 1, 3 -> 0.4/4; regret 0.1/4
    assert policy_regret(pred, true) == pytest.approx(0.025)
    assert policy_regret(true, true) == 0.0
