"""The largest legal ``POST /predict`` body: what the request limits are sized to.

``ABSCOPAL_MAX_REQUEST_BYTES`` and ``ABSCOPAL_MAX_REQUEST_VALUES`` (common/settings.py) must
admit it; tests/serving/test_sizing.py checks that they do, so the limits cannot drift below it.
"""

from __future__ import annotations

import orjson

from cohorts.schema import (
    CATEGORICAL_BASELINE,
    INTEGER_BASELINE,
    MUTATION_FLAGS,
    NUMERIC_BASELINE,
)
from features.signatures import needed_genes

MUTATION_CALLS = 100  # per patient: a large panel's calls, or an exome's driver genes
_LONGEST_NUMBER = 0.12345678901234567  # 17 significant digits: the longest float JSON needs


def largest_legal_patient(i: int) -> dict:
    """One patient with every baseline field at its longest, the expression of every gene a
    feature reads, and MUTATION_CALLS mutation calls."""
    return {
        "patient_id": f"{i:0128d}",  # the schema's longest id
        **{name: hi if name in INTEGER_BASELINE else lo + _LONGEST_NUMBER
           for name, (lo, hi) in NUMERIC_BASELINE.items()},
        **{name: max(values, key=len) for name, values in CATEGORICAL_BASELINE.items()},
        **{name: 1 for name in MUTATION_FLAGS},
        "expression": {gene: 1000 + _LONGEST_NUMBER for gene in needed_genes()},
        "mutations": [{"gene": "SMARCA4", "variant_classification": "Translation_Start_Site"}]
        * MUTATION_CALLS,
    }


def largest_legal_request(patients: int = 1000) -> bytes:
    return orjson.dumps({"patients": [largest_legal_patient(i) for i in range(patients)],
                         "curve_bands": True})
