import numpy as np
import pytest

from models import RecommendationRule, check_baseline_features, recommend


def test_recommendation_rule_cases():
    # draws of the 12-month RMST gain (rows: draws; columns: patients)
    draws = np.array([
        [2.0, 0.5, 1.2, 0.3, 1.0],
        [2.5, 0.2, 0.8, 0.6, 1.1],
        [1.8, 0.9, 1.5, 0.4, 1.0],
        [3.0, 0.4, 0.6, 0.5, 1.3],
        [2.2, 0.1, 1.9, 0.2, 1.0],
    ])
    rule = RecommendationRule(mcid=1.0, level=0.8)
    p = rule.probability(draws)
    np.testing.assert_allclose(p, [1.0, 0.0, 0.6, 0.0, 1.0])  # gain >= MCID counts (boundary in)
    # 0: every draw >= MCID -> add_rt; 1 and 3: positive but never >= MCID -> no_added_benefit
    # (a positive gain below what matters); 2: in between -> uncertain; 4: on the boundary -> add_rt
    assert list(recommend(p, rule)) == [
        "add_rt", "no_added_benefit", "uncertain", "no_added_benefit", "add_rt"]
    strict = RecommendationRule(mcid=2.0, level=0.9)
    assert list(recommend(strict.probability(draws), strict)) == [
        "uncertain", "no_added_benefit", "no_added_benefit", "no_added_benefit",
        "no_added_benefit"]
    with pytest.raises(ValueError, match="level"):
        RecommendationRule(level=0.4)
    with pytest.raises(ValueError, match="mcid"):
        RecommendationRule(mcid=-1.0)


def test_all_positive_small_gains_are_not_recommended_rt():
    """The flaw of P(gain > 0): small gains that are surely positive must not give add_rt."""
    rng = np.random.default_rng(0)
    draws = rng.normal(0.4, 0.1, (200, 50))  # every draw positive, all well below 1 month
    rule = RecommendationRule()
    assert (rule.probability(draws) == 0).all()
    assert set(recommend(rule.probability(draws), rule)) == {"no_added_benefit"}


def test_check_baseline_features_names_every_offender():
    timepoints = {
        "pdl1": "baseline",
        "tmb": "baseline",
        "tcr_exp": "on_treatment",
        "ctdna_delta": "on_treatment",
    }
    check_baseline_features(["pdl1", "tmb"], timepoints)
    with pytest.raises(ValueError, match="tcr_exp, ctdna_delta") as err:
        check_baseline_features(["pdl1", "tcr_exp", "ctdna_delta"], timepoints)
    assert "on_treatment" in str(err.value)
    with pytest.raises(ValueError, match="not in the feature manifest: mystery"):
        check_baseline_features(["pdl1", "mystery"], timepoints)
