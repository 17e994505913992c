import numpy as np
import pytest

from models import RecommendationRule, check_baseline_features, recommend


def test_recommendation_rule_cases():
    gain = np.array([2.0, 0.5, 2.0, 2.0, 1.5])
    upper = np.array([3.0, 0.9, 4.0, 4.0, 3.0])
    p_benefit = np.array([0.95, 0.99, 0.4, 0.7, 0.9])
    # 0: probable and large -> add_rt; 1: probable but even the upper bound < MCID -> ici_alone;
    # 2: P(benefit) <= 0.5 -> ici_alone; 3: in between -> uncertain; 4: boundary p = 0.9 -> add_rt
    assert list(recommend(gain, upper, p_benefit)) == [
        "add_rt",
        "ici_alone",
        "ici_alone",
        "uncertain",
        "add_rt",
    ]
    strict = RecommendationRule(mcid=2.5, p_add=0.95, p_none=0.5)
    assert list(recommend(gain, upper, p_benefit, strict)) == [
        "uncertain",
        "ici_alone",
        "ici_alone",
        "uncertain",
        "uncertain",
    ]
    with pytest.raises(ValueError, match="p_none"):
        RecommendationRule(p_add=0.4, p_none=0.5)


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
