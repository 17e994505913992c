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
# # 03 · Scoring patients over HTTP
#
# Starts the prediction server (`abscopal serve`, BentoML) on 127.0.0.1 with a free port,
# waits for `/readyz`, scores a few **SYNTHETIC** patients (simulated, not real) with
# `POST /predict`, and plots one patient's two predicted survival curves with the interval
# on the gain. The server serves the champion (or `model_uri`); without one, a small model is
# first trained into a temporary MLflow store.

# %% tags=["parameters"]
# Parameters (papermill)
model_uri = None  # any MLflow model URI; None: the champion of the tracking store
tracking_uri = None  # None: $MLFLOW_TRACKING_URI or ./mlflow.db (make run)
score_patients = 5  # SYNTHETIC patients to score
seed = 11
train_patients = 400  # only without a champion: the small model's training trial
n_bootstrap = 10  # only without a champion

# %%
import tempfile
from pathlib import Path

import nbsupport  # notebook glue beside this file; statistics: the project
import pandas as pd

pd.set_option("display.width", 140)
work = Path(tempfile.mkdtemp(prefix="abscopal-nb-"))

# %%
import httpx

from common.settings import get_settings

loaded = nbsupport.champion_or_small_model(
    model_uri, tracking_uri, patients=train_patients, seed=seed + 1000,
    n_bootstrap=n_bootstrap, work_dir=work / "model",
)
server = nbsupport.Server(loaded.uri, get_settings().tracking_uri, work / "server.log")
server.wait_ready()
print(f"serving {loaded.uri} at {server.url}")

# %%
from cohorts.simulate import simulate_trial

patients = simulate_trial(max(score_patients, 2), seed)  # SYNTHETIC, in memory
records = nbsupport.request_records(patients, score_patients)
print(f"{len(records)} SYNTHETIC patients; fields of the first:",
      sorted(k for k in records[0] if k not in ("expression", "mutations")),
      f"+ {len(records[0]['expression'])} genes' TPM",
      f"+ {len(records[0]['mutations'])} somatic calls")
response = httpx.post(f"{server.url}/predict", json={"patients": records}, timeout=120)
response.raise_for_status()
body = response.json()
body["model"]

# %%
pd.DataFrame([{
    "patient": p["patient_id"],
    "recommendation": p["recommendation"],
    "P(benefit)": p["probability_of_benefit"],
    **{f"{k} [90% interval]": f"{b['estimate']:.2f} [{b['lower']:.2f}, {b['upper']:.2f}]"
       for k, b in p["benefit"].items()},
    "top driver": p["drivers"][0]["feature"] if p["drivers"] else None,
    "imputed inputs": sum(len(w.split(": ", 1)[1].split(", ")) for w in p["warnings"]
                          if w.startswith("missing, imputed by the model")),
} for p in body["predictions"]])

# %% [markdown]
# ## One patient's two survival curves
#
# The patient with the largest predicted 12-month RMST gain: predicted PFS on ICI alone
# and after RT then ICI, with the 90% interval on the gain at 6 and 12 months (drawn on top
# of the ICI-alone curve), and the three gains with their intervals.

# %%
chosen = max(body["predictions"],
             key=lambda p: p["benefit"]["rmst_gain_12mo"]["estimate"])
fig = nbsupport.patient_curves_figure(
    chosen, title=f"SYNTHETIC patient {chosen['patient_id']}: predicted PFS "
                  f"({chosen['recommendation']})")
nbsupport.log_figure(body["model"]["run_id"], fig, "http_patient_curves")
pd.DataFrame(chosen["drivers"])

# %% [markdown]
# The server and `abscopal predict` share one feature and model path: the same patients
# scored in this process give the same numbers.

# %%
import numpy as np

raw = loaded.bundle.raw_from_records(records)
local = loaded.bundle.predict(loaded.bundle.features_for(raw)).to_frame()
for p in body["predictions"]:
    for k, b in p["benefit"].items():
        np.testing.assert_allclose(
            [b["estimate"], b["lower"], b["upper"]],
            local.loc[p["patient_id"], [k, f"{k}_lower", f"{k}_upper"]].astype(float),
            rtol=1e-6, atol=1e-9)
print("HTTP predictions equal the in-process ones for", len(body["predictions"]),
      "patients")

# %%
card = httpx.get(f"{server.url}/model", timeout=30).json()
print(card["notice"], "|", card["intended_use"])
print("model card:", card["model"])
server.stop()
print("server stopped, exit code", server.proc.returncode)
