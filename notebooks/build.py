"""The evaluation notebooks, authored as code: ``python notebooks/build.py`` writes them.

Notebooks are generated with outputs stripped, so git holds only their source. After editing a
notebook in Jupyter, port the change here and rebuild; ``--check`` fails when the files differ from
this source (tests/notebooks runs it), ``--strip FILE...`` removes outputs nbstripout-style.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def md(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(textwrap.dedent(text).strip())


def code(text: str, parameters: bool = False) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(textwrap.dedent(text).strip())
    if parameters:
        cell.metadata["tags"] = ["parameters"]  # papermill injects its parameters after this
    return cell


def setup(glue: bool = True) -> nbformat.NotebookNode:
    """Imports and a temporary working folder; ``glue``: also import notebooks/nbsupport.py."""
    lines = ["import os", "import tempfile", "from pathlib import Path", ""]
    if glue:
        lines.append("import nbsupport  # notebook glue beside this file; statistics: the project")
    lines += [
        "import pandas as pd", "",
        'os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")',
        'os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")',
        'pd.set_option("display.width", 140)',
        'work = Path(tempfile.mkdtemp(prefix="abscopal-nb-"))',
    ]
    return code("\n".join(lines))


VIRTUAL_TRIAL = [
    md("""
        # 01 · The virtual PEMBRO-RT trial (SYNTHETIC data)

        **Every patient in this notebook is simulated. None of them exist.** The simulator
        (`cohorts/simulate`, described in `docs/virtual-trial.md`) writes a randomised trial of
        pembrolizumab alone (arm 0) vs stereotactic RT then pembrolizumab (arm 1), modelled on
        PEMBRO-RT (Theelen et al., JAMA Oncol 2019) and its translational study (Huang et al.,
        Nat Cancer 2025), in the cohort format (`docs/cohort-format.md`).

        Below: the published figures beside the same figures computed from the written files
        (`cohorts.simulate.calibration.calibration_table`, lifelines on `clinical.csv`, never the
        simulator's parameters), then Kaplan-Meier curves by arm and by PD-L1 and TMB subgroup.
    """),
    code("""
        # Parameters (papermill): CI runs a small trial; the calibration in docs uses 10,000.
        patients = 1000
        seed = 2025
        scenario = "published"  # published | weak | null | harm | latent | missing | strong
        out_dir = None  # where to write the SYNTHETIC cohort; None: a temporary folder
    """, parameters=True),
    setup(glue=False),
    code("""
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
    """),
    md("""
        ## Published beside simulated

        `published` is PEMBRO-RT (Theelen 2019) unless the source column says otherwise; Huang 2025
        reports the translational cohort's medians in brackets. `simulated` is computed from this
        notebook's `clinical.csv` (Kaplan-Meier medians, Cox hazard ratios with 95% intervals,
        Kaplan-Meier restricted mean). With a small cohort the simulated intervals are wide;
        `docs/virtual-trial.md` has the 10,000-patient table and the known deviations.
    """),
    code("""
        table = calibration_table(cohort).rename(columns={"simulated": "simulated (SYNTHETIC)"})
        table
    """),
    md("""
        ## Kaplan-Meier curves by arm

        Progression-free survival of the two simulated arms.
    """),
    code("""
        time, event, arm = clinical["pfs_months"], clinical["pfs_event"], clinical["arm"]
        fig = km_by_group_figure(time, event, arm, [0] * len(clinical), ["all patients"],
                                 title=f"PFS by arm: {label}")
    """),
    md("""
        ## By PD-L1 subgroup

        PEMBRO-RT found the benefit of RT in PD-L1 negative tumours (TPS < 1%; HR approx. 0.49)
        and none in PD-L1 positive ones (Theelen 2019); Huang 2025 calls these tumours cold.
        Subgroups: TPS < 1%, 1-49%, >= 50% (the usual clinical cut-offs).
    """),
    code("""
        import numpy as np

        pdl1_names = ["PD-L1 < 1%", "PD-L1 1-49%", "PD-L1 >= 50%", "PD-L1 not measured"]
        pdl1 = clinical["pdl1_tps"]
        pdl1_group = np.where(pdl1.isna(), 3, np.digitize(pdl1.fillna(0), [1.0, 50.0]))
        fig = km_by_group_figure(time, event, arm, pdl1_group,
                                 [f"{n} (n={(pdl1_group == g).sum()})"
                                  for g, n in enumerate(pdl1_names)],
                                 title=f"PFS by PD-L1 and arm: {label}")
    """),
    md("""
        ## By tumour mutational burden

        TMB below vs at or above 10 mutations/Mb: the cut-off of the real-cohort figures in
        `../shared/docs/science.md` (LORIS compilation, Chang et al., Nat Cancer 2024: 33% >= 10)
        and of KEYNOTE-158's TMB-high group (Marabelle et al., Lancet Oncol 2020). Low TMB is one
        of Huang 2025's marks of a cold tumour, where the simulator puts most of the RT benefit.
    """),
    code("""
        tmb_names = ["TMB < 10 mut/Mb", "TMB >= 10 mut/Mb", "not sequenced"]
        tmb_group = np.where(clinical["tmb"].isna(), 2, (clinical["tmb"] >= 10).astype(int))
        fig = km_by_group_figure(time, event, arm, tmb_group,
                                 [f"{n} (n={(tmb_group == g).sum()})"
                                  for g, n in enumerate(tmb_names)],
                                 title=f"PFS by TMB and arm: {label}")
    """),
    md("""
        These curves describe simulated patients only; they check that the simulator reproduces
        the published pattern (RT helps cold tumours most), not that it does so in real patients.

        ## How hard is this trial?

        Censoring by arm (staggered accrual, ECOG-dependent dropout), what the files leave out,
        and how much of each patient's true gain the observed inputs can explain: the
        *conditional* truth E[gain | inputs] (what a model can estimate; its R^2 is the ceiling)
        and a gradient-boosting oracle trained on the true gain of half the patients. See
        `docs/virtual-trial.md`.
    """),
    code("""
        from cohorts.simulate.calibration import (
            censoring_table,
            difficulty_table,
            missingness_table,
        )

        display(censoring_table(cohort))
        display(missingness_table(cohort))
        difficulty_table(cohort)
    """),
]

MODEL_EVALUATION = [
    md("""
        # 02 · Evaluating a benefit model

        Loads the registered `champion` of `rt-benefit` (after `make run`, from `./mlflow.db`), or
        any MLflow model URI given as `model_uri`. With no champion anywhere, a small model is
        trained on a SYNTHETIC virtual trial into a temporary MLflow store, so this notebook runs
        on a fresh clone.

        The model is then judged on two cohorts:
        1. a **fresh SYNTHETIC virtual trial** (other patients than the training ones) whose
           `truth.csv` holds every simulated patient's true gain: calibration of benefit, Qini,
           Kaplan-Meier by predicted-benefit tertile, C-for-benefit, predicted vs true gain,
           coverage of the 90% intervals, and the features that drive the predicted benefit;
        2. **ACTG 320** (Hammer et al., NEJM 1997), a real randomised trial (HIV, not lung cancer:
           indinavir added to two nucleosides) with a published average effect, HR 0.50
           (0.33-0.76). Its patients have none of the NSCLC features, so a benefit model is trained
           on ACTG 320 with `training.job.train` and the column mapping, and judged on its
           held-out quarter.

        Every figure shown here about a model is also logged to that model's MLflow run under
        `notebooks/`.
    """),
    code("""
        # Parameters (papermill)
        model_uri = None  # any MLflow model URI; None: the champion of the tracking store
        tracking_uri = None  # None: $MLFLOW_TRACKING_URI or ./mlflow.db (make run)
        patients = 1000  # size of the fresh SYNTHETIC virtual trial to evaluate on
        seed = 7  # its seed: not make run's training seed (2025), so the patients are new
        train_patients = 400  # only without a champion: the small model's training trial
        n_bootstrap = 10  # only without a champion: bootstrap members of the small model
        actg_bootstrap = 20  # bootstrap members of the ACTG 320 model
    """, parameters=True),
    setup(),
    code("""
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
    """),
    md("""
        ## 1 · A fresh virtual trial (SYNTHETIC)

        `training.scoring.evaluate_cohort` is what `abscopal evaluate` runs: the metrics below are
        the command's. Because this cohort is simulated, it also reports truth-based metrics
        against the *conditional* true gain E[gain | inputs] (`cond_*` in `truth.csv`: what a
        model can estimate; the individual gain also depends on biology no input carries):
        PEHE (root mean squared error) and Spearman correlation of the predicted 6-month and
        12-month RMST gains, AUROC for true benefiters, and the regret of "RT if predicted gain
        > 0".
    """),
    code("""
        from cohorts.simulate import write_trial

        trial_dir = write_trial(work / "evaluation_trial", n_patients=patients, seed=seed)
        metrics = evaluate_cohort(loaded.uri, trial_dir)
        calibration, qini = metrics["calibration_of_benefit"], metrics["qini"]
        label = f"fresh SYNTHETIC virtual trial, n={metrics['n']}"
        print("effect served:", bundle.gate_note() or "individual (heterogeneity shown on the "
              "hold-out); the metrics below judge the model's own predicted gains")
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
    """),
    md("""
        ### Survival curves per arm: calibration and accuracy

        The learner's curves under each arm, on that arm's patients (randomisation makes them a
        sample of all): mean predicted S(6) and S(12) against the arm's Kaplan-Meier with its 95%
        interval, the calibration slope at 12 months (1 = well spread), IPCW Brier scores at 6 and
        12 months and integrated over 0.5-12 months, and Uno's C of the predicted 12-month RMST
        (`models.evaluation`; `abscopal evaluate` writes the same numbers).
    """),
    code("""
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
    """),
    md("""
        ### Calibration of benefit and Qini

        Patients are grouped by predicted 6-month PFS gain; each group's observed gain is the
        Kaplan-Meier difference between its arms. The Qini curve shows the extra progression-free
        patients at 6 months when only the top fraction by predicted gain get RT.
    """),
    code("""
        figures = {}
        figures["evaluation_calibration_of_benefit"] = plots.calibration_figure(
            calibration, title=f"Calibration of benefit: {label}")
        figures["evaluation_qini"] = plots.qini_figure(qini, title=f"Uplift (Qini): {label}")
    """),
    md("""
        ### Kaplan-Meier by predicted-benefit tertile and arm

        If the model ranks patients well, the arms separate most in the highest tertile.
    """),
    code("""
        trial, X, table = nbsupport.predictions(loaded, trial_dir)
        figures["evaluation_km_by_predicted_benefit"] = plots.km_by_benefit_figure(
            trial.Y["time"], trial.Y["event"], trial.T, table["rmst_gain_12mo"],
            title=f"PFS by predicted 12-month RMST gain: {label}")
        print(f"C-for-benefit: {metrics['c_for_benefit']:.3f} "
              "(0.5: no better than chance at ranking who benefits; van Klaveren 2018)")
    """),
    md("""
        ### Predicted vs true gain, and interval coverage

        Only a simulation knows each patient's true gain (`truth.csv`). A patient is covered when
        the conditional true gain E[gain | inputs] lies inside the model's 90% bootstrap interval
        (the individual gain is not what an interval from the inputs can promise to cover). Bootstrap intervals describe
        the model's estimation uncertainty, not the model's misspecification, so coverage well
        below 90% means the model is confidently wrong for some patients.
    """),
    code("""
        truth = nbsupport.read_truth(trial_dir)
        coverage = nbsupport.interval_coverage(table, truth, level=1 - bundle.alpha)
        for estimand in ("pfs_gain_6mo", "rmst_gain_12mo"):
            fig = nbsupport.predicted_vs_true_figure(
                table, truth, estimand, title=f"Predicted vs true {estimand}: {label}")
            figures[f"evaluation_predicted_vs_true_{estimand}"] = fig
        coverage.round(3)
    """),
    md("""
        ### Which features drive the predicted benefit

        The bundle's drivers (the same ones `POST /predict` returns per patient): TreeSHAP
        contributions of a boosted surrogate of the predicted 12-month RMST gain, averaged over
        the patients. The surrogate's fidelity (R² on the training cohort) says how far to trust
        them.
    """),
    code("""
        importance = nbsupport.driver_importance(loaded, X)
        r2 = bundle.surrogate_r2_
        figures["evaluation_drivers"] = nbsupport.drivers_figure(
            importance, title=f"Drivers of predicted benefit (surrogate R² {r2:.2f}): {label}")
        importance.head(15).round(3)
    """),
    code("""
        for name, fig in figures.items():
            nbsupport.log_figure(run_id, fig, name)
        print(f"logged {len(figures)} figures to run {run_id}")
    """),
    md("""
        ## 2 · ACTG 320 (real trial data)

        1,151 patients randomised to indinavir + two nucleosides (`tx = 1`) vs two nucleosides;
        endpoint AIDS-defining event or death, time in days (scikit-survival's `load_aids`, a
        development dependency). The model uses three baseline features, CD4 count, Karnofsky
        score and months of prior zidovudine, through `--id-col/--arm-col/--time-col/--event-col`
        and `--time-unit days`, exactly as `abscopal train` would. It is judged on the held-out
        quarter that training set aside (`training.split.holdout_split`), never on its own
        training patients. Few events (96 in all) make these figures noisy.

        Its run goes to the same MLflow store, experiment `actg320`, unregistered: it never
        touches the `rt-benefit` champion.
    """),
    code("""
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
    """),
    code("""
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
    """),
    md("""
        The figures reuse the NSCLC vocabulary of the project: "ICI alone" is the control arm
        and "RT then ICI" the indinavir arm; "progression-free" means free of AIDS and alive.
    """),
    code("""
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
    """),
    md("""
        ## What was logged

        Each figure above now sits in its model's MLflow run (open `mlflow ui` on the store).
    """),
    code("""
        import mlflow

        client = mlflow.MlflowClient()
        for rid, names in ((run_id, figures), (actg_result.run_id, actg_figures)):
            logged = {a.path for a in client.list_artifacts(rid, "notebooks")}
            assert {f"notebooks/{n}.png" for n in names} <= logged, (rid, logged)
            print(rid, sorted(logged))
    """),
]

SCORING_VIA_HTTP = [
    md("""
        # 03 · Scoring patients over HTTP

        Starts the prediction server (`abscopal serve`, BentoML) on 127.0.0.1 with a free port,
        waits for `/readyz`, scores a few **SYNTHETIC** patients (simulated, not real) with
        `POST /predict`, and plots one patient's two predicted survival curves with the interval
        on the gain. The server serves the champion (or `model_uri`); without one, a small model is
        first trained into a temporary MLflow store.
    """),
    code("""
        # Parameters (papermill)
        model_uri = None  # any MLflow model URI; None: the champion of the tracking store
        tracking_uri = None  # None: $MLFLOW_TRACKING_URI or ./mlflow.db (make run)
        score_patients = 5  # SYNTHETIC patients to score
        seed = 11
        train_patients = 400  # only without a champion: the small model's training trial
        n_bootstrap = 10  # only without a champion
    """, parameters=True),
    setup(),
    code("""
        import httpx

        from abscopal.settings import get_settings

        loaded = nbsupport.champion_or_small_model(
            model_uri, tracking_uri, patients=train_patients, seed=seed + 1000,
            n_bootstrap=n_bootstrap, work_dir=work / "model",
        )
        server = nbsupport.Server(loaded.uri, get_settings().tracking_uri, work / "server.log")
        server.wait_ready()
        print(f"serving {loaded.uri} at {server.url}")
    """),
    code("""
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
    """),
    code("""
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
    """),
    md("""
        ## One patient's two survival curves

        The patient with the largest predicted 12-month RMST gain: predicted PFS on ICI alone
        and after RT then ICI, with the 90% interval on the gain at 6 and 12 months (drawn on top
        of the ICI-alone curve), and the three gains with their intervals.
    """),
    code("""
        chosen = max(body["predictions"],
                     key=lambda p: p["benefit"]["rmst_gain_12mo"]["estimate"])
        fig = nbsupport.patient_curves_figure(
            chosen, title=f"SYNTHETIC patient {chosen['patient_id']}: predicted PFS "
                          f"({chosen['recommendation']})")
        nbsupport.log_figure(body["model"]["run_id"], fig, "http_patient_curves")
        pd.DataFrame(chosen["drivers"])
    """),
    md("""
        The server and `abscopal predict` share one feature and model path: the same patients
        scored in this process give the same numbers.
    """),
    code("""
        import numpy as np

        raw = loaded.bundle.raw_from_records(records)
        local = loaded.bundle.predict_frame(loaded.bundle.features_for(raw))
        for p in body["predictions"]:
            for k, b in p["benefit"].items():
                np.testing.assert_allclose(
                    [b["estimate"], b["lower"], b["upper"]],
                    local.loc[p["patient_id"], [k, f"{k}_lower", f"{k}_upper"]].astype(float),
                    rtol=1e-6, atol=1e-9)
        print("HTTP predictions equal the in-process ones for", len(body["predictions"]),
              "patients")
    """),
    code("""
        card = httpx.get(f"{server.url}/model", timeout=30).json()
        print(card["notice"], "|", card["intended_use"])
        print("model card:", card["model"])
        server.stop()
        print("server stopped, exit code", server.proc.returncode)
    """),
]

REAL_WORLD_PROGNOSIS = [
    md("""
        # 04 · Prognosis under ICI alone, on real patients

        **The patients in this notebook are REAL, not simulated.** It validates the ICI-alone
        prognosis model (`models.prognosis.PrognosisModel`: a small monotone-constrained xgboost
        Cox booster with a Breslow baseline over TMB, PD-L1, prior therapy, albumin, NLR, age, sex,
        ECOG and histology), the model `abscopal train-prognosis` registers as `ici-prognosis`.
        It predicts S(t | x) for progression-free (PFS) or overall survival (OS) under immune
        checkpoint inhibitors without radiation.

        **Data.** `../shared/data/public_ici/nsclc_ici_cohorts.csv` (beside the repository, never
        copied into it): 1,110 NSCLC patients treated with ICI, harmonised from the public
        compilation behind LORIS (Chang et al., Nature Cancer 2024), whose rows come from the
        papers' supplementary tables. Its cohorts (the data README lists them): Chowell_train and
        Chowell_test (Chowell et al., Nature Biotechnology 2022, MSK), MSK1 (an MSK ICI cohort of
        the compilation, MSK-IMPACT panel), Shim_NSCLC (Shim et al. 2020) and Vanguri_NSCLC
        (Vanguri et al., Nature Cancer 2022, MSK). Inputs are missing by cohort (PD-L1 for most MSK
        patients, ECOG and histology for all of Chowell's): the booster routes them down learned
        default branches, without imputation.

        **Validation.** Leave one cohort out (`training.prognosis_validation.leave_one_cohort_out`):
        each cohort in turn is held out, every method is fitted on the others and judged on the
        held-out patients, then all held-out predictions are pooled. The MSK cohorts share patients
        without a shared id, so the training rows that are probably patients of the held-out
        cohort (sex, TMB and albumin equal, ages within a year:
        `training.prognosis_data.probable_duplicates`) are removed from training before each fit.
        Chowell_train and Chowell_test are two halves of one study: holding out one of them is the
        least external of the five checks. Methods side by side:

        - `prognosis`: the boosted model above;
        - `cox`: a ridge-penalised Cox model on the same inputs (median imputation plus missing
          indicators), the classical comparator;
        - `loris`: the published LORIS score (Chang et al. 2024), missing inputs filled with the
          training patients' medians;
        - `tmb`: tumour mutational burden alone.

        Every statistic comes from `training.prognosis_validation` and
        `models.metrics.survival_accuracy`. **Without the data file** (a clone without
        `../shared/data`), the notebook says so and stops: every later cell is a no-op, nothing
        raises.
    """),
    code("""
        # Parameters (papermill)
        # the REAL LORIS-compilation CSV (or a cohort-format table with a group column), relative
        # to notebooks/ (the working directory): ../shared/data beside the repository
        data_path = "../../shared/data/public_ici/nsclc_ici_cohorts.csv"
        n_boot = 200  # bootstrap resamples of each confidence interval
        seed = 2025  # model seed and bootstrap seed (train-prognosis' default)
    """, parameters=True),
    setup(glue=False),
    code("""
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
    """),
    md("""
        ## Leave-one-cohort-out: discrimination

        Per held-out cohort and pooled over all held-out patients: Harrell's C and Uno's C (IPCW,
        truncated at tau = min(24 months, the 90th percentile of follow-up)) with percentile
        bootstrap 95% intervals (`n_boot` resamples of patients), and the cumulative/dynamic AUC
        at 6 months. Higher risk = earlier progression or death; 0.5 is chance. The last columns
        count the training patients of each fit and the probable duplicates of the held-out
        cohort removed from them.
    """),
    code("""
        results = {}
        if available:
            for ep in endpoints:
                results[ep] = leave_one_cohort_out(data, ep, n_boot=n_boot, seed=seed)


        def with_ci(table, name):
            return [f"{e:.3f} ({lo:.3f}-{hi:.3f})" if np.isfinite(e) else "n/a"
                    for e, lo, hi in table[[name, f"{name}_lower", f"{name}_upper"]].to_numpy()]


        def c_table(pred, table):
            \"\"\"One row per held-out cohort (and pooled), methods side by side.\"\"\"
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
    """),
    md("""
        ## Calibration per held-out cohort

        Mean predicted S(6) and S(12) of the held-out patients against their Kaplan-Meier estimate
        with its 95% interval (exponential Greenwood), for the two methods that predict survival
        curves. A point on the diagonal is calibrated in the large; cohorts whose outcomes differ
        from the training cohorts' (other lines of therapy, other follow-up) sit off it. Below the
        figures: the calibration slope at 12 months (Crowson et al. 2016; 1 = well spread,
        < 1 = too extreme, > 1 = too modest) with its Wald 95% interval.
    """),
    code("""
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
    """),
    md("""
        ## Kaplan-Meier by tertile of predicted risk (PFS)

        Pooled held-out predictions: each patient was scored by a model that never saw their
        cohort. Tertiles are cut within each held-out cohort (the cohorts' risk scales differ),
        then pooled. Clear separation of the three curves is the visual form of the C statistic.
        Below: Kaplan-Meier PFS at 12 months per tertile with its 95% interval.
    """),
    code("""
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
    """),
    md("""
        ## Beside LORIS

        LORIS is a logistic score for response (higher = likelier response, longer survival); the
        prognosis model gives a log relative risk (higher = earlier progression). On the held-out
        patients the two should be strongly and negatively rank-correlated (Spearman,
        `models.metrics.spearman`); where they disagree, the model uses what LORIS leaves out
        (age, sex, ECOG, histology) or weighs the shared inputs differently. Below the figure:
        the C rows of both with their intervals, and the paired bootstrap of the difference in
        Harrell's C (the same resampled patients for both, `bootstrap_ci` over `harrell_c`).
    """),
    code("""
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
    """),
    code("""
        if results:
            for ep, (_, table) in results.items():
                pooled = table[table["held_out"] == "pooled"].set_index("method")
                print(f"{ep.upper()}, pooled held-out Harrell C (REAL patients, measured here): "
                      + "; ".join(f"{m} {c}" for m, c in zip(
                          METHODS, with_ci(pooled.loc[list(METHODS)], "harrell_c"), strict=True)))
        else:
            print("no REAL data: nothing was measured")
    """),
    md("""
        ## What this shows

        The pooled held-out C figures printed above are measured in this notebook on the real
        patients each time it runs; no figure in this text is copied from a run, so they follow the
        data, `n_boot` and `seed`. They judge ranking under ICI alone across hospitals and
        studies, not the benefit of adding radiotherapy, which no ICI-only cohort can show.
        `abscopal train-prognosis` runs the same validation, then picks per endpoint the learner
        (boosted or penalised Cox) with the higher pooled Harrell's C, which makes the chosen
        learner's pooled figure slightly optimistic.
    """),
]

NOTEBOOKS = {
    "01_virtual_trial.ipynb": VIRTUAL_TRIAL,
    "02_model_evaluation.ipynb": MODEL_EVALUATION,
    "03_scoring_via_http.ipynb": SCORING_VIA_HTTP,
    "04_real_world_prognosis.ipynb": REAL_WORLD_PROGNOSIS,
}


def strip(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """nbstripout-style: no outputs, execution counts or per-run metadata."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        for key in ("execution", "collapsed", "scrolled", "papermill"):
            cell.metadata.pop(key, None)
    for key in ("papermill", "widgets"):
        nb.metadata.pop(key, None)
    return nb


def build(cells) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    for i, cell in enumerate(cells):
        cell = nbformat.from_dict(dict(cell))
        cell.id = f"cell-{i:02d}"  # stable ids: rebuilding gives identical files
        nb.cells.append(cell)
    nbformat.validate(nb)
    return strip(nb)


def render() -> dict[str, str]:
    """File name -> notebook JSON, as written to disk."""
    return {name: nbformat.writes(build(cells)) + "\n" for name, cells in NOTEBOOKS.items()}


def main(argv: list[str]) -> int:
    if argv[:1] == ["--strip"]:
        for path in argv[1:]:
            nb = nbformat.read(path, as_version=4)
            nbformat.write(strip(nb), path)
        return 0
    stale = []
    for name, text in render().items():
        path = HERE / name
        if "--check" in argv:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print(f"out of date (run python notebooks/build.py): {', '.join(stale)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
