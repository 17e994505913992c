"""Virtual PEMBRO-RT trial (SYNTHETIC data) written in the cohort format.

covariates -> biology (latent state, raw files) -> outcomes (potential outcomes, censoring)
-> trial (assemble and write). See docs/virtual-trial.md.
"""

from cohorts.simulate.outcomes import SCENARIOS
from cohorts.simulate.trial import SimulatedTrial, simulate_trial, write_trial

__all__ = ["SCENARIOS", "SimulatedTrial", "simulate_trial", "write_trial"]
