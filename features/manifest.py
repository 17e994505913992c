"""features.parquet + features.json: the feature table and the manifest training reads."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, Field

import common
from common.atomic import atomic_path
from features.build import FeatureSet
from features.specs import FeatureSpec

# Bump when any feature definition changes: a model trained on other features must not be served.
PIPELINE_VERSION = "1"


class FeatureEntry(FeatureSpec):
    coverage: float = Field(ge=0, le=1, description="Share of patients with a value.")


class FeatureManifest(BaseModel):
    pipeline_version: str = PIPELINE_VERSION
    abscopal_version: str = common.__version__
    created_at: str
    cohort_name: str
    synthetic: bool = Field(description="True for simulated data; carried into models and APIs.")
    n_patients: int
    panel_size_mb: float | None = None
    features: list[FeatureEntry]
    input_sha256: dict[str, str] = Field(default_factory=dict)
    parquet_sha256: str
    warnings: list[str] = Field(default_factory=list)
    report: dict = Field(default_factory=dict)

    def feature(self, name: str) -> FeatureEntry:
        return next(f for f in self.features if f.name == name)


def manifest_path(out_path: str | Path) -> Path:
    """``features.parquet`` -> ``features.json`` (same folder, same stem)."""
    return Path(out_path).with_suffix(".json")


def sha256_of(path: str | Path) -> str:
    """File digest; a directory (tcr/) hashes its files' relative paths and contents in order."""
    path = Path(path)
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode() + b"\0")
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def write_features(
    feature_set: FeatureSet,
    out_path: str | Path,
    *,
    cohort_name: str,
    synthetic: bool,
    input_files: dict[str, str | Path] | None = None,
    panel_size_mb: float | None = None,
) -> FeatureManifest:
    """Write the parquet and its manifest, each atomically (a failure leaves neither half-done)."""
    out_path = Path(out_path)
    with atomic_path(out_path) as tmp:
        feature_set.frame.to_parquet(tmp, index=True)
        parquet_sha = sha256_of(tmp)
        coverage = feature_set.coverage()
        manifest = FeatureManifest(
            created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            cohort_name=cohort_name,
            synthetic=synthetic,
            n_patients=len(feature_set.frame),
            panel_size_mb=panel_size_mb,
            features=[
                FeatureEntry(**s.model_dump(), coverage=coverage[s.name]) for s in feature_set.specs
            ],
            input_sha256={k: sha256_of(v) for k, v in sorted((input_files or {}).items())},
            parquet_sha256=parquet_sha,
            warnings=feature_set.warnings,
            report=feature_set.report,
        )
        with atomic_path(manifest_path(out_path)) as tmp_json:
            tmp_json.write_text(manifest.model_dump_json(indent=2) + "\n")
    return manifest


def read_features(path: str | Path) -> tuple[pd.DataFrame, FeatureManifest]:
    """Read a feature parquet and its manifest, checking that they belong together."""
    path = Path(path)
    mpath = manifest_path(path)
    if not mpath.exists():
        raise FileNotFoundError(f"{mpath}: manifest missing beside {path}")
    manifest = FeatureManifest.model_validate(json.loads(mpath.read_text()))
    if manifest.pipeline_version != PIPELINE_VERSION:
        raise ValueError(
            f"{mpath}: built by feature pipeline version {manifest.pipeline_version}, this code is "
            f"version {PIPELINE_VERSION}: rebuild it with `abscopal features`")
    if sha256_of(path) != manifest.parquet_sha256:
        raise ValueError(f"{path}: does not match {mpath} (parquet sha256 differs)")
    frame = pd.read_parquet(path)
    names = [f.name for f in manifest.features]
    if list(frame.columns) != names:
        raise ValueError(f"{path}: columns differ from the features listed in {mpath}")
    return frame, manifest


def baseline_feature_names(manifest: FeatureManifest) -> list[str]:
    """Features measured before treatment: the only ones the benefit model may use."""
    return [f.name for f in manifest.features if f.timepoint == "baseline"]
