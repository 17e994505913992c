"""Published PEMBRO-RT figures beside the same figures computed from a written virtual trial,
then a difficulty report: how much of the true benefit the observed inputs can explain.

Everything simulated is computed from the cohort's files (clinical.csv with lifelines, the
modality files, truth.csv), never from the simulator's parameters. Used for the tables in
docs/virtual-trial.md:

    python -m cohorts.simulate.calibration DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.utils import restricted_mean_survival_time

from cohorts.io import (
    CLINICAL_FILE,
    EXPRESSION_FILE,
    MAF_FILE,
    TCR_DIR,
    TRUTH_FILE,
    read_clinical,
)
from cohorts.readers import read_maf

# (label, published value as text, source); Theelen et al., JAMA Oncol 2019 unless stated.
PUBLISHED = {
    "median PFS, ICI alone (months)": ("1.9 (Huang 2025: 1.81)", "Theelen 2019"),
    "median PFS, RT then ICI (months)": ("6.6 (Huang 2025: 5.2)", "Theelen 2019"),
    "12-week ORR, ICI alone": ("18%", "Theelen 2019"),
    "12-week ORR, RT then ICI": ("36%", "Theelen 2019"),
    "PFS HR (RT vs ICI)": ("0.71 (0.42-1.18) (target 0.55-0.85)", "Theelen 2019"),
    "median OS, ICI alone (months)": ("7.6", "Theelen 2019"),
    "median OS, RT then ICI (months)": ("15.9", "Theelen 2019"),
    "OS HR (RT vs ICI)": ("0.66 (0.37-1.18)", "Theelen 2019"),
    "PD-L1 negative (<1%) share": ("62% (47/76)", "Theelen 2019"),
    "PFS HR, PD-L1 negative": ("approx. 0.49 (target 0.35-0.70)",
                               "Theelen 2019 (secondary reporting)"),
    "PFS HR, PD-L1 positive (>=1%)": ("no benefit", "Theelen 2019"),
    "PFS HR, PD-L1 >= 50%": ("-", ""),
    "12-month RMST gain, PD-L1 negative (months)": ("-", ""),
    "12-month RMST gain, PD-L1 >= 50% (months)": ("-", ""),
    "TMB median, ICI arm (mut/Mb)": ("7.0 (real cohort)", "public_ici CSV"),
    "STK11 mutated": ("13.6%", "Shire 2020"),
    "KRAS + STK11 co-mutated": ("6.5%", "Shire 2020"),
}


def _km_median(d: pd.DataFrame, time: str, event: str) -> float:
    return float(KaplanMeierFitter().fit(d[time], d[event]).median_survival_time_)


def _hr(d: pd.DataFrame, time: str = "pfs_months", event: str = "pfs_event") -> str:
    cph = CoxPHFitter().fit(d[[time, event, "arm"]], time, event)
    lo, hi = np.exp(cph.confidence_intervals_.loc["arm"]).to_numpy()
    return f"{np.exp(cph.params_['arm']):.2f} ({lo:.2f}-{hi:.2f})"


def _rmst_gain(d: pd.DataFrame, tau: float = 12.0) -> float:
    r = [restricted_mean_survival_time(
        KaplanMeierFitter().fit(g["pfs_months"], g["pfs_event"]), t=tau)
        for _, g in d.groupby("arm")]
    return float(r[1] - r[0])


def calibration_table(cohort: str | Path) -> pd.DataFrame:
    """Rows: quantity, published, source, simulated (computed from ``cohort``/clinical.csv)."""
    c = read_clinical(Path(cohort) / CLINICAL_FILE)
    ici, rt = c[c["arm"] == 0], c[c["arm"] == 1]
    # PD-L1 subgroups among patients with a PD-L1 result (missing TPS is in neither)
    neg, pos, high = c[c["pdl1_tps"] < 1], c[c["pdl1_tps"] >= 1], c[c["pdl1_tps"] >= 50]
    orr = [g["best_response"].isin(["CR", "PR"]).mean() for g in (ici, rt)]
    sim = {
        "median PFS, ICI alone (months)": f"{_km_median(ici, 'pfs_months', 'pfs_event'):.2f}",
        "median PFS, RT then ICI (months)": f"{_km_median(rt, 'pfs_months', 'pfs_event'):.2f}",
        "12-week ORR, ICI alone": f"{orr[0]:.1%}",
        "12-week ORR, RT then ICI": f"{orr[1]:.1%}",
        "PFS HR (RT vs ICI)": _hr(c),
        "median OS, ICI alone (months)": f"{_km_median(ici, 'os_months', 'os_event'):.2f}",
        "median OS, RT then ICI (months)": f"{_km_median(rt, 'os_months', 'os_event'):.2f}",
        "OS HR (RT vs ICI)": _hr(c, "os_months", "os_event"),
        "PD-L1 negative (<1%) share": f"{len(neg) / c['pdl1_tps'].notna().sum():.1%}",
        "PFS HR, PD-L1 negative": _hr(neg),
        "PFS HR, PD-L1 positive (>=1%)": _hr(pos),
        "PFS HR, PD-L1 >= 50%": _hr(high),
        "12-month RMST gain, PD-L1 negative (months)": f"{_rmst_gain(neg):.2f}",
        "12-month RMST gain, PD-L1 >= 50% (months)": f"{_rmst_gain(high):.2f}",
        "TMB median, ICI arm (mut/Mb)": f"{ici['tmb'].median():.2f}",
        "STK11 mutated": f"{c['stk11_mut'].mean():.1%}",
        "KRAS + STK11 co-mutated": f"{(c['stk11_mut'] * c['kras_mut']).mean():.1%}",
    }
    return pd.DataFrame([
        {"quantity": k, "published": v[0], "source": v[1], "simulated": sim[k]}
        for k, v in PUBLISHED.items()
    ])


HORIZON = 12.0
GAINS = ("rmst_gain_12mo", "pfs_gain_6mo")


def censoring_table(cohort: str | Path) -> pd.DataFrame:
    """Censoring by arm: share censored before 12 months, and the follow-up of the censored."""
    c = read_clinical(Path(cohort) / CLINICAL_FILE)
    rows = []
    for label, g in (("ICI alone", c[c["arm"] == 0]), ("RT then ICI", c[c["arm"] == 1]),
                     ("all", c)):
        censored = g[g["pfs_event"] == 0]
        early = (censored["pfs_months"] < HORIZON).sum()
        # reverse Kaplan-Meier: median potential follow-up (censoring as the event)
        follow = KaplanMeierFitter().fit(g["pfs_months"], 1 - g["pfs_event"])
        rows.append({
            "arm": label, "patients": len(g), "censored": len(censored),
            "censored before 12 months": f"{early / len(g):.1%}",
            "censoring times (months), min-max":
                f"{censored['pfs_months'].min():.1f}-{censored['pfs_months'].max():.1f}",
            "median follow-up, reverse KM (months)": f"{follow.median_survival_time_:.1f}",
        })
    return pd.DataFrame(rows)


def missingness_table(cohort: str | Path) -> pd.DataFrame:
    """Share of patients whose files lack each modality (computed from the files)."""
    root = Path(cohort)
    c = read_clinical(root / CLINICAL_FILE)
    ids = c["patient_id"]
    rows = {"PD-L1 (clinical pdl1_tps empty)": c["pdl1_tps"].isna().mean()}
    if (root / MAF_FILE).exists():
        sequenced = set(read_maf(root / MAF_FILE)["Tumor_Sample_Barcode"])
        rows["mutations (no MAF rows, tmb empty)"] = (~ids.isin(sequenced)
                                                      & c["tmb"].isna()).mean()
    if (root / EXPRESSION_FILE).exists():
        with open(root / EXPRESSION_FILE) as fh:
            header = set(fh.readline().rstrip("\n").split("\t")[1:])
        rows["expression (no column in expression.tsv)"] = (~ids.isin(header)).mean()
    for tp in ("baseline", "on_treatment"):
        d = root / TCR_DIR / tp
        if d.exists():
            have = {p.stem for p in d.glob("*.tsv")}
            rows[f"TCR repertoire, {tp} (no file)"] = (~ids.isin(have)).mean()
    return pd.DataFrame([{"modality": k, "missing": f"{v:.1%}"} for k, v in rows.items()])


def observed_inputs(clinical: pd.DataFrame, expression: pd.DataFrame | None = None,
                    mutations: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every baseline input of a cohort as one numeric frame indexed by patient_id (NaN = not
    measured): clinical columns (categories one-hot), each expression gene's log2(TPM + 1)
    (``expression``: the expression.tsv layout), each MAF gene's non-synonymous call count.

    Baseline TCR and ctDNA are left out (reading 10,000 repertoires is slow, and in this
    simulator they carry nothing about the effect); the feature-based oracle in
    tests/features/test_simulated_difficulty.py includes them.
    """
    from cohorts.schema import NONSYNONYMOUS_CLASSIFICATIONS

    x = clinical.drop(columns=["arm", "pfs_months", "pfs_event", "os_months", "os_event",
                               "best_response"], errors="ignore").set_index("patient_id")
    x = pd.get_dummies(x, columns=["sex", "histology", "smoking_status"], dtype=float)
    parts = [x.astype(float)]
    if expression is not None:
        parts.append(np.log2(expression.set_index("gene").T + 1).add_prefix("expr_"))
    if mutations is not None:
        maf = mutations[mutations["Variant_Classification"].isin(NONSYNONYMOUS_CLASSIFICATIONS)]
        counts = pd.crosstab(maf["Tumor_Sample_Barcode"], maf["Hugo_Symbol"])
        counts = counts.reindex(x.index).fillna(0.0).add_prefix("maf_")
        counts[x["tmb"].isna().to_numpy()] = np.nan  # not sequenced
        parts.append(counts)
    return pd.concat(parts, axis=1).reindex(x.index)


def _observed_inputs(root: Path, c: pd.DataFrame) -> pd.DataFrame:
    expr = (pd.read_csv(root / EXPRESSION_FILE, sep="\t")
            if (root / EXPRESSION_FILE).exists() else None)
    maf = read_maf(root / MAF_FILE) if (root / MAF_FILE).exists() else None
    return observed_inputs(c, expr, maf)


def holdout_r2(x: pd.DataFrame, y: np.ndarray, seed: int = 0) -> float:
    """Gradient boosting trained on the first half of the patients, R^2 on the second half."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.metrics import r2_score

    half = len(y) // 2
    gbm = HistGradientBoostingRegressor(max_iter=400, learning_rate=0.05, max_leaf_nodes=15,
                                        early_stopping=True, random_state=seed)
    gbm.fit(x.iloc[:half], y[:half])
    return float(r2_score(y[half:], gbm.predict(x.iloc[half:])))


def difficulty_table(cohort: str | Path) -> pd.DataFrame:
    """How predictable is the true gain from what the files show? (needs truth.csv)

    - conditional R^2: 1 - mean((individual - conditional)^2) / var(individual), the share of the
      individual gain's variance that E[gain | inputs] explains (the ceiling for any model);
    - oracle R^2: gradient boosting on every observed baseline input, trained on the individual
      gain of the first half of the patients, scored on the second half;
    - PD-L1 alone: the same with the observed PD-L1 TPS (missing kept as missing) as only input.
    """
    root = Path(cohort)
    c = read_clinical(root / CLINICAL_FILE)
    truth = pd.read_csv(root / TRUTH_FILE, dtype={"patient_id": str}).set_index("patient_id")
    truth = truth.loc[c["patient_id"]]
    x = _observed_inputs(root, c)
    rows = []
    for g in GAINS:
        ind, cond = truth[f"true_{g}"].to_numpy(), truth[f"cond_{g}"].to_numpy()
        var = ind.var()
        if var == 0:
            rows.append({"estimand": g, "sd of individual gain": "0 (no effect)"})
            continue
        rows.append({
            "estimand": g,
            "sd of individual gain": f"{ind.std():.3f}",
            "sd of conditional gain": f"{cond.std():.3f}",
            "conditional R^2": f"{1 - np.mean((ind - cond) ** 2) / var:.2f}",
            "oracle R^2 (GBM, all inputs)": f"{holdout_r2(x, ind):.2f}",
            "R^2 of PD-L1 alone (GBM)": f"{holdout_r2(c[['pdl1_tps']], ind):.2f}",
            "mean MC s.e. of conditional": f"{truth[f'cond_mc_se_{g}'].mean():.4f}",
        })
    return pd.DataFrame(rows)


def _markdown(table: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        raise SystemExit("usage: python -m cohorts.simulate.calibration COHORT_DIR")
    root = Path(argv[0])
    print(f"{len(read_clinical(root / CLINICAL_FILE))} simulated patients\n")
    print(_markdown(calibration_table(root)), end="\n\n")
    print("Censoring (PFS)\n")
    print(_markdown(censoring_table(root)), end="\n\n")
    print("Missingness by modality\n")
    print(_markdown(missingness_table(root)), end="\n\n")
    if (root / TRUTH_FILE).exists():
        print("Difficulty (from truth.csv)\n")
        print(_markdown(difficulty_table(root)))


if __name__ == "__main__":
    main()
