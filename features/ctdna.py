"""Circulating tumour DNA features: baseline burden and early on-treatment change."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.specs import FeatureSpec, spec

# Molecular response: >= 50% fall in ctDNA VAF from baseline to the early on-treatment sample,
# the cut-off associated with response and longer PFS on pembrolizumab in NSCLC (Ricciuti et al.,
# J Immunother Cancer 2021;9:e001504; Anagnostou et al., Cancer Res 2019;79:1214).
MOLECULAR_RESPONSE_FALL = 0.5

RICCIUTI = "Ricciuti et al., J Immunother Cancer 2021; Anagnostou et al., Cancer Res 2019"
SPECS: list[FeatureSpec] = [
    spec("ctdna_max_vaf_baseline", "ctdna", "fraction", "ctdna.csv (docs/cohort-format.md)",
         "Maximum variant allele fraction before treatment."),
    spec("ctdna_vaf_change", "ctdna", "relative change", RICCIUTI,
         "(on-treatment max VAF - baseline) / baseline; NaN when baseline VAF is 0.",
         "on_treatment"),
    spec("ctdna_molecular_response", "ctdna", "0/1", RICCIUTI,
         "1 if max VAF fell by >= 50% from baseline to on treatment.", "on_treatment"),
]
NAMES = [s.name for s in SPECS]


def ctdna_features(ctdna: pd.DataFrame) -> pd.DataFrame:
    wide = ctdna.pivot(index="patient_id", columns="timepoint", values="max_vaf")
    wide = wide.reindex(columns=["baseline", "on_treatment"]).astype(float)
    wide.index = wide.index.astype(str)
    base, post = wide["baseline"], wide["on_treatment"]
    change = ((post - base) / base.where(base > 0)).astype(float)
    out = pd.DataFrame(index=pd.Index(wide.index, name="patient_id"))
    out["ctdna_max_vaf_baseline"] = base
    out["ctdna_vaf_change"] = change
    out["ctdna_molecular_response"] = (change <= -MOLECULAR_RESPONSE_FALL).astype(float).where(
        change.notna()
    )
    return out[NAMES].astype(float).replace([np.inf, -np.inf], np.nan)
