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
# # 01 · The virtual PEMBRO-RT trial (SYNTHETIC data)
#
# **Every patient in this notebook is simulated. None of them exist.** The simulator
# (`cohorts/simulate`, described in `docs/virtual-trial.md`) writes a randomised trial of
# pembrolizumab alone (arm 0) vs stereotactic RT then pembrolizumab (arm 1), modelled on
# PEMBRO-RT (Theelen et al., JAMA Oncol 2019) and its translational study (Huang et al.,
# Nat Cancer 2025), in the cohort format (`docs/cohort-format.md`).
#
# Below: the published figures beside the same figures computed from the written files
# (`cohorts.simulate.calibration.calibration_table`, lifelines on `clinical.csv`, never the
# simulator's parameters), then Kaplan-Meier curves by arm and by PD-L1 and TMB subgroup.

# %% tags=["parameters"]
# Parameters (papermill): CI runs a small trial; the calibration in docs uses 10,000.
patients = 1000
seed = 2025
scenario = "published"  # published | weak | null | harm | latent | missing | strong
out_dir = None  # where to write the SYNTHETIC cohort; None: a temporary folder

# %%
import tempfile
from pathlib import Path

import pandas as pd
from IPython.display import display

pd.set_option("display.width", 140)
work = Path(tempfile.mkdtemp(prefix="abscopal-nb-"))

# %%
from cohorts.io import read_clinical
from cohorts.simulate import write_trial
from cohorts.simulate.calibration import calibration_table
from training.plots import km_by_group_figure

cohort = write_trial(Path(out_dir) if out_dir else work / "virtual_trial",
                     n_patients=patients, seed=seed, scenario=scenario, overwrite=True)
clinical = read_clinical(cohort / "clinical.csv")
label = f"SYNTHETIC virtual trial ({len(clinical)} simulated patients, seed {seed})"
print(f"wrote {label} to {cohort}")
print((cohort / "cohort.json").read_text()[:400])

# %% [markdown]
# ## Published beside simulated
#
# `published` is PEMBRO-RT (Theelen 2019) unless the source column says otherwise; Huang 2025
# reports the translational cohort's medians in brackets. `simulated` is computed from this
# notebook's `clinical.csv` (Kaplan-Meier medians, Cox hazard ratios with 95% intervals,
# Kaplan-Meier restricted mean). With a small cohort the simulated intervals are wide;
# `docs/virtual-trial.md` has the 10,000-patient table and the known deviations.

# %%
table = calibration_table(cohort).rename(columns={"simulated": "simulated (SYNTHETIC)"})
display(table)

# %% [markdown]
# ## Kaplan-Meier curves by arm
#
# Progression-free survival of the two simulated arms.

# %%
time, event, arm = clinical["pfs_months"], clinical["pfs_event"], clinical["arm"]
fig = km_by_group_figure(time, event, arm, [0] * len(clinical), ["all patients"],
                         title=f"PFS by arm: {label}")

# %% [markdown]
# ## By PD-L1 subgroup
#
# PEMBRO-RT found the benefit of RT in PD-L1 negative tumours (TPS < 1%; HR approx. 0.49)
# and none in PD-L1 positive ones (Theelen 2019); Huang 2025 calls these tumours cold.
# Subgroups: TPS < 1%, 1-49%, >= 50% (the usual clinical cut-offs).

# %%
import numpy as np

pdl1_names = ["PD-L1 < 1%", "PD-L1 1-49%", "PD-L1 >= 50%", "PD-L1 not measured"]
pdl1 = clinical["pdl1_tps"]
pdl1_group = np.where(pdl1.isna(), 3, np.digitize(pdl1.fillna(0), [1.0, 50.0]))
fig = km_by_group_figure(time, event, arm, pdl1_group,
                         [f"{n} (n={(pdl1_group == g).sum()})"
                          for g, n in enumerate(pdl1_names)],
                         title=f"PFS by PD-L1 and arm: {label}")

# %% [markdown]
# ## By tumour mutational burden
#
# TMB below vs at or above 10 mutations/Mb: the cut-off of the real-cohort figures in
# `../shared/docs/science.md` (LORIS compilation, Chang et al., Nat Cancer 2024: 33% >= 10)
# and of KEYNOTE-158's TMB-high group (Marabelle et al., Lancet Oncol 2020). Low TMB is one
# of Huang 2025's marks of a cold tumour, where the simulator puts most of the RT benefit.

# %%
tmb_names = ["TMB < 10 mut/Mb", "TMB >= 10 mut/Mb", "not sequenced"]
tmb_group = np.where(clinical["tmb"].isna(), 2, (clinical["tmb"] >= 10).astype(int))
fig = km_by_group_figure(time, event, arm, tmb_group,
                         [f"{n} (n={(tmb_group == g).sum()})"
                          for g, n in enumerate(tmb_names)],
                         title=f"PFS by TMB and arm: {label}")

# %% [markdown]
# These curves describe simulated patients only; they check that the simulator reproduces
# the published pattern (RT helps cold tumours most), not that it does so in real patients.
#
# ## How hard is this trial?
#
# Censoring by arm (staggered accrual, ECOG-dependent dropout), what the files leave out,
# and how much of each patient's true gain the observed inputs can explain: the
# *conditional* truth E[gain | inputs] (what a model can estimate; its R^2 is the ceiling)
# and a gradient-boosting oracle trained on the true gain of half the patients. See
# `docs/virtual-trial.md`.

# %%
from cohorts.simulate.calibration import (
    censoring_table,
    difficulty_table,
    missingness_table,
)

display(censoring_table(cohort))
display(missingness_table(cohort))
difficulty_table(cohort)
