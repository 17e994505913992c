"""The copula constants are a faithful fit of the real cohort; generated covariates match it."""

from __future__ import annotations

import numpy as np
import pytest

from cohorts.simulate.covariates import PUBLIC_ICI_FIT, fit_copula, sample_covariates


def test_constants_agree_with_a_refit(public_ici_path):
    refit = fit_copula(public_ici_path)
    for name, table in PUBLIC_ICI_FIT.quantiles.items():
        np.testing.assert_allclose(table, refit.quantiles[name], atol=1e-3, err_msg=name)
    np.testing.assert_allclose(PUBLIC_ICI_FIT.correlation, refit.correlation, atol=2e-3)
    for name in ("pdl1_low_quantiles", "pdl1_high_quantiles"):
        np.testing.assert_allclose(getattr(PUBLIC_ICI_FIT, name), getattr(refit, name), atol=1e-3)
    for name in ("pdl1_zero_share", "pdl1_high_share_of_positive", "male_share",
                 "ever_smoker_share", "non_adeno_share", "squamous_share_of_non_adeno",
                 "prior_therapy_share"):
        assert getattr(PUBLIC_ICI_FIT, name) == pytest.approx(getattr(refit, name), abs=1e-3)
    np.testing.assert_allclose(PUBLIC_ICI_FIT.ecog_probs, refit.ecog_probs, atol=1e-3)


def test_correlation_is_a_valid_correlation_matrix():
    c = np.array(PUBLIC_ICI_FIT.correlation)
    np.testing.assert_allclose(c, c.T)
    np.testing.assert_allclose(np.diag(c), 1.0)
    assert np.linalg.eigvalsh(c).min() > 0


def test_smoking_raises_tmb_and_egfr_goes_with_never_smokers():
    b, _ = sample_covariates(np.random.default_rng(3), 20000)
    by_smoking = b.groupby(b["smoking_status"] == "never")["tmb"].median()
    assert by_smoking[False] > 1.5 * by_smoking[True]
    assert b.loc[b["egfr_mut"] == 1, "smoking_status"].eq("never").mean() > 0.4
    assert b.loc[b["egfr_mut"] == 1, "tmb"].median() < b["tmb"].median()
    assert not ((b["egfr_mut"] == 1) & (b["kras_mut"] == 1)).any()
    # published prevalences (Shire et al. 2020): STK11 13.6%, KRAS+STK11 6.5%
    assert b["stk11_mut"].mean() == pytest.approx(0.136, abs=0.012)
    assert (b["stk11_mut"] * b["kras_mut"]).mean() == pytest.approx(0.065, abs=0.01)

