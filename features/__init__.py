"""Feature pipeline: clinical, biomarker, immune-signature, TCR and ctDNA features per patient.

One code path for training and serving: ``raw_inputs_from_cohort`` (files) or
``raw_inputs_from_records`` (JSON) -> ``build_features`` -> ``FeatureSet``; ``write_features`` /
``read_features`` store it with a manifest. Every feature is documented in docs/features.md.
"""

from features.build import (
    FEATURE_NAMES,
    FEATURE_SPECS,
    FeatureSet,
    FeatureWarning,
    build_features,
)
from features.manifest import (
    PIPELINE_VERSION,
    FeatureEntry,
    FeatureManifest,
    baseline_feature_names,
    manifest_path,
    read_features,
    write_features,
)
from features.raw import RawInputs, RecordError, raw_inputs_from_cohort, raw_inputs_from_records
from features.specs import FeatureSpec

__all__ = [
    "FEATURE_NAMES",
    "FEATURE_SPECS",
    "PIPELINE_VERSION",
    "FeatureEntry",
    "FeatureManifest",
    "FeatureSet",
    "FeatureSpec",
    "FeatureWarning",
    "RawInputs",
    "RecordError",
    "baseline_feature_names",
    "build_features",
    "manifest_path",
    "raw_inputs_from_cohort",
    "raw_inputs_from_records",
    "read_features",
    "write_features",
]
