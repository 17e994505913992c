"""The documented rule from (RMST gain, its interval, probability of benefit) to a recommendation.

Rule (thresholds are parameters; defaults justified below):
- ``add_rt``    when P(benefit) >= ``p_add`` (0.9) AND the 12-month RMST gain estimate >= ``mcid``;
- ``ici_alone`` when P(benefit) <= ``p_none`` (0.5) OR the interval's upper bound < ``mcid``
  (the data are at least as compatible with harm/no gain as with gain, or even the optimistic end
  of the interval is below what matters);
- ``uncertain`` otherwise (a likely but unproven or small gain: the decision belongs to the
  clinician and patient, or to a trial).
Why these defaults: RT adds visits, cost and toxicity, so it should be recommended only when gain
is both probable (0.9 matches the one-sided level of the default 90% interval) and large enough to
matter. ``mcid`` = 1.0 month of PFS gained within 12 months is OUR CHOICE, not a published
threshold: it is about one fifth of the 4.7-month median-PFS difference seen in PEMBRO-RT
(1.9 vs 6.6 months; Theelen et al., JAMA Oncol 2019). P(benefit) here is the share of bootstrap
ensemble members with a positive gain, a frequentist stability measure, not a Bayesian posterior.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RECOMMENDATIONS = ("add_rt", "ici_alone", "uncertain")


@dataclass(frozen=True)
class RecommendationRule:
    """Thresholds of the rule; ``mcid`` in months of 12-month RMST gain."""

    mcid: float = 1.0
    p_add: float = 0.9
    p_none: float = 0.5

    def __post_init__(self):
        if not 0.0 <= self.p_none < self.p_add <= 1.0:
            raise ValueError(f"need 0 <= p_none < p_add <= 1; got {self.p_none}, {self.p_add}")


def recommend(
    rmst_gain: np.ndarray,
    rmst_gain_upper: np.ndarray,
    probability_of_benefit: np.ndarray,
    rule: RecommendationRule | None = None,
) -> np.ndarray:
    """One of RECOMMENDATIONS per patient (object array)."""
    rule = rule or RecommendationRule()
    gain = np.asarray(rmst_gain, dtype=float)
    upper = np.asarray(rmst_gain_upper, dtype=float)
    p = np.asarray(probability_of_benefit, dtype=float)
    out = np.full(gain.shape, "uncertain", dtype=object)
    out[(p <= rule.p_none) | (upper < rule.mcid)] = "ici_alone"
    out[(p >= rule.p_add) & (gain >= rule.mcid)] = "add_rt"
    return out
