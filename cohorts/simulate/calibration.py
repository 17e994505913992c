"""Published PEMBRO-RT figures beside the same figures computed from a written virtual trial.

Everything simulated is computed from the cohort's files with lifelines (never from the
simulator's parameters). Used for the table in docs/virtual-trial.md:

    python -m cohorts.simulate.calibration DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.utils import restricted_mean_survival_time

from cohorts.io import read_clinical

# (label, published value as text, source); Theelen et al., JAMA Oncol 2019 unless stated.
PUBLISHED = {
    "median PFS, ICI alone (months)": ("1.9 (Huang 2025: 1.81)", "Theelen 2019"),
    "median PFS, RT then ICI (months)": ("6.6 (Huang 2025: 5.2)", "Theelen 2019"),
    "12-week ORR, ICI alone": ("18%", "Theelen 2019"),
    "12-week ORR, RT then ICI": ("36%", "Theelen 2019"),
    "PFS HR (RT vs ICI)": ("0.71 (0.42-1.18)", "Theelen 2019"),
    "median OS, ICI alone (months)": ("7.6", "Theelen 2019"),
    "median OS, RT then ICI (months)": ("15.9", "Theelen 2019"),
    "OS HR (RT vs ICI)": ("0.66 (0.37-1.18)", "Theelen 2019"),
    "PD-L1 negative (<1%) share": ("62% (47/76)", "Theelen 2019"),
    "PFS HR, PD-L1 negative": ("approx. 0.49", "Theelen 2019 (secondary reporting)"),
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
    c = read_clinical(Path(cohort) / "clinical.csv")
    ici, rt = c[c["arm"] == 0], c[c["arm"] == 1]
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
        "PD-L1 negative (<1%) share": f"{len(neg) / len(c):.1%}",
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


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        raise SystemExit("usage: python -m cohorts.simulate.calibration COHORT_DIR")
    table = calibration_table(argv[0])
    print(f"{len(read_clinical(Path(argv[0]) / 'clinical.csv'))} simulated patients\n")
    print("| " + " | ".join(table.columns) + " |")
    print("|" + "---|" * len(table.columns))
    for row in table.itertuples(index=False):
        print("| " + " | ".join(map(str, row)) + " |")


if __name__ == "__main__":
    main()
