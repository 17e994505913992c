"""No leakage: only baseline features may enter a benefit model.

The feature manifest (features/) marks each feature ``baseline`` or ``on_treatment``. On-treatment
features (TCR expansion, ctDNA change) are measured after randomisation, so they are partly caused
by the treatment and would bias any estimate of its effect.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def check_baseline_features(feature_names: Iterable[str], timepoints: Mapping[str, str]) -> None:
    """Raise ValueError naming every feature that is not a known ``baseline`` feature.

    ``timepoints`` maps feature name -> ``"baseline"`` or ``"on_treatment"`` (the manifest).
    A feature absent from the manifest is refused too: nothing vouches that it is baseline.
    """
    names = list(feature_names)
    on_treatment = [f for f in names if timepoints.get(f) == "on_treatment"]
    unknown = [f for f in names if f not in timepoints]
    other = [
        f"{f} ({timepoints[f]!r})"
        for f in names
        if f in timepoints and timepoints[f] not in ("baseline", "on_treatment")
    ]
    problems = []
    if on_treatment:
        problems.append(
            "on_treatment features may not enter a benefit model (measured after randomisation): "
            + ", ".join(on_treatment)
        )
    if unknown:
        problems.append("features not in the feature manifest: " + ", ".join(unknown))
    if other:
        problems.append(
            "features with a timepoint other than baseline/on_treatment: " + ", ".join(other)
        )
    if problems:
        raise ValueError("; ".join(problems))
