"""The documented rule from the sampling distribution of the 12-month RMST gain to a recommendation.

Rule (issue 11; thresholds are parameters, defaults justified below), with
P = P(gain >= ``mcid``) under the model's distribution of the gain (the bootstrap ensemble's
members today, the distribution whose interval coverage `benchmarks/benefit_bench.py` measures):
- ``add_rt``           when P >= ``level`` (0.9): a gain that matters is probable;
- ``no_added_benefit`` when 1 - P = P(gain < ``mcid``) >= ``level``: a gain that matters is
  improbable (the gain may still be positive, but smaller than what justifies RT);
- ``uncertain``        otherwise: the decision belongs to the clinician and patient, or a trial.
Why a rule on P(gain >= MCID) and not on P(gain > 0): in a trial where RT helps almost everyone a
little, P(gain > 0) is near 1 for nearly every patient and carries no information about whether
the gain is worth the visits, cost and toxicity of RT. ``level`` 0.9 is issue 11's threshold:
``add_rt`` when the 10th percentile of the gain's distribution reaches the MCID. The default
90% interval is two-sided (5th-95th percentiles), so a patient told ``add_rt`` can show a lower
bound a little below the MCID. ``mcid`` = 1.0 month of PFS gained within 12 months is OUR CHOICE
(a setting, ``ABSCOPAL_MCID_MONTHS``), not a published threshold: about one fifth of the
4.7-month median-PFS difference in PEMBRO-RT (1.9 vs 6.6 months; Theelen et al., JAMA Oncol 2019).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RECOMMENDATIONS = ("add_rt", "no_added_benefit", "uncertain")


@dataclass(frozen=True)
class RecommendationRule:
    """Thresholds of the rule; ``mcid`` in months of 12-month RMST gain."""

    mcid: float = 1.0
    level: float = 0.9

    def __post_init__(self):
        if not 0.5 < self.level <= 1.0:
            raise ValueError(f"level must be in (0.5, 1]; got {self.level}")
        if not np.isfinite(self.mcid) or self.mcid < 0:
            raise ValueError(f"mcid must be a finite number of months >= 0; got {self.mcid}")

    def probability(self, draws: np.ndarray) -> np.ndarray:
        """P(gain >= mcid) per patient from (n_draws, n_patients) draws of the RMST gain."""
        return (np.asarray(draws) >= self.mcid).mean(axis=0)


def recommend(probability: np.ndarray, rule: RecommendationRule | None = None) -> np.ndarray:
    """One of RECOMMENDATIONS per patient from P(gain >= mcid) (object array)."""
    rule = rule or RecommendationRule()
    p = np.asarray(probability, dtype=float)
    out = np.full(p.shape, "uncertain", dtype=object)
    out[1 - p >= rule.level] = "no_added_benefit"
    out[p >= rule.level] = "add_rt"
    return out
