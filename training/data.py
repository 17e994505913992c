"""Turn any randomised two-arm cohort into (Y, T, X) for a benefit learner, refusing bad data early.

Everything here runs before an MLflow run starts, so a bad cohort never leaves a run behind.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cohorts import Cohort, CohortFormatError, read_cohort
from cohorts.errors import Problem
from cohorts.schema import KNOWN_COLUMNS, OUTCOME_COLUMNS

MONTHS_PER_UNIT = {"days": 1 / 30.4375, "weeks": 7 / 30.4375, "months": 1.0}
# Default feature selection: a feature some patients have is kept when at least this share have a
# value. The learners route missing values themselves, and omics missing at random still carry
# the effect modifiers where present: at 0.5, the `missing` virtual trial (MAF and RNA absent for
# half the patients) lost TMB, every driver and every signature, and the DR-learner's worst-decile
# coverage fell to 0.50 (0.70 at 0.2; docs/benchmarks.md, "Sparse omics are kept").
MIN_COVERAGE = 0.2
MIN_PATIENTS_PER_ARM = 10
MIN_EVENTS_PER_ARM = 5
MAX_TIME_MONTHS = 1200.0  # 100 years: a longer follow-up is a unit or data-entry error
NOT_FEATURES = {"arm", *OUTCOME_COLUMNS}


class TrainingDataError(ValueError):
    """The cohort cannot train a benefit model; the message says why and what to change."""


@dataclass
class TrainingData:
    Y: pd.DataFrame  # columns time (months), event; index patient_id
    T: pd.Series  # 0 = ICI alone, 1 = RT then ICI
    X: pd.DataFrame  # baseline features only
    feature_info: dict[str, dict]  # name -> unit, group, timepoint, source
    cohort_name: str
    synthetic: bool
    endpoint: str = "pfs"
    panel_size_mb: float | None = None
    dropped_features: dict[str, str] = field(default_factory=dict)
    # Every feature the cohort offers (pipeline + numeric clinical columns), so another model
    # (the champion) can be scored on the same patients with its own feature list.
    available: pd.DataFrame | None = None

    @property
    def n(self) -> int:
        return len(self.T)

    def fingerprint(self) -> dict:
        """Hash and counts that identify the exact training data of a run."""
        frame = pd.concat([self.Y, self.T.rename("arm"), self.X], axis=1)
        digest = hashlib.sha256(pd.util.hash_pandas_object(frame, index=True).values.tobytes())
        digest.update(",".join(frame.columns).encode())
        out = {"sha256": digest.hexdigest(), "n": self.n, "n_features": self.X.shape[1]}
        for arm, name in ((0, "ici"), (1, "rt_ici")):
            mask = self.T.values == arm
            out[f"n_{name}"] = int(mask.sum())
            out[f"events_{name}"] = int(self.Y["event"].values[mask].sum())
        return out

    def record_hashes(self) -> list[str]:
        """One short sha256 per patient record (id, arm, time, event): what "this patient was in
        that model's training set" is checked with, without storing patient ids. The outcome is
        part of the record, so another trial that reuses the same ids does not collide."""
        return sorted(self.record_hashes_in_order())

    def record_hashes_in_order(self) -> list[str]:
        """``record_hashes`` in row order."""
        rows = zip(self.Y.index.astype(str), self.T.to_numpy(), self.Y["time"].to_numpy(),
                   self.Y["event"].to_numpy(), strict=True)
        return [hashlib.sha256(f"{pid}|{int(a)}|{float(t)!r}|{int(e)}".encode()).hexdigest()[:20]
                for pid, a, t, e in rows]

    def subset(self, index: np.ndarray) -> TrainingData:
        return TrainingData(
            Y=self.Y.iloc[index], T=self.T.iloc[index], X=self.X.iloc[index],
            feature_info=self.feature_info, cohort_name=self.cohort_name,
            synthetic=self.synthetic, endpoint=self.endpoint, panel_size_mb=self.panel_size_mb,
            dropped_features=self.dropped_features,
            available=None if self.available is None else self.available.iloc[index],
        )


def column_mapping(
    endpoint: str,
    arm_col: str | None,
    time_col: str | None,
    event_col: str | None,
    id_col: str | None = None,
) -> dict[str, str]:
    """Map a foreign trial's column names onto the cohort format's."""
    wanted = {
        id_col: "patient_id", arm_col: "arm", time_col: f"{endpoint}_months",
        event_col: f"{endpoint}_event",
    }
    return {src: dst for src, dst in wanted.items() if src and src != dst}


def clinical_inputs(features: list[str]) -> list[str] | None:
    """The clinical columns ``features`` are computed from (a trial's own columns used as given
    are their own input): the columns of a user's file that are validated; its other format
    columns are carried unread. None (validate all) when the prognosis model's risk is among
    them: that model reads every clinical field."""
    from features.clinical import feature_inputs
    from training.prognosis_bundle import PROGNOSIS_FEATURE

    if PROGNOSIS_FEATURE in features:
        return None
    inputs = {i for name in features for i in feature_inputs(name) if i in KNOWN_COLUMNS}
    return sorted(inputs | set(features))


@dataclass
class Trial:
    """A randomised cohort read and featurised by the shared pipeline, before feature selection."""

    Y: pd.DataFrame
    T: pd.Series
    pipeline: pd.DataFrame  # features.build_features output, index patient_id
    clinical: pd.DataFrame  # validated clinical table, index patient_id
    info: dict[str, dict]  # feature name -> unit, group, timepoint, source
    cohort: Cohort

    @property
    def available(self) -> pd.DataFrame:
        return _available(self.pipeline, self.clinical)


def read_trial(
    cohort_path: str | Path,
    *,
    arm_col: str | None = None,
    time_col: str | None = None,
    event_col: str | None = None,
    id_col: str | None = None,
    time_unit: str = "months",
    endpoint: str = "pfs",
    feature_table: str | Path | None = None,
    used: list[str] | None = None,
) -> Trial:
    """Read any randomised two-arm cohort and its features.

    Features come from ``feature_table`` (the parquet + manifest that ``abscopal features``
    wrote for this cohort) when given, else from the shared pipeline run now; both are the output
    of ``features.build_features``. ``used`` (the clinical inputs of the features a model reads,
    ``clinical_inputs``) limits validation to those columns; None validates every format column.
    """
    import features as feature_pipeline

    if time_unit not in MONTHS_PER_UNIT:
        raise TrainingDataError(f"--time-unit must be one of {sorted(MONTHS_PER_UNIT)}")
    rename = column_mapping(endpoint, arm_col, time_col, event_col, id_col)
    cohort = read_cohort(cohort_path, rename=rename, endpoint=endpoint, used=used)
    clinical = cohort.clinical.set_index("patient_id")
    if feature_table is not None:
        frame, specs = _read_feature_table(feature_table, cohort, clinical.index)
    else:
        built = feature_pipeline.build_features(feature_pipeline.raw_inputs_from_cohort(cohort))
        frame, specs = built.frame, built.specs
    info = {
        spec.name: {"unit": spec.unit, "group": spec.group, "timepoint": spec.timepoint,
                    "source": spec.source}
        for spec in specs
    }
    Y = pd.DataFrame(
        {
            "time": clinical[f"{endpoint}_months"].astype(float) * MONTHS_PER_UNIT[time_unit],
            "event": clinical[f"{endpoint}_event"].astype(int),
        }
    )
    T = clinical["arm"].astype(int)
    _check_outcomes(Y, T, cohort_path, time_col or f"{endpoint}_months", time_unit)
    return Trial(Y, T, frame.reindex(clinical.index), clinical, info, cohort)


def _read_feature_table(path, cohort: Cohort, patients: pd.Index):
    """A feature table, checked to be built from this cohort's current files."""
    import features as feature_pipeline
    from features.manifest import sha256_of

    frame, manifest = feature_pipeline.read_features(path)
    for name, digest in manifest.input_sha256.items():
        current = cohort.root / name if cohort.root is not None else None
        if current is not None and current.exists() and sha256_of(current) != digest:
            raise TrainingDataError(
                f"{path} was built from another version of {current}; rebuild it with "
                f"`abscopal features --cohort {cohort.root} --out {path}`"
            )
    missing = patients.difference(frame.index.astype(str))
    if len(missing):
        raise TrainingDataError(f"{path} lacks {len(missing)} patients, e.g. {list(missing[:5])}")
    frame.index = frame.index.astype(str)
    return frame, manifest.features


def load_training_data(
    cohort_path: str | Path, *, features: list[str] | None = None, endpoint: str = "pfs",
    allow_features: list[str] | None = None, **read
) -> TrainingData:
    """Read a cohort (``read``: column mapping and time unit) and select baseline features.

    Every selected feature is then tested against the outcome (models.guard): one that predicts
    it too well to be a baseline measurement is refused unless named in ``allow_features``.
    """
    from models import check_baseline_features

    used = clinical_inputs(features) if features else None
    trial = read_trial(cohort_path, endpoint=endpoint, used=used, **read)
    if features:
        X, info = _requested_features(
            features, trial.pipeline, trial.clinical, trial.info, check_baseline_features
        )
        dropped: dict[str, str] = {}
    else:
        X, dropped = _default_features(trial.pipeline, trial.info)
        info = trial.info
    info = _check_leakage(X, trial.Y, info, allow_features or [])
    meta = trial.cohort.meta
    return TrainingData(
        Y=trial.Y, T=trial.T, X=X.astype(float), feature_info={c: info[c] for c in X.columns},
        cohort_name=meta.name, synthetic=bool(meta.synthetic), endpoint=endpoint,
        panel_size_mb=meta.panel_size_mb, dropped_features=dropped, available=trial.available,
    )


def _check_leakage(X: pd.DataFrame, Y: pd.DataFrame, info: dict, allow: list[str]) -> dict:
    """Refuse features that are the outcome under another name; mark allowed ones in their info
    (the MLflow features.json and the model card show the override and its figures)."""
    from models.guard import OutcomeLeakError, check_outcome_leakage

    unknown = [n for n in allow if n not in X.columns]
    if unknown:
        raise TrainingDataError(f"--allow-feature: {unknown} are not among the selected "
                                f"features {list(X.columns)}")
    try:
        figures = check_outcome_leakage(X, Y["time"].to_numpy(float),
                                        Y["event"].to_numpy(float), allow=allow)
    except OutcomeLeakError as exc:
        raise TrainingDataError(f"leakage guard: {exc}") from exc
    info = dict(info)
    for name in allow:
        figure = {k: round(v, 4) for k, v in figures.get(name, {}).items() if k != "n"}
        info[name] = {**info[name], "leakage_check": {"allowed_by_user": True, **figure}}
    return info


def _check_outcomes(Y: pd.DataFrame, T: pd.Series, source, time_column: str = "time",
                    time_unit: str = "months") -> None:
    problems = []
    time = Y["time"].to_numpy(float)
    for what, bad in (
        ("a missing or non-positive time", np.isnan(time) | (time <= 0)),
        ("an infinite time", np.isinf(time)),
        (f"a time above {MAX_TIME_MONTHS:,.0f} months (100 years; wrong --time-unit or a data-"
         f"entry error?)", np.isfinite(time) & (time > MAX_TIME_MONTHS)),
    ):
        if bad.any():
            problems.append(f"{int(bad.sum())} patients have {what} in column {time_column!r}: "
                            + _rows(Y, bad, time_column, time_unit))
    arms = set(T.unique())
    if arms != {0, 1}:
        problems.append(f"a randomised two-arm cohort is needed; arms present: {sorted(arms)}")
    for arm, name in ((0, "ICI alone (arm 0)"), (1, "RT then ICI (arm 1)")):
        mask = T == arm
        if 0 < mask.sum() < MIN_PATIENTS_PER_ARM:
            problems.append(f"{name} has {int(mask.sum())} patients; at least "
                            f"{MIN_PATIENTS_PER_ARM} are needed")
        events = int(Y.loc[mask, "event"].sum())
        if mask.sum() and events < MIN_EVENTS_PER_ARM:
            problems.append(f"{name} has {events} events; at least {MIN_EVENTS_PER_ARM} are needed")
    if problems:
        raise TrainingDataError(f"{source}: cannot train a benefit model: " + "; ".join(problems))


def _rows(Y: pd.DataFrame, bad: np.ndarray, column: str, unit: str, shown: int = 5) -> str:
    """The first offending rows: data row number (1 = first patient), patient id and value."""
    rows = np.flatnonzero(bad)
    factor = MONTHS_PER_UNIT.get(unit, 1.0)
    out = ", ".join(f"row {i + 1} (patient {Y.index[i]}, {column}={Y['time'].iloc[i] / factor:g})"
                    for i in rows[:shown])
    return out + (f" and {len(rows) - shown} more" if len(rows) > shown else "")


def _requested_features(names, pipeline, clinical, info, check_baseline_features):
    outcomes = [n for n in names if n in NOT_FEATURES]
    if outcomes:
        raise TrainingDataError(f"--features: {outcomes} are outcomes or the arm, not features")
    unknown = [n for n in names if n not in pipeline.columns and n not in clinical.columns]
    if unknown:
        raise TrainingDataError(
            f"--features: unknown feature(s) {unknown}; available: "
            f"{sorted(set(pipeline.columns) | set(clinical.columns))}"
        )
    columns, info = {}, dict(info)
    for name in names:
        if name in pipeline.columns:
            columns[name] = pipeline[name]
            continue
        values = pd.to_numeric(clinical[name], errors="coerce")
        if values.notna().sum() < clinical[name].notna().sum():
            raise CohortFormatError(
                "clinical table", [Problem(name, "a feature given with --features must be numeric")]
            )
        columns[name] = values
        info[name] = {"unit": "as given", "group": "clinical (as given)", "timepoint": "baseline",
                      "source": "cohort clinical table"}
    check_baseline_features(list(columns), {n: info[n]["timepoint"] for n in columns})
    X = pd.DataFrame(columns)
    bad = {n: _degenerate(X[n]) for n in X.columns}
    bad = {n: why for n, why in bad.items() if why}
    if bad:
        raise TrainingDataError("--features: " + "; ".join(f"{n} is {w}" for n, w in bad.items()))
    return X, info


def _default_features(pipeline: pd.DataFrame, info: dict) -> tuple[pd.DataFrame, dict[str, str]]:
    """All baseline features with enough coverage and some variation."""
    keep, dropped = [], {}
    for name in pipeline.columns:
        if info[name]["timepoint"] != "baseline":
            dropped[name] = "on-treatment (refused by the benefit model)"
        elif why := _degenerate(pipeline[name]):
            dropped[name] = why
        elif pipeline[name].notna().mean() < MIN_COVERAGE:
            dropped[name] = f"coverage below {MIN_COVERAGE:.0%}"
        else:
            keep.append(name)
    if not keep:
        raise TrainingDataError("no usable baseline feature in this cohort: " + str(dropped))
    return pipeline[keep], dropped


def _degenerate(values: pd.Series) -> str | None:
    if values.notna().sum() == 0:
        return "all missing"
    if values.nunique(dropna=True) < 2:
        return "constant"
    return None


def _available(pipeline: pd.DataFrame, clinical: pd.DataFrame) -> pd.DataFrame:
    drop = [c for c in clinical.columns if c in pipeline.columns or c in NOT_FEATURES]
    numeric = clinical.drop(columns=drop)
    numeric = numeric.apply(pd.to_numeric, errors="coerce").dropna(axis=1, how="all")
    return pd.concat([pipeline, numeric], axis=1).astype(float)
