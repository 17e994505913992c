"""Benefit learners side by side: replicated virtual trials, every scenario, scored on the truth.

    .venv/bin/python benchmarks/benefit_bench.py [--sizes 72,300,1000,5000] [--replicates 20]
        [--scenarios published,null,...] [--learners treat-all,risk,t,s,dr,econml,t+prognosis,
        oracle-one-arm:gbm,dr+uncensored]
        [--bootstrap 50] [--first-replicate 0] [--out results.csv] [--semi-synthetic]
        [--scheduler ADDRESS]

For each scenario one 2,000-patient test trial is written; for each training size, ``replicates``
independent training trials are drawn with seeds disjoint from the test trial's and from each
other (``numpy.random.SeedSequence`` keyed by scenario, size and replicate; the test trial uses a
key no training trial can have). Every learner is fitted on each training trial and scored on the
test trial against the *conditional* truth E[gain | inputs] of ``truth.csv`` (``cond_*``: what a
model can estimate and what its intervals must cover; docs/virtual-trial.md), for the 6-month PFS
gain and the 12-month RMST gain: PEHE (and PEHE / sd of the true gain), Spearman, mean error,
coverage of the 90% interval overall and in the worst decile of the true gain, the share told
``add_rt`` among patients whose true RMST gain is below the MCID (1 month), the share below
the MCID among those told ``add_rt`` (what a calibrated P >= 0.9 bounds by ~10%), the share told
``add_rt`` and ``uncertain`` overall, and the mean predicted S(12) per arm against the truth.
Across replicates, the squared error splits into bias^2 (of the replicate-mean prediction) and
variance (across replicates). Rows are appended to ``--out`` as each replicate finishes, so a
long run keeps what it measured, and ``--first-replicate`` extends it with the next training
trials (replicate r has the same seed in every run). ``--scheduler`` runs the replicates as Dask
tasks on that cluster (the bootstrap members inside a replicate stay on its worker); the rows are
the same.

"<learner>+prognosis" adds the real-world prognosis model's log risk (fitted here on the 1,110
real patients of ../shared/data/public_ici) as an input; the risk learner takes it as its
external risk score (issue 12: "no worse on the virtual trial's benefit metrics").

"served" is the product itself: ``abscopal train``'s selection (constant model included),
bootstrap ensemble and heterogeneity gate (the trial's average effect when it fails), without
registering (MLflow runs go to a temporary store).

"oracle-*" are ceilings, not models: gradient boosting fitted on labels no trial observes, from
the training trial's truth.csv: the conditional gain itself, the individual gain, the realised
gain under both arms, and the efficient pseudo-outcome of one arm with the true arm means (the
noise every estimator of a randomised trial must live with). "<learner>+uncensored" fits the
learner on the same patients with censoring removed (their realised PFS under the arm they
got). Side by side they split a learner's error into what the trial's size and inputs allow,
what observing one arm per patient costs, and what censoring and the learner itself cost.

"treat-all" predicts everyone the training trial's Kaplan-Meier average gain; "econml" is
EconML's CausalForestDML on the IPCW pseudo-outcome of each estimand (the known propensity 0.5 as
its treatment model).

``--semi-synthetic`` adds the cohort that keeps the 1,110 real ICI-treated NSCLC patients of
../shared/data/public_ici (their covariates and real ICI-alone PFS) and simulates only RT:
half are randomised to "RT", whose PFS (and censoring) is stretched by an accelerated-failure-
time factor exp(beta(x)) that is larger in cold tumours (PD-L1 < 1% or TMB < 10). The true gain
uses a Weibull AFT fit of the real ICI-alone PFS as S_ICI(t | x), an assumption stated here.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy.stats import norm

from cohorts.simulate import SCENARIOS, write_trial
from common import OFFLINE_ENV
from models import LEARNERS, make_learner
from models.metrics import auroc_benefiters, pehe, spearman
from models.recommend import RecommendationRule, recommend
from training.data import load_training_data, read_trial
from training.distributed import on_cluster
from training.job import TrainConfig

BENEFITER_THRESHOLD = 0.10
ESTIMANDS = ("pfs_gain_6mo", "rmst_gain_12mo")
MCID = RecommendationRule().mcid  # months of 12-month RMST gain
PUBLIC_ICI = Path(__file__).resolve().parents[2] / "shared" / "data" / "public_ici"


def trial_seed(seed: int, scenario: str, size: int, replicate: int) -> int:
    """Disjoint seeds: the test trial is (size 0, replicate 0); training sizes are >= 2."""
    key = [seed, sorted(SCENARIOS).index(scenario), size, replicate]
    return int(np.random.SeedSequence(key).generate_state(1)[0])


def treat_all_predictions(train, n_test: int) -> dict[str, np.ndarray]:
    """Everyone gets the training trial's Kaplan-Meier average gain (no interval)."""
    from lifelines import KaplanMeierFitter
    from lifelines.utils import restricted_mean_survival_time

    t, e, a = train.Y["time"].to_numpy(), train.Y["event"].to_numpy(), train.T.to_numpy()
    km = [KaplanMeierFitter().fit(t[a == arm], e[a == arm]) for arm in (0, 1)]
    s6, s12 = ([float(k.survival_function_at_times(h).iloc[0]) for k in km] for h in (6.0, 12.0))
    rmst = [restricted_mean_survival_time(k, t=12.0) for k in km]
    out = {"pfs_gain_6mo": np.full(n_test, s6[1] - s6[0]),
           "rmst_gain_12mo": np.full(n_test, rmst[1] - rmst[0]),
           "s_ici_12mo": np.full(n_test, s12[0]), "s_rt_ici_12mo": np.full(n_test, s12[1])}
    out["recommendation"] = np.full(n_test, "uncertain", dtype=object)
    return out


def econml_predictions(train, X_test) -> dict[str, np.ndarray] | None:
    try:
        from econml.dml import CausalForestDML
        from sklearn.dummy import DummyClassifier
        from sklearn.ensemble import HistGradientBoostingRegressor
    except ImportError:
        return None
    from models.pseudo_outcomes import ipcw_outcomes

    y_star = ipcw_outcomes(train.Y["time"].to_numpy(), train.Y["event"].to_numpy(),
                           train.T.to_numpy())
    medians = train.X.median()
    x, xt = train.X.fillna(medians).to_numpy(), X_test.fillna(medians).to_numpy()
    out = {}
    for k in ESTIMANDS:
        forest = CausalForestDML(
            model_y=HistGradientBoostingRegressor(max_depth=3, max_iter=100),
            model_t=DummyClassifier(strategy="prior"),
            discrete_treatment=True, n_estimators=200, random_state=0,
        )
        forest.fit(y_star[k], train.T.to_numpy(), X=x)
        out[k] = forest.effect(xt)
        out[f"{k}_lower"], out[f"{k}_upper"] = forest.effect_interval(xt, alpha=0.1)
    # the project's rule on the forest's asymptotic normal sampling distribution
    k = "rmst_gain_12mo"
    se = np.maximum(out[f"{k}_upper"] - out[f"{k}_lower"], 1e-12) / (2 * norm.ppf(0.95))
    out["recommendation"] = recommend(norm.sf((MCID - out[k]) / se))  # P(gain >= MCID)
    return out


ORACLES = ("oracle-conditional", "oracle-individual", "oracle-realised", "oracle-one-arm")


def oracle_labels(name: str, truth: pd.DataFrame, arm: np.ndarray) -> dict[str, np.ndarray]:
    """Each oracle's training label per estimand, from the training trial's truth.csv.

    conditional: E[gain | inputs] itself (no noise); individual: the gain under the patient's
    hidden factors; realised: the realised PFS under both arms, uncensored (one draw of each
    potential outcome); one-arm: the efficient (AIPW) pseudo-outcome of the arm the patient got,
    uncensored, with the *true* arm means E[Y_a | inputs] as nuisances, whose noise no estimator
    of a randomised trial of that size can avoid."""
    y = {"ici": truth["pfs_months_ici"].to_numpy(), "rt_ici": truth["pfs_months_rt_ici"].to_numpy()}
    outcome = {"rmst_gain_12mo": lambda t: np.minimum(t, 12.0),
               "pfs_gain_6mo": lambda t: (t > 6.0).astype(float)}
    mean = {"rmst_gain_12mo": "cond_rmst_{}_12mo", "pfs_gain_6mo": "cond_s_{}_6mo"}
    labels = {}
    for k in ESTIMANDS:
        if name == "oracle-conditional":
            labels[k] = truth[f"cond_{k}"].to_numpy()
        elif name == "oracle-individual":
            labels[k] = truth[f"true_{k}"].to_numpy()
        elif name == "oracle-realised":
            labels[k] = outcome[k](y["rt_ici"]) - outcome[k](y["ici"])
        else:
            m0, m1 = (truth[mean[k].format(a)].to_numpy() for a in ("ici", "rt_ici"))
            observed = outcome[k](np.where(arm == 1, y["rt_ici"], y["ici"]))
            labels[k] = m1 - m0 + np.where(arm == 1, (observed - m1) / 0.5,
                                           -(observed - m0) / 0.5)
    return labels


def oracle_predictions(name, model, train, X_test, seed) -> dict[str, np.ndarray]:
    """A ceiling, not a model: a regression on labels no trial observes (``oracle_labels``).
    ``model`` "ridge" (median imputation with was-missing indicators, standardised, a penalty
    chosen by leave-one-out) or "gbm" (slow, shallow gradient boosting with early stopping on
    20% of the training trial). Ridge is the default: on the efficient pseudo-outcome, whose
    noise dwarfs the signal, a linear projection's low variance beats trees."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    truth = pd.read_csv(train.source / "truth.csv", dtype={"patient_id": str}).set_index(
        "patient_id").loc[train.Y.index]
    out = {}
    for k, label in oracle_labels(name, truth, train.T.to_numpy()).items():
        regression = make_pipeline(
            SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            StandardScaler(), RidgeCV(alphas=np.logspace(-1, 5, 31)),
        ) if model == "ridge" else HistGradientBoostingRegressor(
            learning_rate=0.01, max_iter=3000, max_depth=2, min_samples_leaf=50,
            l2_regularization=1.0, early_stopping=True, validation_fraction=0.2,
            n_iter_no_change=100, random_state=seed)
        out[k] = regression.fit(train.X, label).predict(X_test)
    out["recommendation"] = np.full(len(X_test), "uncertain", dtype=object)  # not a rule
    return out


def uncensored(train):
    """The same training trial with censoring removed: each patient's realised PFS under the
    arm they were randomised to (truth.csv), every one an event. What the learner loses to
    censoring is the difference between its rows with and without ``+uncensored``."""
    truth = pd.read_csv(train.source / "truth.csv", dtype={"patient_id": str}).set_index(
        "patient_id").loc[train.Y.index]
    time_ = np.where(train.T.to_numpy() == 1, truth["pfs_months_rt_ici"], truth["pfs_months_ici"])
    out = train.subset(np.arange(train.n))
    out.Y = pd.DataFrame({"time": time_, "event": 1}, index=train.Y.index)
    return out


def option_value(text: str):
    """A learner option from the command line: none, an int, a float or a string."""
    if text == "none":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def learner_predictions(name, train, X_test, n_bootstrap, seed, prognosis=None,
                        test_features=None) -> dict[str, np.ndarray] | None:
    if name == "treat-all":
        return treat_all_predictions(train, len(X_test))
    if name == "econml":
        return econml_predictions(train, X_test)
    if name == "served":
        return served_predictions(train, test_features, n_bootstrap, seed)
    if name.partition(":")[0] in ORACLES:  # e.g. "oracle-one-arm:ridge"
        oracle, _, model = name.partition(":")
        return oracle_predictions(oracle, model or "ridge", train, X_test, seed)
    X_train, params = train.X, {}
    name, _, options = name.partition(":")  # e.g. "dr:calibration=isotonic/n_folds=3"
    for option in filter(None, options.split("/")):
        key, _, value = option.partition("=")
        params[key] = option_value(value)
    if name.endswith("+uncensored"):  # the learner without censoring: what censoring costs
        name, train = name.removesuffix("+uncensored"), uncensored(train)
    if name.endswith("+prognosis"):  # the real-world prognosis score as an input (issue 12)
        from training.job import learner_params
        from training.prognosis_bundle import PROGNOSIS_FEATURE, prognosis_feature

        if prognosis is None:
            raise SystemExit(f"{name} needs the real cohorts at {PUBLIC_ICI}")
        name = name.removesuffix("+prognosis")
        X_train = train.X.assign(**{PROGNOSIS_FEATURE: prognosis_feature(train.available,
                                                                         prognosis)})
        X_test = X_test.assign(**{PROGNOSIS_FEATURE: prognosis_feature(test_features,
                                                                       prognosis)})
        params = {**learner_params(name, X_train.columns), **params}
    model = make_learner(name, n_bootstrap=n_bootstrap, random_state=seed, **params).fit(
        train.Y, train.T, X_train)
    return model.predict(X_test, times=np.array([])).columns()


def served_predictions(train, test_features, n_bootstrap, seed) -> dict[str, np.ndarray]:
    """What ``abscopal train`` would serve: selection among the learners and the constant model,
    the chosen learner's bootstrap ensemble, the heterogeneity gate on a 25% hold-out (the
    average effect when it fails), run through training.job.train without registering."""
    import mlflow

    from training.job import train as run_training

    result = run_training(TrainConfig(cohort=train.source, register=False,
                                      n_bootstrap=n_bootstrap, seed=seed))
    bundle = mlflow.pyfunc.load_model(result.model_uri).unwrap_python_model().bundle
    X = test_features.reindex(columns=bundle.feature_names)
    served = bundle.predict(X, times=np.array([])).columns()
    # both answers the gate chooses between, so that any gate can be judged on one run
    served["individual"] = bundle.estimator.predict(X, times=np.array([]),
                                                    alpha=bundle.alpha).columns()
    s0, s1 = bundle.average.predict_survival(len(X), np.array([12.0]))
    served["average"] = {**bundle.average.benefit_columns(len(X)),
                         "s_ici_12mo": s0[:, 0], "s_rt_ici_12mo": s1[:, 0]}
    served["gate"] = bundle.heterogeneity
    return served


def true_gain_deciles(true: np.ndarray) -> np.ndarray:
    """Each patient's decile (0-9) of the true gain, ties broken by order."""
    return pd.qcut(pd.Series(true).rank(method="first"), 10, labels=False).to_numpy()


def replicate_metrics(pred: dict[str, np.ndarray], truth: pd.DataFrame) -> dict[str, float]:
    """Every per-replicate measure of one learner on the test trial (see the module docstring)."""
    out = {}
    for k in ESTIMANDS:
        true = truth[f"cond_{k}"].to_numpy()
        est = pred[k]
        out[f"pehe_{k}"] = pehe(est, true)
        out[f"pehe_over_sd_{k}"] = pehe(est, true) / true.std() if true.std() > 0 else np.nan
        out[f"spearman_{k}"] = (spearman(est, true) if np.std(est) > 0 and np.std(true) > 0
                                else np.nan)
        out[f"mean_error_{k}"] = float(np.mean(est - true))
        if f"{k}_lower" in pred:
            inside = (pred[f"{k}_lower"] <= true) & (true <= pred[f"{k}_upper"])
            out[f"coverage_{k}"] = float(inside.mean())
            out[f"worst_decile_coverage_{k}"] = float(
                pd.Series(inside).groupby(true_gain_deciles(true)).mean().min())
    small = truth["cond_rmst_gain_12mo"].to_numpy() < MCID
    rec = np.asarray(pred["recommendation"])
    out["add_rt_share"] = float(np.mean(rec == "add_rt"))
    out["uncertain_share"] = float(np.mean(rec == "uncertain"))
    out["add_rt_among_below_mcid"] = float(np.mean(rec[small] == "add_rt")) if small.any() \
        else np.nan
    # what a calibrated P(gain >= MCID) >= 0.9 promises: at most ~10% of those told add_rt
    # gain less than the MCID (the share above is a different, per-patient promise)
    told = rec == "add_rt"
    out["below_mcid_among_add_rt"] = float(np.mean(small[told])) if told.any() else np.nan
    if "s_ici_12mo" in pred:
        for arm in ("ici", "rt_ici"):
            out[f"mean_s12_error_{arm}"] = float(np.mean(pred[f"s_{arm}_12mo"])
                                                 - truth[f"cond_s_{arm}_12mo"].mean())
    return out


def real_world_prognosis(seed: int):
    """The ICI prognosis model (PFS, boosted) fitted on all 1,110 real patients, in-process."""
    from models.prognosis import PrognosisModel
    from training.prognosis_bundle import PrognosisBundle
    from training.prognosis_data import load_prognosis_data

    data = load_prognosis_data(PUBLIC_ICI / "nsclc_ici_cohorts.csv")
    y = data.Y("pfs")
    model = PrognosisModel(random_state=seed).fit(y, data.X.loc[y.index])
    return PrognosisBundle({"pfs": model}, {"synthetic": False}, {})


def virtual_trial_rows(args, workdir: Path, out_csv: Path | None) -> list[dict]:
    rows, per_patient = [], {}
    prognosis = real_world_prognosis(args.seed) if any(
        name.endswith("+prognosis") for name in args.learners) else None
    for scenario in args.scenarios:
        test_dir = write_trial(workdir / f"test_{scenario}", n_patients=args.test_patients,
                               seed=trial_seed(args.seed, scenario, 0, 0), scenario=scenario)
        test = read_trial(test_dir)
        truth = pd.read_csv(test_dir / "truth.csv", dtype={"patient_id": str}).set_index(
            "patient_id").loc[test.Y.index]
        replicates = range(args.first_replicate, args.first_replicate + args.replicates)
        for n in args.sizes:
            # one task per replicate: in order here, or Dask tasks with --scheduler (each
            # replicate has its own seed, so where it runs does not change its rows)
            with on_cluster(args.scheduler):
                if args.scheduler:
                    results = Parallel(n_jobs=-1, return_as="generator")(
                        delayed(replicate_results)(args, scenario, n, r, test.available, truth,
                                                   prognosis, None)
                        for r in replicates)
                else:
                    results = (replicate_results(args, scenario, n, r, test.available, truth,
                                                 prognosis, workdir)
                               for r in replicates)
                for r, results_r in zip(replicates, results, strict=True):
                    for row, pred in results_r:
                        rows.append(row)
                        for k in ESTIMANDS:
                            per_patient.setdefault((scenario, n, row["learner"], k),
                                                   []).append(pred[k])
                        if out_csv is not None:
                            _append(out_csv, row)
                    print(f"{scenario} n={n} replicate {r + 1} of {replicates[-1] + 1} done",
                          flush=True)
            for name in args.learners:
                for k in ESTIMANDS:
                    preds = per_patient.pop((scenario, n, name, k), None)
                    if preds is None:
                        continue
                    p = np.array(preds)
                    true = truth[f"cond_{k}"].to_numpy()
                    for row in rows:
                        if (row["scenario"], row["n"], row["learner"]) == (scenario, n, name):
                            row[f"bias2_{k}"] = float(np.mean((p.mean(0) - true) ** 2))
                            row[f"variance_{k}"] = float(np.mean(p.var(0)))
    return rows


def replicate_results(args, scenario: str, n: int, r: int, test_features: pd.DataFrame,
                      truth: pd.DataFrame, prognosis, workdir: Path | None) -> list[tuple]:
    """Every learner on replicate ``r``: (row, predictions) pairs. ``workdir`` None (a Dask
    worker): the trial and the "served" learner's MLflow store go to a directory of its own."""
    if workdir is None:
        from common.settings import get_settings

        with tempfile.TemporaryDirectory() as tmp:
            isolated_mlflow(Path(tmp))
            get_settings.cache_clear()
            return replicate_results(args, scenario, n, r, test_features, truth, prognosis,
                                     Path(tmp))
    seed = trial_seed(args.seed, scenario, n, r + 1)
    train_dir = write_trial(workdir / "train", n_patients=n, seed=seed, scenario=scenario,
                            overwrite=True)
    train = load_training_data(train_dir)
    train.source = train_dir  # the "served" learner trains from the files
    X_test = test_features.reindex(columns=train.X.columns)
    out = []
    for name in args.learners:
        started = time.perf_counter()
        pred = learner_predictions(name, train, X_test, args.bootstrap, seed, prognosis,
                                   test_features)
        if pred is None:
            continue
        out.append(({"scenario": scenario, "n": n, "replicate": r, "learner": name,
                     "train_seed": seed, **replicate_metrics(pred, truth),
                     **gate_metrics(pred, truth),
                     "fit_seconds": time.perf_counter() - started}, pred))
    return out


def gate_metrics(pred: dict, truth: pd.DataFrame) -> dict[str, float]:
    """For "served": the gate's BLP estimate and both answers it chooses between (the
    ensemble's individual effects and the trial's average), each scored on the truth."""
    if "gate" not in pred:
        return {}
    gate = pred["gate"] or {}
    out = {f"gate_{k}": gate.get(k, np.nan) for k in ("slope", "slope_se", "p_value")}
    for answer in ("individual", "average"):
        metrics = replicate_metrics(pred[answer], truth)
        out.update({f"{answer}_{k}": metrics.get(k, np.nan) for k in GATE_ANSWER_FIELDS})
    return out


GATE_ANSWER_FIELDS = ("pehe_rmst_gain_12mo", "pehe_pfs_gain_6mo", "coverage_rmst_gain_12mo",
                      "coverage_pfs_gain_6mo", "worst_decile_coverage_rmst_gain_12mo",
                      "worst_decile_coverage_pfs_gain_6mo", "add_rt_among_below_mcid",
                      "below_mcid_among_add_rt", "add_rt_share")
METRIC_FIELDS = [
    *[f"{m}_{k}" for k in ESTIMANDS for m in (
        "pehe", "pehe_over_sd", "spearman", "mean_error", "coverage", "worst_decile_coverage")],
    "add_rt_share", "uncertain_share", "add_rt_among_below_mcid", "below_mcid_among_add_rt",
    "mean_s12_error_ici",
    "mean_s12_error_rt_ici",
    "gate_slope", "gate_slope_se", "gate_p_value",
    *[f"{a}_{k}" for a in ("individual", "average") for k in GATE_ANSWER_FIELDS],
]
CSV_FIELDS = ["scenario", "n", "replicate", "learner", "train_seed", *METRIC_FIELDS,
              "fit_seconds"]


def _append(path: Path, row: dict) -> None:
    """One row in the fixed CSV_FIELDS order (a learner without intervals leaves those empty)."""
    new = not path.exists()
    with open(path, "a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS, restval="", extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow(row)


def summary(rows: list[dict]) -> pd.DataFrame:
    """Mean over replicates per (scenario, n, learner), with the spread of coverage."""
    df = pd.DataFrame(rows)
    keys = ["scenario", "n", "learner"]
    cols = [c for c in df.columns if c not in (*keys, "replicate", "train_seed")]
    agg = df.groupby(keys, sort=False)[cols].mean()
    agg.insert(0, "replicates", df.groupby(keys, sort=False).size())
    return agg.reset_index()


def semi_synthetic_rows(n_bootstrap: int, seed: int, workdir: Path) -> list[dict]:
    from lifelines import WeibullAFTFitter

    path = PUBLIC_ICI / "nsclc_ici_cohorts.csv"
    if not path.exists():
        print(f"skipping the semi-synthetic cohort: {path} not found")
        return []
    real = pd.read_csv(path)
    real = real[(real["pfs_months"] > 0) & real["pfs_event"].notna()].reset_index(drop=True)
    rng = np.random.default_rng(seed)
    covariates = ["tmb", "albumin", "nlr", "age", "sex"]
    # S_ICI(t | x): a Weibull AFT fit of the real ICI-alone PFS (the stated assumption).
    fit_frame = real[[*covariates, "pfs_months", "pfs_event"]].copy()
    fit_frame[covariates] = fit_frame[covariates].fillna(fit_frame[covariates].median())
    fit_frame["log_tmb"] = np.log1p(fit_frame.pop("tmb"))
    aft = WeibullAFTFitter(penalizer=0.01).fit(fit_frame, "pfs_months", "pfs_event")
    cold = ((real["pdl1_tps"] < 1) | (real["tmb"] < 10)).to_numpy()
    beta = np.where(cold, 0.9, 0.15)  # log time ratio of adding RT (AFT)
    arm = rng.integers(0, 2, len(real))
    factor = np.exp(beta * arm)
    clinical = pd.DataFrame({
        "patient_id": [f"R{i:04d}" for i in range(len(real))],
        "arm": arm,
        "pfs_months": real["pfs_months"] * factor,
        "pfs_event": real["pfs_event"].astype(int),
        "tmb": real["tmb"], "pdl1_tps": real["pdl1_tps"], "albumin": real["albumin"],
        "nlr": real["nlr"], "age": real["age"].clip(18, 110),
        "sex": real["sex"].map({1: "M", 0: "F"}),
        "prior_lines": real["prior_systemic_therapy"],
    })
    # True 6-month gain: S(6 exp(-beta) | x) - S(6 | x) under the Weibull AFT fit.
    x = fit_frame.drop(columns=["pfs_months", "pfs_event"])
    s = aft.predict_survival_function(x, times=[6.0]).to_numpy()[0]
    s_rt = np.array([
        aft.predict_survival_function(x.iloc[[i]], times=[6.0 * np.exp(-b)]).to_numpy()[0, 0]
        for i, b in enumerate(beta)
    ])
    true_gain = s_rt - s
    cohort = workdir / "semi_synthetic"
    cohort.mkdir()
    clinical.to_csv(cohort / "clinical.csv", index=False)
    (cohort / "cohort.json").write_text(
        '{"name": "semi-synthetic public ICI", "synthetic": true, "description": "real '
        'covariates and ICI-alone PFS; the RT effect is SIMULATED"}\n'
    )
    data = load_training_data(cohort)
    train_idx = rng.permutation(data.n)[: int(0.6 * data.n)]
    test_idx = np.setdiff1d(np.arange(data.n), train_idx)
    train, test = data.subset(train_idx), data.subset(test_idx)
    train.source = workdir / "semi_synthetic_train"  # the "served" learner trains from files
    train.source.mkdir()
    clinical.iloc[train_idx].to_csv(train.source / "clinical.csv", index=False)
    (train.source / "cohort.json").write_text((cohort / "cohort.json").read_text())
    true = true_gain[test_idx]
    rows = []
    for name in ("treat-all", *LEARNERS, "econml", "served"):
        started = time.perf_counter()
        pred = learner_predictions(name, train, test.X, n_bootstrap, seed,
                                   test_features=test.available)
        if pred is None:
            continue
        est = pred["pfs_gain_6mo"]
        varies = np.std(est) > 0
        row = {"cohort": f"semi-synthetic real ICI n={len(train_idx)}", "learner": name,
               "pehe_6mo": pehe(est, true),
               "spearman_6mo": spearman(est, true) if varies else np.nan,
               "auroc_benefiters": auroc_benefiters(est, true, BENEFITER_THRESHOLD)
               if varies else 0.5}
        if "pfs_gain_6mo_lower" in pred:
            row["coverage_90"] = float(np.mean((pred["pfs_gain_6mo_lower"] <= true)
                                               & (true <= pred["pfs_gain_6mo_upper"])))
        rows.append({**row, "fit_seconds": time.perf_counter() - started})
    return rows


def isolated_mlflow(workdir: Path) -> None:
    """The "served" learner logs MLflow runs: into a store in ``workdir``, never mlflow.db."""
    import os

    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    for var in ("MLFLOW_TRACKING_URI", "ABSCOPAL_TRACKING_URI"):
        os.environ[var] = uri
    for var, value in OFFLINE_ENV.items():
        os.environ.setdefault(var, value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="72,300,1000,5000")
    parser.add_argument("--replicates", type=int, default=20)
    parser.add_argument("--scenarios", default=",".join(
        ["published", "weak", "null", "harm", "latent", "missing"]))
    parser.add_argument("--learners", default="treat-all,risk,t,s,dr,econml")
    # the product's number of members by default: the interval's ends are order statistics of
    # the members, and its coverage was measured to depend on their number (docs/benchmarks.md,
    # "Twenty members or fifty")
    parser.add_argument("--bootstrap", type=int,
                        default=TrainConfig.__dataclass_fields__["n_bootstrap"].default)
    parser.add_argument("--first-replicate", type=int, default=0,
                        help="start here (extend an earlier run with the next trials)")
    parser.add_argument("--test-patients", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--out", type=Path, default=None, help="append per-replicate rows here")
    parser.add_argument("--semi-synthetic", action="store_true")
    parser.add_argument("--scheduler", default=None,
                        help="dask.distributed scheduler address: replicates run as tasks there")
    args = parser.parse_args()
    args.sizes = [int(s) for s in args.sizes.split(",")]
    args.scenarios = args.scenarios.split(",")
    args.learners = args.learners.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        isolated_mlflow(Path(tmp))
        rows = virtual_trial_rows(args, Path(tmp), args.out)
        semi = semi_synthetic_rows(args.bootstrap, args.seed, Path(tmp)) \
            if args.semi_synthetic else []
    if rows:  # none with --replicates 0 (the semi-synthetic cohort alone)
        print()
        with pd.option_context("display.width", 250, "display.max_columns", 60):
            print(summary(rows).round(3).to_markdown(index=False, floatfmt=".3f"))
    if semi:
        print()
        print(pd.DataFrame(semi).to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
