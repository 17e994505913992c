"""build_features: the one function that turns RawInputs into the feature frame, for training and
serving alike, on one machine or (given a Dask client or dask inputs) across a cluster."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features import clinical, ctdna, signatures, tcr
from features.mutations import empty_summary, mutation_summary
from features.raw import RawInputs
from features.specs import FeatureSpec

FEATURE_SPECS: list[FeatureSpec] = [
    *clinical.SPECS, *signatures.SPECS, *tcr.SPECS, *ctdna.SPECS,
]
FEATURE_NAMES = [s.name for s in FEATURE_SPECS]
SPECS_BY_NAME = {s.name: s for s in FEATURE_SPECS}


LOCAL_CHUNK_ROWS = 2_000_000  # above this many rows, per-patient work runs in patient chunks


class FeatureWarning(UserWarning):
    """Input that produced NaN features or was ignored (e.g. too few signature genes)."""


@dataclass
class FeatureSet:
    """``frame``: patients x features (float, NaN = missing); ``specs``: one per column."""

    frame: pd.DataFrame
    specs: list[FeatureSpec]
    warnings: list[str] = field(default_factory=list)
    report: dict = field(default_factory=dict)

    def coverage(self) -> dict[str, float]:
        """Share of patients with a value, per feature."""
        return {c: float(v) for c, v in self.frame.notna().mean().items()}


def _is_dask(frame) -> bool:
    return frame is not None and type(frame).__module__.startswith("dask")


def build_features(raw: RawInputs, *, client=None, chunk_patients: int = 1000) -> FeatureSet:
    """Feature frame for every patient of ``raw.clinical`` (index patient_id, in clinical order).

    With a ``dask.distributed.Client`` (or dask DataFrames in ``raw``) the MAF and repertoires are
    processed as dask DataFrames shuffled by patient and the expression matrix in chunks of
    ``chunk_patients`` patients; each partition goes through the same pandas functions as below.
    """
    columns = clinical.ClinicalColumns(raw.clinical)
    patients = columns.patient_index()
    distributed = client is not None or _is_dask(raw.mutations) or _is_dask(raw.tcr)
    report = dict(raw.report)
    notes: list[str] = []

    summary = None
    if raw.mutations is not None:
        summary = _per_patient(raw.mutations, mutation_summary, "Tumor_Sample_Barcode",
                               distributed, client, chunk_patients, empty_summary)
        if raw.sequenced_patients is not None:  # sequenced without calls: zero mutations
            extra = pd.Index(raw.sequenced_patients).difference(summary.index)
            zeros = pd.DataFrame(0.0, index=extra, columns=summary.columns)
            summary = pd.concat([summary, zeros]) if len(extra) else summary
        if raw.panel_size_mb is None:
            notes.append("no panel_size_mb: TMB taken from the clinical tmb column, not the MAF")
    parts = [(clinical.NAMES, clinical.clinical_values(columns, patients, summary,
                                                        raw.panel_size_mb))]
    unmatched = {}
    if summary is not None:
        unmatched["mutations"] = summary.index.difference(patients)

    if raw.expression is not None:
        scores = _signatures(raw.expression, distributed, client, chunk_patients)
        unmatched["expression"] = scores.index.difference(patients)
        scores = scores.reindex(patients)
        parts.append(_block(scores))
        notes += _too_few_genes(scores, raw.expression.columns.astype(str))
    if raw.tcr is not None:
        feats = _per_patient(raw.tcr, tcr.tcr_features, "patient_id", distributed, client,
                             chunk_patients, lambda: tcr.tcr_features(_empty_like(raw.tcr)))
        unmatched["tcr"] = feats.index.difference(patients)
        parts.append(_block(feats.reindex(patients)))
    if raw.ctdna is not None:
        ctdna_feats = ctdna.ctdna_features(raw.ctdna)
        unmatched["ctdna"] = ctdna_feats.index.difference(patients)
        parts.append(_block(ctdna_feats.reindex(patients)))

    for modality, ids in unmatched.items():
        if len(ids):
            report.setdefault("patients_not_in_clinical", {})[modality] = len(ids)
            notes.append(f"{modality}: {len(ids)} patient(s) not in the clinical table were "
                         f"ignored (e.g. {ids[0]!r})")
    frame = _assemble(parts, patients)
    for note in notes:
        warnings.warn(note, FeatureWarning, stacklevel=2)
    if report.get("unknown_genes"):
        notes.append(f"{report['unknown_genes']} expression gene symbols are not used by any "
                     "signature (reported, not fatal)")
    return FeatureSet(frame=frame, specs=list(FEATURE_SPECS), warnings=notes, report=report)


_FEATURE_POSITION = {name: i for i, name in enumerate(FEATURE_NAMES)}
_FEATURE_INDEX = pd.Index(FEATURE_NAMES)  # built once; each frame gets its own copy


def _block(part: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    """A feature frame as the (column names, float values) pair _assemble takes."""
    return list(part.columns), part.to_numpy(dtype=float)


def _assemble(parts: list[tuple[list[str], np.ndarray]], patients: pd.Index) -> pd.DataFrame:
    """The parts (column names and values, each aligned row by row with ``patients``) as one
    float frame in FEATURE_NAMES order; features of absent modalities stay NaN. One numpy fill
    instead of concatenating NaN-filled frames: this runs per served request, where pandas
    overhead dominated.
    """
    values = np.full((len(patients), len(FEATURE_NAMES)), np.nan)
    for names, block in parts:
        keep = [j for j, name in enumerate(names) if name in _FEATURE_POSITION]
        target = [_FEATURE_POSITION[names[j]] for j in keep]
        values[:, target] = block if len(keep) == len(names) else block[:, keep]
    return pd.DataFrame(values, index=patients, columns=_FEATURE_INDEX.copy())


def _too_few_genes(scores: pd.DataFrame, with_expression: pd.Index) -> list[str]:
    measured = scores.index.isin(with_expression)
    missing = scores[measured].isna().sum()
    return [
        f"{name}: NaN for {int(n)} patient(s) with expression, fewer than "
        f"{signatures.MIN_GENE_FRACTION:.0%} of its genes measured"
        for name, n in missing.items() if n
    ]


def _empty_like(frame) -> pd.DataFrame:
    return frame._meta if _is_dask(frame) else frame.iloc[:0]


def _per_patient(frame, func, key, distributed, client, chunk_patients, meta) -> pd.DataFrame:
    # ``meta`` is a callable giving the empty result frame (only the Dask path needs it).
    """Apply a per-patient pandas function, locally or over dask partitions shuffled by patient.

    Locally, inputs larger than one chunk go through ``func`` ``chunk_patients`` patients at a
    time, which bounds the working memory (40 M repertoire rows would otherwise need ~5 GB of
    intermediate arrays) without changing any result: every feature is per patient.
    """
    if not distributed:
        if len(frame) <= LOCAL_CHUNK_ROWS:
            return func(frame)
        codes, _ = pd.factorize(frame[key])
        group = (codes // chunk_patients).astype(np.int32)
        del codes
        return pd.concat([func(frame[group == g]) for g in range(int(group.max()) + 1)])
    import dask.dataframe as dd

    if not _is_dask(frame):
        n_patients = frame[key].nunique()
        frame = dd.from_pandas(frame, npartitions=max(1, math.ceil(len(frame) / 1_000_000)))
    else:
        n_patients = None
    nparts = max(1, math.ceil((n_patients or frame.npartitions * chunk_patients) / chunk_patients))
    shuffled = frame.shuffle(on=key, npartitions=nparts)
    result = shuffled.map_partitions(func, meta=meta())
    return _compute(result, client)


def _compute(collection, client):
    if client is not None:
        return client.compute(collection).result()
    return collection.compute()


def _signatures(expression: pd.DataFrame, distributed, client, chunk_patients) -> pd.DataFrame:
    if not distributed:
        return signatures.signature_scores(expression)
    import dask

    expression = expression[expression.index.isin(set(signatures.needed_genes()))]
    chunks = [
        dask.delayed(signatures.signature_scores)(expression.iloc[:, i:i + chunk_patients])
        for i in range(0, expression.shape[1], chunk_patients)
    ]
    combined = dask.delayed(pd.concat)(chunks)
    return _compute(combined, client)
