# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · Evaluating a benefit model
#
# Loads the registered `champion` of `rt-benefit` (after `make run`, from `./mlflow.db`), or
# any MLflow model URI given as `model_uri`. With no champion anywhere, a small model is
# trained on a SYNTHETIC virtual trial into a temporary MLflow store, so this notebook runs
# on a fresh clone.
#
# The model is then judged on two cohorts:
# 1. a **fresh SYNTHETIC virtual trial** (other patients than the training ones) whose
#    `truth.csv` holds every simulated patient's true gain: calibration of benefit, Qini,
#    Kaplan-Meier by predicted-benefit tertile, C-for-benefit, predicted vs true gain,
#    coverage of the 90% intervals, and the features that drive the predicted benefit;
# 2. **ACTG 320** (Hammer et al., NEJM 1997), a real randomised trial (HIV, not lung cancer:
#    indinavir added to two nucleosides) with a published average effect, HR 0.50
#    (0.33-0.76). Its patients have none of the NSCLC features, so a benefit model is trained
#    on ACTG 320 with `training.job.train` and the column mapping, and judged on its
#    held-out quarter.
#
# Every figure shown here about a model is also logged to that model's MLflow run under
# `notebooks/`.

# %% tags=["parameters"]
# Parameters (papermill)
model_uri = None  # any MLflow model URI; None: the champion of the tracking store
tracking_uri = None  # None: $MLFLOW_TRACKING_URI or ./mlflow.db (make run)
patients = 1000  # size of the fresh SYNTHETIC virtual trial to evaluate on
seed = 7  # its seed: not make run's training seed (2025), so the patients are new
train_patients = 400  # only without a champion: the small model's training trial
n_bootstrap = 10  # only without a champion: bootstrap members of the small model
actg_bootstrap = 20  # bootstrap members of the ACTG 320 model

# %%
import tempfile
from pathlib import Path

import nbsupport  # notebook glue beside this file; statistics: the project
import pandas as pd

pd.set_option("display.width", 140)
work = Path(tempfile.mkdtemp(prefix="abscopal-nb-"))

# %%
from training import plots
from training.scoring import evaluate_cohort

loaded = nbsupport.champion_or_small_model(
    model_uri, tracking_uri, patients=train_patients, seed=seed + 1000,
    n_bootstrap=n_bootstrap, work_dir=work / "model",
)
bundle = loaded.bundle
run_id = loaded.run_id
trained_on = (f"{'SYNTHETIC ' if bundle.synthetic else ''}"
              f"{bundle.training.get('cohort')}")
pd.Series({"model": loaded.uri, "name": loaded.name, "version": loaded.version,
           "run": run_id, "trained on": trained_on,
           "learner": bundle.training.get("learner"),
           "features": len(bundle.feature_names), "interval": f"{1 - bundle.alpha:.0%}"})

# %% [markdown]
# ## 1 · A fresh virtual trial (SYNTHETIC)
#
# `training.scoring.evaluate_cohort` is what `abscopal evaluate` runs: the metrics below are
# the command's. Because this cohort is simulated, it also reports truth-based metrics
# against the *conditional* true gain E[gain | inputs] (`cond_*` in `truth.csv`: what a
# model can estimate; the individual gain also depends on biology no input carries):
# PEHE (root mean squared error) and Spearman correlation of the predicted 6-month and
# 12-month RMST gains, AUROC for true benefiters, and the regret of "RT if predicted gain
# > 0".

# %%
from cohorts.simulate import write_trial

trial_dir = write_trial(work / "evaluation_trial", n_patients=patients, seed=seed)
metrics = evaluate_cohort(loaded.uri, trial_dir)
calibration, qini = metrics["calibration_of_benefit"], metrics["qini"]
label = f"fresh SYNTHETIC virtual trial, n={metrics['n']}"
print("effect served:", bundle.gate_note() or "individual (heterogeneity shown on the "
      "hold-out); the metrics below judge the model's own predicted gains")
if bundle.heterogeneity_report is not None:  # the gate's slope, and whether it beats the average
    from models.heterogeneity import HeterogeneityTest

    print(HeterogeneityTest.from_dict(bundle.heterogeneity_report).summary())
pd.Series({
    "C-for-benefit (12-month RMST gain)": metrics["c_for_benefit"],
    "Harrell C, ICI alone arm": metrics["harrell_c_ici"],
    "Harrell C, RT then ICI arm": metrics["harrell_c_rt_ici"],
    "calibration slope (1 = perfect)": calibration["slope"],
    "calibration intercept (0 = perfect)": calibration["intercept"],
    "Qini coefficient": qini["qini_coefficient"],
    "observed HR (RT vs ICI)": metrics["average_effect"]["hazard_ratio"],
    **{f"share recommended {r}": s
       for r, s in metrics.get("recommendations", {}).items()},
    **{f"truth: {k}": v for k, v in metrics["truth"].items()},
}, name=label).round(3).to_frame()

# %% [markdown]
# ### Survival curves per arm: calibration and accuracy
#
# The learner's curves under each arm, on that arm's patients (randomisation makes them a
# sample of all): mean predicted S(6) and S(12) against the arm's Kaplan-Meier with its 95%
# interval, the calibration slope at 12 months (1 = well spread), IPCW Brier scores at 6 and
# 12 months and integrated over 0.5-12 months, and Uno's C of the predicted 12-month RMST
# (`models.evaluation`; `abscopal evaluate` writes the same numbers).

# %%
rows = {}
for arm in ("ici", "rt_ici"):
    row = {}
    for h in ("6mo", "12mo"):
        c = metrics["survival_calibration"][f"{arm}_{h}"]
        row[f"mean predicted S({h})"] = c["mean_predicted"]
        row[f"KM S({h}) [95% CI]"] = (f"{c['kaplan_meier']:.3f} "
                                      f"[{c['km_lower']:.3f}, {c['km_upper']:.3f}]")
    row.update(metrics["survival_accuracy"][arm])
    rows[arm] = row
pd.DataFrame(rows).T.round(3)

# %% [markdown]
# ### Calibration of benefit and Qini
#
# Patients are grouped by predicted 6-month PFS gain; each group's observed gain is the
# Kaplan-Meier difference between its arms. The Qini curve shows the extra progression-free
# patients at 6 months when only the top fraction by predicted gain get RT.

# %%
figures = {}
figures["evaluation_calibration_of_benefit"] = plots.calibration_figure(
    calibration, title=f"Calibration of benefit: {label}")
figures["evaluation_qini"] = plots.qini_figure(qini, title=f"Uplift (Qini): {label}")

# %% [markdown]
# ### Kaplan-Meier by predicted-benefit tertile and arm
#
# If the model ranks patients well, the arms separate most in the highest tertile.

# %%
trial, X, table = nbsupport.predictions(loaded, trial_dir)
figures["evaluation_km_by_predicted_benefit"] = plots.km_by_benefit_figure(
    trial.Y["time"], trial.Y["event"], trial.T, table["rmst_gain_12mo"],
    title=f"PFS by predicted 12-month RMST gain: {label}")
print(f"C-for-benefit: {metrics['c_for_benefit']:.3f} "
      "(0.5: no better than chance at ranking who benefits; van Klaveren 2018)")

# %% [markdown]
# ### Predicted vs true gain, and interval coverage
#
# Only a simulation knows each patient's true gain (`truth.csv`). A patient is covered when
# the conditional true gain E[gain | inputs] lies inside the model's 90% bootstrap interval
# (the individual gain is not what an interval from the inputs can promise to cover).
# Bootstrap intervals describe the model's estimation uncertainty, not the model's
# misspecification, so coverage well below 90% means the model is confidently wrong for some
# patients.

# %%
truth = nbsupport.read_truth(trial_dir)
coverage = nbsupport.interval_coverage(table, truth, level=1 - bundle.alpha)
for estimand in ("pfs_gain_6mo", "rmst_gain_12mo"):
    fig = nbsupport.predicted_vs_true_figure(
        table, truth, estimand, title=f"Predicted vs true {estimand}: {label}")
    figures[f"evaluation_predicted_vs_true_{estimand}"] = fig
coverage.round(3)

# %% [markdown]
# ### Which features drive the predicted benefit
#
# The bundle's drivers (the same ones `POST /predict` returns per patient): TreeSHAP
# contributions of a boosted surrogate of the predicted 12-month RMST gain, averaged over
# the patients. The surrogate's fidelity (R² on the training cohort) says how far to trust
# them.

# %%
importance = nbsupport.driver_importance(loaded, X)
r2 = bundle.surrogate_r2_
figures["evaluation_drivers"] = nbsupport.drivers_figure(
    importance, title=f"Drivers of predicted benefit (surrogate R² {r2:.2f}): {label}")
importance.head(15).round(3)

# %%
for name, fig in figures.items():
    nbsupport.log_figure(run_id, fig, name)
print(f"logged {len(figures)} figures to run {run_id}")

# %% [markdown]
# ## 2 · ACTG 320 (real trial data)
#
# 1,151 patients randomised to indinavir + two nucleosides (`tx = 1`) vs two nucleosides;
# endpoint AIDS-defining event or death, time in days (scikit-survival's `load_aids`, a
# development dependency). The model uses three baseline features, CD4 count, Karnofsky
# score and months of prior zidovudine, through `--id-col/--arm-col/--time-col/--event-col`
# and `--time-unit days`, exactly as `abscopal train` would. It is judged on the held-out
# quarter that training set aside (`training.split.holdout_split`), never on its own
# training patients. Few events (96 in all) make these figures noisy.
#
# Its run goes to the same MLflow store, experiment `actg320`, unregistered: it never
# touches the `rt-benefit` champion.

# %%
from sksurv.datasets import load_aids

from training.data import load_training_data
from training.job import TrainConfig, train
from training.loading import load_model
from training.split import holdout_split

aids_X, aids_y = load_aids()
actg = pd.DataFrame({
    "id": [f"A{i}" for i in range(len(aids_X))], "tx": aids_X["tx"].astype(int),
    "time": aids_y["time"], "censor": aids_y["censor"].astype(int),
    "cd4": aids_X["cd4"], "karnof": aids_X["karnof"].astype(float),
    "priorzdv": aids_X["priorzdv"],
})
actg_csv = work / "actg320.csv"
actg.to_csv(actg_csv, index=False)
mapping = {"id_col": "id", "arm_col": "tx", "time_col": "time", "event_col": "censor",
           "time_unit": "days"}
config = TrainConfig(cohort=actg_csv, features=["cd4", "karnof", "priorzdv"],
                     learner="risk", n_bootstrap=actg_bootstrap, seed=seed,
                     experiment="actg320", register=False, **mapping)
actg_result = train(config)
actg_uri = f"runs:/{actg_result.run_id}/model"
ate = actg_result.metrics["average_effect"]
print(f"ACTG 320 average effect: HR {ate['hazard_ratio']:.2f} "
      f"({ate['hazard_ratio_lower']:.2f}-{ate['hazard_ratio_upper']:.2f}); "
      "published 0.50 (0.33-0.76), Hammer et al. 1997")

# %%
data = load_training_data(actg_csv, features=config.features, **mapping)
_, held_out = holdout_split(data, config.holdout_fraction, config.seed)
holdout_csv = work / "actg320_holdout.csv"
actg[actg["id"].isin(data.T.index[held_out])].to_csv(holdout_csv, index=False)
actg_metrics = evaluate_cohort(actg_uri, holdout_csv, **mapping)
actg_loaded = load_model(actg_uri)
actg_trial, actg_X, actg_table = nbsupport.predictions(actg_loaded, holdout_csv, **mapping)
actg_label = f"ACTG 320 held-out patients (real data), n={actg_metrics['n']}"
pd.Series({
    "events (control / indinavir)":
        f"{actg_metrics['events_per_arm']['ici']} / "
        f"{actg_metrics['events_per_arm']['rt_ici']}",
    "C-for-benefit": round(actg_metrics["c_for_benefit"], 3),
    "calibration slope": round(actg_metrics["calibration_of_benefit"]["slope"], 3),
    "Qini coefficient": round(actg_metrics["qini"]["qini_coefficient"], 4),
}, name=actg_label).to_frame()

# %% [markdown]
# The figures reuse the NSCLC vocabulary of the project: "ICI alone" is the control arm
# and "RT then ICI" the indinavir arm; "progression-free" means free of AIDS and alive.

# %%
actg_figures = {
    "actg320_calibration_of_benefit": plots.calibration_figure(
        actg_metrics["calibration_of_benefit"], title=f"Calibration: {actg_label}"),
    "actg320_qini": plots.qini_figure(actg_metrics["qini"], title=f"Qini: {actg_label}"),
    "actg320_km_by_predicted_benefit": plots.km_by_benefit_figure(
        actg_trial.Y["time"], actg_trial.Y["event"], actg_trial.T,
        actg_table["rmst_gain_12mo"], title=f"By predicted benefit: {actg_label}"),
    "actg320_drivers": nbsupport.drivers_figure(
        nbsupport.driver_importance(actg_loaded, actg_X),
        title=f"Drivers of predicted benefit: {actg_label}"),
}
for name, fig in actg_figures.items():
    nbsupport.log_figure(actg_result.run_id, fig, name)

# %% [markdown]
# ## What was logged
#
# Each figure above now sits in its model's MLflow run (open `mlflow ui` on the store).

# %%
import mlflow

client = mlflow.MlflowClient()
for rid, names in ((run_id, figures), (actg_result.run_id, actg_figures)):
    logged = {a.path for a in client.list_artifacts(rid, "notebooks")}
    assert {f"notebooks/{n}.png" for n in names} <= logged, (rid, logged)
    print(rid, sorted(logged))
