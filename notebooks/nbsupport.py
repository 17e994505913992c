"""Glue shared by the evaluation notebooks (and nothing else): which MLflow store and model to use,
per-patient predictions with the truth of a virtual trial, the few figures that exist only in the
notebooks, and the HTTP server as a subprocess.

Every statistic and model call comes from the project's packages (cohorts, training, models);
this module only wires them together. The notebooks run with this folder as working directory.
"""

from __future__ import annotations

import atexit
import os
import tempfile
from pathlib import Path

import common  # noqa: F401  (first: the offline defaults, common.OFFLINE_ENV, before mlflow)

# isort: split
import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd

from common.settings import get_settings
from models.base import ESTIMANDS
from serving.process import ServerProcess
from training.loading import LoadedModel, ModelNotFoundError, load_model

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no bars in cells

SYNTHETIC = "SYNTHETIC"
ESTIMAND_UNITS = {"pfs_gain_6mo": "PFS probability at 6 months",
                  "pfs_gain_12mo": "PFS probability at 12 months",
                  "rmst_gain_12mo": "months of 12-month restricted mean PFS"}


# --- which store, which model ------------------------------------------------------------------

def use_tracking_store(uri: str | None) -> str:
    """Point abscopal and MLflow at ``uri`` (None: the project's default, ./mlflow.db after
    ``make run`` or $MLFLOW_TRACKING_URI); returns the store in use."""
    from training.tracking import configure

    if uri:
        os.environ["MLFLOW_TRACKING_URI"] = os.environ["ABSCOPAL_TRACKING_URI"] = uri
    get_settings.cache_clear()
    configure()
    return get_settings().tracking_uri


def champion_or_small_model(
    model_uri: str | None, tracking_uri: str | None, *, patients: int, seed: int,
    n_bootstrap: int = 10, work_dir: Path | None = None,
) -> LoadedModel:
    """``model_uri`` if given, else the champion of the store; without one, train a small model.

    The small model is trained by ``training.job.train`` on a fresh SYNTHETIC virtual trial into a
    temporary MLflow store (the user's store is never written to implicitly), so the notebooks
    run on a fresh clone with nothing set up.
    """
    store = use_tracking_store(tracking_uri)
    if model_uri:
        return load_model(model_uri)
    try:
        loaded = load_model(None)
        print(f"using the champion {loaded.uri} (version {loaded.version}) from {store}")
        return loaded
    except ModelNotFoundError:
        pass
    from cohorts.simulate import write_trial
    from training.job import TrainConfig, train

    work_dir = Path(work_dir or tempfile.mkdtemp(prefix="abscopal-notebook-"))
    work_dir.mkdir(parents=True, exist_ok=True)  # a new store only in an existing directory
    store = use_tracking_store(f"sqlite:///{work_dir / 'mlflow.db'}")
    print(f"no champion found: training a small model on {patients} SYNTHETIC patients "
          f"into the temporary store {store}")
    cohort = write_trial(work_dir / "training_trial", n_patients=patients, seed=seed)
    result = train(TrainConfig(cohort=cohort, learner="risk", folds=3,
                               n_bootstrap=n_bootstrap, seed=seed))
    print(f"trained run {result.run_id}, registered version {result.version}")
    return load_model(None)


def log_figure(run_id: str | None, fig: plt.Figure, name: str) -> str | None:
    """Log a figure the notebook shows to the training run of the model it is about."""
    if not run_id:
        return None
    path = f"notebooks/{name}.png"
    mlflow.MlflowClient().log_figure(run_id, fig, path)
    return path


# --- per-patient predictions ---------------------------------------------------------------------

def predictions(loaded: LoadedModel, cohort_path, **read) -> tuple[object, pd.DataFrame,
                                                                    pd.DataFrame]:
    """(trial, X, table): the cohort read as ``abscopal evaluate`` reads it (``read``: column
    mapping and time unit), the model's features, and PREDICTION_COLUMNS per patient."""
    from training.bundle import NO_CURVES
    from training.data import read_trial

    bundle = loaded.bundle
    trial = read_trial(cohort_path, endpoint=bundle.training.get("endpoint", "pfs"), **read)
    X = trial.available.reindex(columns=bundle.feature_names)
    return trial, X, bundle.predict(X, times=NO_CURVES).to_frame()


def read_truth(cohort_dir) -> pd.DataFrame:
    """truth.csv of a virtual trial (SYNTHETIC: only simulated cohorts know the true gain)."""
    from cohorts.io import TRUTH_FILE

    truth = pd.read_csv(Path(cohort_dir) / TRUTH_FILE, dtype={"patient_id": str})
    return truth.set_index("patient_id")


def true_column(truth: pd.DataFrame, estimand: str) -> str:
    """The conditional truth E[gain | inputs] (what a model estimates and its interval must
    cover); the individual true gain for truth.csv files written before it existed."""
    return f"cond_{estimand}" if f"cond_{estimand}" in truth.columns else f"true_{estimand}"


def interval_coverage(table: pd.DataFrame, truth: pd.DataFrame, level: float) -> pd.DataFrame:
    """Share of patients whose true (conditional) gain lies inside the model's interval."""
    truth = truth.reindex(table.index)
    rows = []
    for k in ESTIMANDS:
        true = truth[true_column(truth, k)].to_numpy()
        lo, hi = table[f"{k}_lower"].to_numpy(), table[f"{k}_upper"].to_numpy()
        rows.append({"estimand": k, "unit": ESTIMAND_UNITS[k], "nominal": level,
                     "coverage": float(np.mean((lo <= true) & (true <= hi))),
                     "mean_interval_width": float(np.mean(hi - lo)),
                     "n": len(true)})
    return pd.DataFrame(rows)


def driver_importance(loaded: LoadedModel, X: pd.DataFrame) -> pd.DataFrame:
    """Per feature: mean |contribution| to the predicted 12-month RMST gain, and the Spearman
    correlation of the feature's value with its contribution (> 0: higher values raise the
    predicted benefit). From the bundle's own per-patient drivers (TreeSHAP on its surrogate)."""
    drivers = loaded.bundle.drivers(X, top_k=X.shape[1])
    frame = pd.DataFrame([d for patient in drivers for d in patient],
                         columns=["feature", "value", "contribution_months"])
    rows = {}
    for feature, d in frame.groupby("feature"):
        known = d.dropna(subset=["value"])
        varies = known["value"].nunique() > 1 and known["contribution_months"].nunique() > 1
        rows[feature] = {
            "mean_abs_contribution_months": d["contribution_months"].abs().sum() / len(X),
            "value_vs_contribution_spearman": (
                known["value"].corr(known["contribution_months"], method="spearman")
                if varies else np.nan),
            "n_patients": len(d),
        }
    out = pd.DataFrame.from_dict(rows, orient="index")
    if out.empty:
        return out
    return out.sort_values("mean_abs_contribution_months", ascending=False)


# --- figures only the notebooks show ------------------------------------------------------------

def predicted_vs_true_figure(
    table: pd.DataFrame, truth: pd.DataFrame, estimand: str = "rmst_gain_12mo", title: str = ""
) -> plt.Figure:
    """Predicted against true gain with each patient's interval; red where the interval misses."""
    true = truth.reindex(table.index)[true_column(truth, estimand)].to_numpy()
    est = table[estimand].to_numpy()
    lo, hi = table[f"{estimand}_lower"].to_numpy(), table[f"{estimand}_upper"].to_numpy()
    covered = (lo <= true) & (true <= hi)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for mask, colour, label in ((covered, "#4C72B0", "true gain inside the interval"),
                                (~covered, "#C44E52", "true gain outside the interval")):
        ax.errorbar(true[mask], est[mask], yerr=[est[mask] - lo[mask], hi[mask] - est[mask]],
                    fmt="o", ms=3, lw=0.6, alpha=0.6, color=colour,
                    label=f"{label} ({mask.mean():.0%})")
    span = [min(true.min(), lo.min()), max(true.max(), hi.max())]
    ax.plot(span, span, ls="--", c="grey", lw=1, label="predicted = true")
    ax.set_xlabel(f"true gain ({ESTIMAND_UNITS[estimand]})")
    ax.set_ylabel(f"predicted gain ({ESTIMAND_UNITS[estimand]})")
    ax.set_title(title or f"Predicted vs true {estimand}")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


def drivers_figure(importance: pd.DataFrame, top: int = 15, title: str = "") -> plt.Figure:
    """Mean |contribution| of the top features to the predicted gain, coloured by direction.
    A model that serves the average effect has no drivers: the figure says so."""
    top_rows = importance.head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(top_rows) + 1.5))
    if top_rows.empty:
        ax.text(0.5, 0.5, "no drivers: the model serves the trial's average effect",
                ha="center", va="center")
        ax.set_axis_off()
        ax.set_title(title or "Features driving predicted benefit")
        return fig
    rho = top_rows["value_vs_contribution_spearman"].fillna(0)
    colours = np.where(rho > 0, "#DD8452", "#4C72B0")
    ax.barh(top_rows.index, top_rows["mean_abs_contribution_months"], color=colours)
    ax.set_xlabel("mean |contribution| to predicted 12-month RMST gain (months)\n"
                  "orange: higher values raise predicted benefit; blue: lower it")
    ax.set_title(title or "Features driving predicted benefit")
    fig.tight_layout()
    return fig


def patient_curves_figure(prediction: dict, title: str = "") -> plt.Figure:
    """One patient's PFS under both arms (from ``POST /predict``) and the interval on the gain."""
    from training.plots import ARM_COLOURS, ARM_LABELS

    surv, benefit = prediction["survival"], prediction["benefit"]
    months = np.asarray(surv["months"])
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [2, 1]})
    ax.step(months, surv["ici"], where="post", color=ARM_COLOURS[0], label=ARM_LABELS[0])
    ax.step(months, surv["rt_ici"], where="post", color=ARM_COLOURS[1], label=ARM_LABELS[1])
    for horizon, key in ((6, "pfs_gain_6mo"), (12, "pfs_gain_12mo")):
        g = benefit[key]
        s0 = float(np.interp(horizon, months, surv["ici"]))
        ax.errorbar([horizon], [s0 + g["estimate"]],
                    yerr=[[g["estimate"] - g["lower"]], [g["upper"] - g["estimate"]]],
                    fmt="none", ecolor="black", capsize=4, lw=1.2)
    ax.plot([], [], c="black", label="interval on the gain, added to PFS on ICI alone")
    ax.set_xlabel("months")
    ax.set_ylabel("predicted progression-free survival")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7)
    names = list(ESTIMAND_UNITS)
    est = [benefit[k]["estimate"] for k in names]
    err = [[benefit[k]["estimate"] - benefit[k]["lower"] for k in names],
           [benefit[k]["upper"] - benefit[k]["estimate"] for k in names]]
    scale = [1.0 if k.startswith("pfs") else 1 / 12 for k in names]  # RMST as share of 12 months
    bx.errorbar([e * s for e, s in zip(est, scale, strict=True)], range(len(names)),
                xerr=np.asarray(err) * np.asarray(scale), fmt="o", capsize=4, c="black")
    bx.axvline(0, c="grey", lw=0.8)
    bx.set_yticks(range(len(names)), ["6-mo PFS gain", "12-mo PFS gain", "RMST gain / 12 mo"])
    bx.set_xlabel("gain from adding RT (90% interval)")
    fig.suptitle(title or f"Patient {prediction['patient_id']}")
    fig.tight_layout()
    return fig


# --- the HTTP server as a subprocess -------------------------------------------------------------

def Server(model_uri: str, tracking_uri: str, log_path: Path) -> ServerProcess:
    """``abscopal serve`` on a free loopback port, for this notebook only (no API token);
    stopped by ``stop()`` and at interpreter exit."""
    server = ServerProcess.abscopal(log_path, model_uri=model_uri, tracking_uri=tracking_uri,
                                    env={"ABSCOPAL_API_TOKEN": None})
    atexit.register(server.stop)
    return server


def request_records(trial, n: int) -> list[dict]:
    """The first ``n`` patients of a simulated trial as ``POST /predict`` records: baseline
    fields of clinical.csv, tumour expression {gene: TPM} and somatic mutations (raw inputs)."""
    from cohorts.schema import BASELINE_COLUMNS

    clinical = trial.clinical.head(n)
    records = []
    for row in clinical.to_dict(orient="records"):
        pid = row["patient_id"]
        record = {"patient_id": pid}
        for column in BASELINE_COLUMNS:
            value = row.get(column)
            if value is not None and not pd.isna(value):
                record[column] = value.item() if hasattr(value, "item") else value
        record["expression"] = {g: float(v) for g, v in
                                trial.expression.set_index("gene")[pid].items()}
        calls = trial.mutations[trial.mutations["Tumor_Sample_Barcode"] == pid]
        record["mutations"] = [{"gene": g, "variant_classification": c} for g, c in
                               zip(calls["Hugo_Symbol"], calls["Variant_Classification"],
                                   strict=True)]
        records.append(record)
    return records
