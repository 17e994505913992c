"""Accuracy of the conditional truth E[gain | inputs] that model intervals must cover.

Three checks, each able to fail: the quadrature against a much finer one; the importance sampler
against the quadrature when a readout is hidden (the tower property: hiding PD-L1 must not move
the average, and what it moves cannot be predicted from what is still observed); and the
individual gains scattering around the conditional ones with no pattern in the inputs.
"""

from __future__ import annotations

import numpy as np
import pytest

from cohorts.simulate import conditional, outcomes, simulate_trial
from cohorts.simulate.calibration import holdout_r2, observed_inputs
from cohorts.simulate.conditional import Observed
from cohorts.simulate.latent import Readouts

GAINS = ("pfs_gain_6mo", "pfs_gain_12mo", "rmst_gain_12mo")


@pytest.fixture(scope="module")
def trial():
    return simulate_trial(4000, seed=31)


@pytest.fixture(scope="module")
def observed(trial) -> Observed:
    return trial.observed


def test_quadrature_matches_a_much_finer_one(observed):
    complete = np.flatnonzero(np.isfinite(observed.readouts.s_p)
                              & (observed.readouts.tmb_count >= 0))[:150]
    scenario = outcomes.SCENARIOS["published"]
    coarse = conditional.complete_readouts(observed, complete, scenario)
    fine = conditional.complete_readouts(observed, complete, scenario, nodes=(16, 40),
                                         curve_nodes=(12, 32), r_nodes=24)
    assert np.abs(coarse["rmst_gain_12mo"] - fine["rmst_gain_12mo"]).max() < 0.005  # months
    for g in ("pfs_gain_6mo", "pfs_gain_12mo"):
        assert np.abs(coarse[g] - fine[g]).max() < 0.003
    for arm in ("ici", "rt_ici"):
        diff = np.abs(coarse[f"curve_{arm}"] - fine[f"curve_{arm}"])
        assert diff.max() < 0.015 and diff.mean() < 0.001


def test_hiding_pdl1_keeps_the_average_and_moves_nothing_predictable(trial, observed):
    complete = np.flatnonzero(np.isfinite(observed.readouts.s_p)
                              & (observed.readouts.tmb_count >= 0))[:1200]
    scenario = outcomes.SCENARIOS["published"]
    full = conditional.complete_readouts(observed, complete, scenario)
    r = observed.readouts
    hidden_s_p = r.s_p.copy()
    hidden_s_p[complete] = np.nan
    copula = dict(observed.copula, pdl1_tps=np.where(np.isin(np.arange(len(r.s_p)), complete),
                                                     np.nan, observed.copula["pdl1_tps"]))
    hidden = Observed(readouts=Readouts(**{**r.__dict__, "s_p": hidden_s_p}),
                      b_hat=observed.b_hat, b_hat_var=observed.b_hat_var, mu=observed.mu,
                      harmed=observed.harmed, copula=copula)
    less = conditional.masked_readouts(hidden, complete, scenario, np.random.default_rng(3))
    for g in GAINS:
        diff = full[g] - less[g]
        se = np.sqrt(diff.var() / len(diff) + (less[f"mc_se_{g}"] ** 2).mean() / len(diff))
        assert abs(diff.mean()) < 4 * se, g
    # E[full - less | less-informed inputs] = 0: no learner finds a pattern in the difference
    x = observed_inputs(trial.clinical.iloc[complete].assign(pdl1_tps=np.nan))
    assert holdout_r2(x, full["rmst_gain_12mo"] - less["rmst_gain_12mo"]) < 0.05
    assert np.median(less["ess"]) > 100  # importance weights are not degenerate


def test_individual_gain_scatters_around_the_conditional_without_pattern(trial):
    t = trial.truth
    x = observed_inputs(trial.clinical, trial.expression, trial.mutations)
    for g in ("rmst_gain_12mo", "pfs_gain_6mo"):
        resid = (t[f"true_{g}"] - t[f"cond_{g}"]).to_numpy()
        for group in (t["cond_exact"] == 1, t["cond_exact"] == 0):
            r = resid[group.to_numpy()]
            assert abs(r.mean()) < 4 * r.std() / np.sqrt(len(r)), g
        assert holdout_r2(x, resid) < 0.03, g
