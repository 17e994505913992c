"""Real ICI-treated patients as (Y, X, groups) for the prognosis model, through the shared pipeline.

Everything here runs before an MLflow run starts, so a bad cohort never leaves a run behind.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cohorts.public_ici import read_ici_cohort
from models.prognosis import PROGNOSIS_FEATURES
from training.data import MONTHS_PER_UNIT, TrainingDataError, column_mapping

ENDPOINTS = ("pfs", "os")
MIN_EVENTS = 20


@dataclass
class PrognosisData:
    X: pd.DataFrame  # pipeline features (index patient_id), all of them
    outcomes: dict[str, pd.DataFrame]  # endpoint -> time (months), event; NaN where unrecorded
    groups: pd.Series  # cohort of each patient (index patient_id)
    name: str
    synthetic: bool = False

    @property
    def n(self) -> int:
        return len(self.X)

    def Y(self, endpoint: str) -> pd.DataFrame:
        """Patients with the ``endpoint`` outcome recorded."""
        y = self.outcomes[endpoint]
        return y[y["time"].notna() & y["event"].notna()]

    def summary(self, endpoint: str) -> dict:
        """What the model card says about the training data."""
        y = self.Y(endpoint)
        X = self.X.reindex(columns=PROGNOSIS_FEATURES).loc[y.index]
        by_group = {
            str(g): {"n": len(idx), "events": int(y.loc[idx, "event"].sum())}
            for g, idx in y.groupby(self.groups.loc[y.index]).groups.items()
        }
        return {
            "cohort": self.name, "synthetic": self.synthetic, "endpoint": endpoint,
            "n": len(y), "events": int(y["event"].sum()),
            "n_without_outcome": int(self.n - len(y)), "groups": by_group,
            "missing_share": {c: round(float(X[c].isna().mean()), 4) for c in X.columns},
        }

    def record_hashes(self, endpoint: str, index=None) -> list[str]:
        """One short sha256 per patient record (id, time, event), as training.data does."""
        y = self.Y(endpoint) if index is None else self.Y(endpoint).loc[index]
        return sorted(
            hashlib.sha256(f"{pid}|{float(t)!r}|{int(e)}".encode()).hexdigest()[:20]
            for pid, t, e in zip(y.index.astype(str), y["time"], y["event"], strict=True))

    def fingerprint(self) -> str:
        frame = pd.concat([self.X.reindex(columns=PROGNOSIS_FEATURES), self.groups,
                           *[o.add_prefix(f"{k}_") for k, o in self.outcomes.items()]], axis=1)
        return hashlib.sha256(
            pd.util.hash_pandas_object(frame, index=True).values.tobytes()).hexdigest()


def load_prognosis_data(
    cohort: str | Path,
    *,
    time_col: str | None = None,
    event_col: str | None = None,
    id_col: str | None = None,
    group_col: str | None = None,
    time_unit: str = "months",
    endpoint: str = "pfs",
) -> PrognosisData:
    """Read ICI-alone patients (cohort format or the LORIS compilation) and build their features
    with the same function the server uses."""
    import features as feature_pipeline
    from features.raw import RawInputs

    if endpoint not in ENDPOINTS:
        raise TrainingDataError(f"--endpoint must be one of {ENDPOINTS}; got {endpoint!r}")
    if time_unit not in MONTHS_PER_UNIT:
        raise TrainingDataError(f"--time-unit must be one of {sorted(MONTHS_PER_UNIT)}")
    rename = column_mapping(endpoint, None, time_col, event_col, id_col)
    clinical, groups, name = read_ici_cohort(cohort, rename=rename, endpoint=endpoint,
                                             group_col=group_col)
    built = feature_pipeline.build_features(RawInputs(clinical=clinical))
    X = built.frame
    index = X.index
    outcomes = {}
    for ep in ENDPOINTS:
        if f"{ep}_months" in clinical.columns and f"{ep}_event" in clinical.columns:
            outcomes[ep] = pd.DataFrame({
                "time": clinical[f"{ep}_months"].to_numpy(float) * MONTHS_PER_UNIT[time_unit],
                "event": clinical[f"{ep}_event"].to_numpy(float)}, index=index)
    data = PrognosisData(X=X, outcomes=outcomes, groups=pd.Series(groups.to_numpy(), index=index,
                                                                  name="group"), name=name)
    events = int(data.Y(endpoint)["event"].sum())
    if events < MIN_EVENTS:
        raise TrainingDataError(f"{cohort}: {events} {endpoint} events; a prognosis model needs "
                                f"at least {MIN_EVENTS}")
    absent = [f for f in PROGNOSIS_FEATURES if f not in X.columns or X[f].isna().all()]
    if len(absent) == len(PROGNOSIS_FEATURES):
        raise TrainingDataError(f"{cohort} has none of the prognosis inputs "
                                f"({', '.join(PROGNOSIS_FEATURES)})")
    return data


def probable_duplicates(held_out: pd.DataFrame, training: pd.DataFrame) -> np.ndarray:
    """Rows of ``training`` that are probably patients of ``held_out`` reported by another cohort.

    The MSK cohorts of the compilation share patients without a shared id. Two rows are taken as
    the same patient when sex, TMB and albumin agree (to 0.05) and ages differ by less than a
    year (ages are rounded differently by cohort). Leave-one-cohort-out drops them from training.
    """
    cols = ["sex_male", "tmb", "albumin", "age"]
    a = held_out.reindex(columns=cols).to_numpy(float)
    b = training.reindex(columns=cols).to_numpy(float)
    same = (np.abs(b[:, None, :3] - a[None, :, :3]) < 0.05).all(axis=2)
    same &= np.abs(b[:, None, 3] - a[None, :, 3]) < 1.0
    return same.any(axis=1)
