"""Which modality each patient's files leave out: missing at random, never on the outcome.

Real trials miss data for reasons the record shows: no biopsy fit for RNA (frail patients, bone-
only disease), no research blood draw, no PD-L1 stain, too little tissue left for sequencing.
Each modality's missingness depends only on observed baseline covariates (ECOG, age, prior lines,
histology) and on other modalities' missingness (an exhausted biopsy loses RNA and DNA together),
never on hidden biology or outcomes, so it is ignorable (MAR) and the conditional truth needs no
model of it. Shares are ASSUMPTIONS in the range reported by translational sub-studies (Huang et
al., Nat Cancer 2025: 72 of 76 PEMBRO-RT patients with any sample, fewer with each assay).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit, logit

# Target shares of patients missing each modality, per profile (`missing` scenario: "high").
PROFILES = {
    "published": {"expression": 0.35, "tcr": 0.35, "pdl1": 0.15, "maf": 0.08},
    "high": {"expression": 0.55, "tcr": 0.55, "pdl1": 0.15, "maf": 0.50},
}
# Log-odds shifts by observed covariate (ASSUMPTIONS; directions: frail and older patients are
# biopsied and sampled less; squamous / other histology less often stained for PD-L1 in older
# series; no RNA biopsy makes a failed sequencing more likely). Each covariate is centred at its
# approximate trial share so the overall share stays near the target.
SHIFTS = {
    "expression": {"ecog2": 0.8, "age75": 0.4, "prior2": 0.3},
    "tcr": {"ecog2": 0.6, "age75": 0.3},
    "pdl1": {"non_adeno": 0.5},
    "maf": {"no_expression": 1.2},
}
SHARES = {"ecog2": 0.115, "age75": 0.17, "prior2": 0.35, "non_adeno": 0.29}


def missing_masks(rng: np.random.Generator, baseline: pd.DataFrame,
                  profile: str = "published") -> pd.DataFrame:
    """Boolean frame (True = missing): expression, tcr, pdl1, maf."""
    n = len(baseline)
    x = {
        "ecog2": (baseline["ecog"].to_numpy() >= 2).astype(float),
        "age75": (baseline["age"].to_numpy() >= 75).astype(float),
        "prior2": (baseline["prior_lines"].to_numpy() >= 2).astype(float),
        "non_adeno": (baseline["histology"].to_numpy() != "adenocarcinoma").astype(float),
    }
    target = PROFILES[profile]
    out = {}
    for modality in ("expression", "tcr", "pdl1", "maf"):
        lp = np.full(n, logit(target[modality]))
        for name, beta in SHIFTS[modality].items():
            if name == "no_expression":
                share = target["expression"]
                lp += beta * (out["expression"] - share)
            else:
                lp += beta * (x[name] - SHARES[name])
        out[modality] = rng.random(n) < expit(lp)
    return pd.DataFrame(out)
