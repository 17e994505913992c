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
# # 04 · Prognosis under ICI alone, on real patients
#
# **The patients in this notebook are REAL, not simulated.** It validates the ICI-alone
# prognosis model (`models.prognosis.PrognosisModel`: a small monotone-constrained xgboost
# Cox booster with a Breslow baseline over TMB, PD-L1, prior therapy, albumin, NLR, age, sex,
# ECOG and histology), the model `abscopal train-prognosis` registers as `ici-prognosis`.
# It predicts S(t | x) for progression-free (PFS) or overall survival (OS) under immune
# checkpoint inhibitors without radiation.
#
# **Data.** `../shared/data/public_ici/nsclc_ici_cohorts.csv` (beside the repository, never
# copied into it): 1,110 NSCLC patients treated with ICI, harmonised from the public
# compilation behind LORIS (Chang et al., Nature Cancer 2024), whose rows come from the
# papers' supplementary tables. Its cohorts (the data README lists them): Chowell_train and
# Chowell_test (Chowell et al., Nature Biotechnology 2022, MSK), MSK1 (an MSK ICI cohort of
# the compilation, MSK-IMPACT panel), Shim_NSCLC (Shim et al. 2020) and Vanguri_NSCLC
# (Vanguri et al., Nature Cancer 2022, MSK). Inputs are missing by cohort (PD-L1 for most MSK
# patients, ECOG and histology for all of Chowell's): the booster routes them down learned
# default branches, without imputation.
#
# **Validation.** Leave one cohort out (`training.prognosis_validation.leave_one_cohort_out`):
# each cohort in turn is held out, every method is fitted on the others and judged on the
# held-out patients, then all held-out predictions are pooled. The MSK cohorts share patients
# without a shared id, so the training rows that are probably patients of the held-out
# cohort (sex, TMB and albumin equal, ages within a year:
# `training.prognosis_data.probable_duplicates`) are removed from training before each fit.
# Chowell_train and Chowell_test are two halves of one study: holding out one of them is the
# least external of the five checks. Methods side by side:
#
# - `prognosis`: the boosted model above;
# - `cox`: a ridge-penalised Cox model on the same inputs (median imputation plus missing
#   indicators), the classical comparator;
# - `loris`: the published LORIS score (Chang et al. 2024), missing inputs filled with the
#   training patients' medians;
# - `tmb`: tumour mutational burden alone.
#
# Every statistic comes from `training.prognosis_validation` and
# `models.metrics.survival_accuracy`. **Without the data file** (a clone without
# `../shared/data`), the notebook says so and stops: every later cell is a no-op, nothing
# raises.

# %% tags=["parameters"]
# Parameters (papermill)
# the REAL LORIS-compilation CSV (or a cohort-format table with a group column), relative
# to notebooks/ (the working directory): ../shared/data beside the repository
data_path = "../../shared/data/public_ici/nsclc_ici_cohorts.csv"
n_boot = 200  # bootstrap resamples of each confidence interval
seed = 2025  # model seed and bootstrap seed (train-prognosis' default)

# %%
import tempfile
from pathlib import Path

import pandas as pd
from IPython.display import display

pd.set_option("display.width", 140)
work = Path(tempfile.mkdtemp(prefix="abscopal-nb-"))

# %%
import numpy as np

from training.prognosis_data import ENDPOINTS, load_prognosis_data
from training.prognosis_validation import METHODS, leave_one_cohort_out

path = Path(data_path).expanduser().resolve()
available = path.is_file()
if available:
    data = load_prognosis_data(path)
    endpoints = [ep for ep in ENDPOINTS if ep in data.outcomes]
    print(f"REAL patients: {data.n} from {data.name} ({path})")
    by_cohort = pd.DataFrame({
        f"{ep} {k}": {g: s[k] for g, s in data.summary(ep)["groups"].items()}
        for ep in endpoints for k in ("n", "events")
    })
    inputs = data.X.reindex(columns=["tmb", "pdl1_tps", "albumin", "nlr", "ecog"])
    missing = inputs.isna().groupby(data.groups).mean().add_prefix("missing ")
    display(by_cohort.join(missing.round(2)))
else:
    print(f"REAL data not found at {path} (expected: ../shared/data/public_ici beside the "
          "repository, or papermill -p data_path FILE). Nothing below runs: every later "
          "cell is a no-op.")

# %% [markdown]
# ## Leave-one-cohort-out: discrimination
#
# Per held-out cohort and pooled over all held-out patients: Harrell's C and Uno's C (IPCW,
# truncated at tau = min(24 months, the 90th percentile of follow-up)) with percentile
# bootstrap 95% intervals (`n_boot` resamples of patients), and the cumulative/dynamic AUC
# at 6 months. Higher risk = earlier progression or death; 0.5 is chance. The last columns
# count the training patients of each fit and the probable duplicates of the held-out
# cohort removed from them.

# %%
results = {}
if available:
    for ep in endpoints:
        results[ep] = leave_one_cohort_out(data, ep, n_boot=n_boot, seed=seed)


def with_ci(table, name):
    return [f"{e:.3f} ({lo:.3f}-{hi:.3f})" if np.isfinite(e) else "n/a"
            for e, lo, hi in table[[name, f"{name}_lower", f"{name}_upper"]].to_numpy()]


def c_table(pred, table):
    """One row per held-out cohort (and pooled), methods side by side."""
    t = table.assign(**{"Harrell C (95% CI)": with_ci(table, "harrell_c"),
                        "Uno C (95% CI)": with_ci(table, "uno_c"),
                        "AUC(6 mo)": table["auc_6mo"].round(3)})
    rows = list(dict.fromkeys(t["held_out"]))
    wide = t.pivot(index="held_out", columns="method",
                   values=["Harrell C (95% CI)", "Uno C (95% CI)", "AUC(6 mo)"])
    wide = wide.reindex(index=rows).reindex(columns=list(METHODS), level=1)
    first = t[t["method"] == METHODS[0]].set_index("held_out")
    wide[("patients", "n (events)")] = [f"{first.loc[g, 'n']} ({first.loc[g, 'events']})"
                                        for g in rows]
    fits = pred.groupby("held_out", sort=False).agg(held_out_n=("time", "size"),
                                                    n_training=("n_training", "first"))
    fits["removed"] = len(pred) - fits["held_out_n"] - fits["n_training"]
    wide[("training", "n")] = fits["n_training"].reindex(rows).astype("Int64")
    wide[("training", "probable duplicates removed")] = (
        fits["removed"].reindex(rows).astype("Int64"))
    return wide


for ep, (pred, table) in results.items():
    print(f"{ep.upper()}: leave-one-cohort-out on REAL patients, n_boot = {n_boot}")
    display(c_table(pred, table))

# %% [markdown]
# ## Calibration per held-out cohort
#
# Mean predicted S(6) and S(12) of the held-out patients against their Kaplan-Meier estimate
# with its 95% interval (exponential Greenwood), for the two methods that predict survival
# curves. A point on the diagonal is calibrated in the large; cohorts whose outcomes differ
# from the training cohorts' (other lines of therapy, other follow-up) sit off it. Below the
# figures: the calibration slope at 12 months (Crowson et al. 2016; 1 = well spread,
# < 1 = too extreme, > 1 = too modest) with its Wald 95% interval.

# %%
import matplotlib.pyplot as plt

CURVE_METHODS = {"prognosis": "o", "cox": "s"}

for ep, (_, table) in results.items():
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.8))
    cohorts = list(dict.fromkeys(table["held_out"]))
    colours = dict(zip(cohorts, plt.get_cmap("tab10").colors, strict=False))
    for ax, t in zip(axes, (6, 12), strict=True):
        for (method, marker), shift in zip(CURVE_METHODS.items(), (-0.004, 0.004),
                                           strict=True):
            rows = table[table["method"] == method]
            for _, r in rows.iterrows():
                km = r[f"s{t}_km"]
                ax.errorbar(r[f"s{t}_predicted"] + shift, km, fmt=marker, ms=6,
                            color=colours[r["held_out"]], capsize=3, lw=1,
                            mfc="white" if method == "cox" else colours[r["held_out"]],
                            yerr=[[km - r[f"s{t}_km_lower"]], [r[f"s{t}_km_upper"] - km]])
        lo = min(table[[f"s{t}_predicted", f"s{t}_km_lower"]].min()) - 0.03
        hi = max(table[[f"s{t}_predicted", f"s{t}_km_upper"]].max()) + 0.03
        ax.plot([lo, hi], [lo, hi], ls="--", c="grey", lw=1)
        ax.set_xlabel(f"mean predicted {ep.upper()} S({t})")
        ax.set_ylabel(f"Kaplan-Meier S({t}) with 95% CI")
        ax.set_title(f"{ep.upper()} at {t} months")
    handles = [plt.Line2D([], [], ls="", marker="o", color=colours[c], label=c)
               for c in cohorts]
    handles += [plt.Line2D([], [], ls="", marker=m, color="black",
                           mfc="white" if k == "cox" else "black", label=k)
                for k, m in CURVE_METHODS.items()]
    axes[1].legend(handles=handles, fontsize=7, loc="upper left")
    fig.suptitle(f"Calibration per held-out cohort, {ep.upper()} (REAL patients)")
    fig.tight_layout()
    plt.show()
    slopes = table[table["method"].isin(list(CURVE_METHODS))].assign(
        slope_ci=lambda d: with_ci(d, "slope"))
    display(slopes.pivot(index="held_out", columns="method", values="slope_ci")
            .reindex(index=cohorts, columns=list(CURVE_METHODS))
            .rename_axis(columns=f"{ep.upper()} calibration slope at 12 months (95% CI)"))

# %% [markdown]
# ## Kaplan-Meier by tertile of predicted risk (PFS)
#
# Pooled held-out predictions: each patient was scored by a model that never saw their
# cohort. Tertiles are cut within each held-out cohort (the cohorts' risk scales differ),
# then pooled. Clear separation of the three curves is the visual form of the C statistic.
# Below: Kaplan-Meier PFS at 12 months per tertile with its 95% interval.

# %%
from lifelines import KaplanMeierFitter

from models.metrics.survival_accuracy import km_survival_with_ci

TERTILES = ["lowest", "middle", "highest"]
if "pfs" in results:
    pred = results["pfs"][0]
    shown = {"prognosis": "prognosis model", "cox": "penalised Cox", "loris": "LORIS"}
    fig, axes = plt.subplots(1, len(shown), figsize=(4.2 * len(shown), 4), sharey=True)
    at_12 = {}
    for ax, (method, title) in zip(axes, shown.items(), strict=True):
        tertile = pred.groupby("held_out")[f"{method}_risk"].transform(
            lambda r: pd.qcut(r.rank(method="first"), 3, labels=False))
        for g, name in enumerate(TERTILES):
            m = (tertile == g).to_numpy()
            time, event = pred["time"].to_numpy()[m], pred["event"].to_numpy()[m]
            KaplanMeierFitter(label=f"{name} predicted risk (n={m.sum()})").fit(
                time, event).plot_survival_function(ax=ax, ci_show=True)
            s, lo, hi = km_survival_with_ci(time, event, 12.0)
            at_12[(title, name)] = f"{s:.2f} ({lo:.2f}-{hi:.2f})"
        ax.set_title(title)
        ax.set_xlabel("months")
        ax.set_xlim(0, 36)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("progression-free survival")
    fig.suptitle("PFS by tertile of held-out predicted risk (REAL patients, pooled)")
    fig.tight_layout()
    plt.show()
    display(pd.Series(at_12).unstack().reindex(columns=TERTILES)
            .rename_axis(index="Kaplan-Meier PFS at 12 months (95% CI)"))

# %% [markdown]
# ## Beside LORIS
#
# LORIS is a logistic score for response (higher = likelier response, longer survival); the
# prognosis model gives a log relative risk (higher = earlier progression). On the held-out
# patients the two should be strongly and negatively rank-correlated (Spearman,
# `models.metrics.spearman`); where they disagree, the model uses what LORIS leaves out
# (age, sex, ECOG, histology) or weighs the shared inputs differently. Below the figure:
# the C rows of both with their intervals, and the paired bootstrap of the difference in
# Harrell's C (the same resampled patients for both, `bootstrap_ci` over `harrell_c`).

# %%
from models.metrics import spearman
from models.metrics.survival_accuracy import bootstrap_ci, harrell_c

if results:
    fig, axes = plt.subplots(1, len(results), figsize=(5.5 * len(results), 4.8))
    for ax, (ep, (pred, _)) in zip(np.atleast_1d(axes), results.items(), strict=True):
        for (cohort, part), colour in zip(pred.groupby("held_out", sort=False),
                                          plt.get_cmap("tab10").colors, strict=False):
            ax.scatter(-part["loris_risk"], part["prognosis_risk"], s=8, alpha=0.5,
                       color=colour, label=cohort)
        rho = spearman(pred["prognosis_risk"].to_numpy(), -pred["loris_risk"].to_numpy())
        ax.set_xlabel("LORIS score S (higher = likelier response)")
        ax.set_ylabel("prognosis model log risk (higher = worse)")
        ax.set_title(f"{ep.upper()}: held-out patients, Spearman {rho:.2f}")
        ax.legend(fontsize=7, markerscale=2)
    fig.tight_layout()
    plt.show()

    rows = []
    for ep, (pred, table) in results.items():
        pooled = table[(table["held_out"] == "pooled")
                       & table["method"].isin(["prognosis", "loris"])].set_index("method")
        t, e = pred["time"].to_numpy(float), pred["event"].to_numpy(int)
        diff = bootstrap_ci(lambda t, e, a, b: harrell_c(t, e, a) - harrell_c(t, e, b),
                            t, e, pred["prognosis_risk"].to_numpy(),
                            pred["loris_risk"].to_numpy(), n_boot=n_boot, seed=seed)
        rows.append({
            "endpoint": ep.upper(),
            **{f"Harrell C, {m} (95% CI)": with_ci(pooled.loc[[m]], "harrell_c")[0]
               for m in ("prognosis", "loris")},
            **{f"Uno C, {m} (95% CI)": with_ci(pooled.loc[[m]], "uno_c")[0]
               for m in ("prognosis", "loris")},
            "paired difference in Harrell C (95% CI)":
                f"{diff[0]:+.3f} ({diff[1]:+.3f} to {diff[2]:+.3f})",
        })
    display(pd.DataFrame(rows).set_index("endpoint")
            .rename_axis(columns="pooled held-out patients"))

# %%
if results:
    for ep, (_, table) in results.items():
        pooled = table[table["held_out"] == "pooled"].set_index("method")
        print(f"{ep.upper()}, pooled held-out Harrell C (REAL patients, measured here): "
              + "; ".join(f"{m} {c}" for m, c in zip(
                  METHODS, with_ci(pooled.loc[list(METHODS)], "harrell_c"), strict=True)))
else:
    print("no REAL data: nothing was measured")

# %% [markdown]
# ## What this shows
#
# The pooled held-out C figures printed above are measured in this notebook on the real
# patients each time it runs; no figure in this text is copied from a run, so they follow the
# data, `n_boot` and `seed`. They judge ranking under ICI alone across hospitals and
# studies, not the benefit of adding radiotherapy, which no ICI-only cohort can show.
# `abscopal train-prognosis` runs the same validation, then picks per endpoint the learner
# (boosted or penalised Cox) with the higher pooled Harrell's C, which makes the chosen
# learner's pooled figure slightly optimistic.
