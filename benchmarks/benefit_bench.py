"""Benefit learners side by side on the virtual trial and on a semi-synthetic real-data cohort.

    .venv/bin/python benchmarks/benefit_bench.py [--sizes 72,300,1000,5000] [--bootstrap 20]

For each training size: simulate a virtual PEMBRO-RT trial (SYNTHETIC), fit every learner
(bootstrap intervals), and score a fresh 2,000-patient test trial against its truth.csv: PEHE and
Spearman of the 6-month PFS gain, AUROC for true benefiters (true 6-month gain > 0.10), coverage of
the 90% interval, and fit time. "treat-all" predicts everyone the trial's own Kaplan-Meier average
gain: a learner is only useful once its PEHE beats it. The reference learner is EconML's
CausalForestDML on the same IPCW pseudo-outcome of 6-month PFS (the known propensity 0.5 as its
treatment model).

Semi-synthetic cohort: the 1,110 real ICI-treated NSCLC patients of ../shared/data/public_ici keep
their covariates and real ICI-alone PFS; half are randomised to "RT", whose PFS (and censoring) is
stretched by an accelerated-failure-time factor exp(beta(x)) that is larger in cold tumours
(PD-L1 < 1% or TMB < 10). The true per-patient gain uses a Weibull AFT fit of the real ICI-alone
PFS as S_ICI(t | x) - an assumption stated here, since real patients have no known curve.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from cohorts.simulate import write_trial
from models import make_learner
from models.metrics import auroc_benefiters, pehe, spearman
from models.survival import km_survival_at
from training.data import load_training_data, read_trial

BENEFITER_THRESHOLD = 0.10
PUBLIC_ICI = Path(__file__).resolve().parents[2] / "shared" / "data" / "public_ici"


def treat_all_gain(Y: pd.DataFrame, T: pd.Series, horizon: float = 6.0) -> float:
    t, e, a = Y["time"].to_numpy(), Y["event"].to_numpy(), T.to_numpy()
    return km_survival_at(t[a == 1], e[a == 1], horizon) - km_survival_at(t[a == 0], e[a == 0],
                                                                          horizon)


def score(name, gain, lower, upper, true_gain, seconds) -> dict:
    inside = None if lower is None else (lower <= true_gain) & (true_gain <= upper)
    covered = np.nan if inside is None else float(np.mean(inside))
    return {
        "learner": name,
        "pehe_6mo": pehe(gain, true_gain),
        "spearman_6mo": spearman(gain, true_gain) if np.std(gain) > 0 else float("nan"),
        "auroc_benefiters": auroc_benefiters(gain, true_gain, BENEFITER_THRESHOLD)
        if np.std(gain) > 0 else float("nan"),
        "coverage_90": covered,
        "fit_seconds": seconds,
    }


def econml_reference(train, X_test, true_gain) -> dict | None:
    try:
        from econml.dml import CausalForestDML
        from sklearn.dummy import DummyClassifier
        from sklearn.ensemble import HistGradientBoostingRegressor
    except ImportError:
        return None
    from models.pseudo_outcomes import ipcw_outcomes

    started = time.perf_counter()
    y_star = ipcw_outcomes(train.Y["time"].to_numpy(), train.Y["event"].to_numpy(),
                           train.T.to_numpy())["pfs_gain_6mo"]
    medians = train.X.median()
    forest = CausalForestDML(
        model_y=HistGradientBoostingRegressor(max_depth=3, max_iter=100),
        model_t=DummyClassifier(strategy="prior"),
        discrete_treatment=True, n_estimators=200, random_state=0,
    )
    forest.fit(y_star, train.T.to_numpy(), X=train.X.fillna(medians).to_numpy())
    Xt = X_test.fillna(medians).to_numpy()
    gain = forest.effect(Xt)
    lo, hi = forest.effect_interval(Xt, alpha=0.1)
    return score("econml CausalForestDML", gain, lo, hi, true_gain, time.perf_counter() - started)


def run_learners(train, X_test, true_gain, n_bootstrap: int, seed: int) -> list[dict]:
    constant = np.full(len(true_gain), treat_all_gain(train.Y, train.T))
    rows = [score("treat-all (KM average)", constant, None, None, true_gain, 0.0)]
    for name in ("risk", "t", "s", "dr"):
        started = time.perf_counter()
        model = make_learner(name, n_bootstrap=n_bootstrap, random_state=seed).fit(
            train.Y, train.T, train.X
        )
        seconds = time.perf_counter() - started
        table = model.predict_benefit(X_test)
        rows.append(score(name, table["pfs_gain_6mo"].to_numpy(),
                          table["pfs_gain_6mo_lower"].to_numpy(),
                          table["pfs_gain_6mo_upper"].to_numpy(), true_gain, seconds))
    ref = econml_reference(train, X_test, true_gain)
    if ref:
        rows.append(ref)
    return rows


def virtual_trial_rows(sizes, n_bootstrap, seed, workdir: Path) -> list[dict]:
    test_dir = write_trial(workdir / "test", n_patients=2000, seed=seed + 1000)
    test = read_trial(test_dir)
    truth = pd.read_csv(test_dir / "truth.csv", dtype={"patient_id": str}).set_index("patient_id")
    true_gain = truth.loc[test.Y.index, "true_pfs_gain_6mo"].to_numpy()
    rows = []
    for n in sizes:
        train_dir = write_trial(workdir / f"train_{n}", n_patients=n, seed=seed + n)
        train = load_training_data(train_dir)
        X_test = test.available.reindex(columns=train.X.columns)
        for row in run_learners(train, X_test, true_gain, n_bootstrap, seed):
            rows.append({"cohort": f"virtual trial n={n}", **row})
        print(pd.DataFrame(rows).tail(6).round(3).to_string(index=False), flush=True)
    return rows


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
    rows = run_learners(train, test.X, true_gain[test_idx], n_bootstrap, seed)
    return [{"cohort": f"semi-synthetic real ICI n={len(train_idx)}", **r} for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="72,300,1000,5000")
    parser.add_argument("--bootstrap", type=int, default=20)
    parser.add_argument("--seed", type=int, default=2025)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        rows = virtual_trial_rows(sizes, args.bootstrap, args.seed, Path(tmp))
        rows += semi_synthetic_rows(args.bootstrap, args.seed, Path(tmp))
    table = pd.DataFrame(rows)
    print()
    print(table.to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
