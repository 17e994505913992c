"""The ``abscopal features`` job: cohort in, features.parquet + features.json out."""

from __future__ import annotations

import warnings
from pathlib import Path

from cohorts.io import read_cohort
from features.build import FeatureWarning, build_features
from features.manifest import FeatureManifest, write_features
from features.raw import raw_inputs_from_cohort


def features_for_cohort(
    cohort_path: str | Path, out_path: str | Path, *, scheduler: str | None = None, client=None
) -> FeatureManifest:
    """Build and write the features of a cohort directory or clinical-only CSV.

    ``scheduler`` is a dask.distributed scheduler address (or pass a ``client``): MAF and
    repertoires are then read as dask DataFrames and expression is scored in chunks of patients.
    """
    cohort_path = Path(cohort_path)
    cohort = read_cohort(cohort_path, endpoint=None)  # features need no arm or outcomes
    own_client = None
    if scheduler is not None and client is None:
        from dask.distributed import Client

        client = own_client = Client(scheduler)
    try:
        raw = raw_inputs_from_cohort(cohort, lazy=client is not None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FeatureWarning)  # kept in the manifest instead
            feature_set = build_features(raw, client=client)
    finally:
        if own_client is not None:
            own_client.close()
    inputs = dict(raw.input_files)
    if cohort.root is None:
        inputs[cohort_path.name] = cohort_path
    return write_features(
        feature_set, out_path, cohort_name=cohort.meta.name, synthetic=cohort.meta.synthetic,
        input_files=inputs, panel_size_mb=raw.panel_size_mb,
    )



def feature_frame_for_cohort(cohort_path: str | Path):
    """The feature table ``features_for_cohort`` writes, in memory (index patient_id); the
    pipeline's notes (e.g. too few signature genes) are issued as FeatureWarning."""
    cohort = read_cohort(Path(cohort_path), endpoint=None)
    return build_features(raw_inputs_from_cohort(cohort)).frame
