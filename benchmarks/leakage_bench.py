"""Benchmark: how close legitimate baseline features come to the outcome-leakage guard's limits.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/leakage_bench.py [--sizes 300,1000,5000]
        [--seeds 2025,2026] [--scenarios published,strong]

The guard (``models.guard.check_outcome_leakage``) refuses a feature whose concordance with the
censored outcome, ``max(C, 1 - C)``, exceeds 0.85, or 0.95 over the pairs it does not tie. This
prints, per cohort, the largest figure any legitimate feature reaches, and which feature: the
virtual trial (SYNTHETIC; every feature training would use, read through
``training.data.load_training_data``; seeds above the first only below 5,000 patients) and
ACTG 320 (Hammer et al., NEJM 1997; scikit-survival's ``load_aids``, its covariates but the arm,
against AIDS or death and against death alone). A renamed outcome scores 0.94-1.0
(``tests/adversarial/test_leakage.py``).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pandas as pd

from cohorts.simulate import write_trial
from models.guard import check_outcome_leakage


def _largest(name: str, X: pd.DataFrame, time, event) -> dict:
    figures = check_outcome_leakage(X, time, event, allow=X.columns)  # measured, never refused
    table = pd.DataFrame(figures).T
    row = {"cohort": name, "n": len(X), "events": int(pd.Series(event).sum()),
           "features": len(table)}
    for key in ("concordance", "untied_concordance"):
        best = table[key].astype(float).idxmax()
        row[key] = f"{table.loc[best, key]:.3f} ({best})"
    return row


def _virtual_trials(sizes, seeds, scenarios, tmp: Path):
    from training.data import load_training_data

    for scenario in scenarios:
        for n in sizes:
            for seed in seeds if n < 5000 else seeds[:1]:
                path = write_trial(tmp / f"{scenario}_{n}_{seed}", n_patients=n, seed=seed,
                                   scenario=scenario)
                data = load_training_data(path, allow_features=None)
                yield _largest(f"virtual trial {scenario}, seed {seed}", data.X,
                               data.Y["time"].to_numpy(), data.Y["event"].to_numpy())


def _actg320():
    from sksurv.datasets import load_aids

    for endpoint, label in (("aids", "AIDS or death"), ("death", "death")):
        X, y = load_aids(endpoint=endpoint)
        X = X.drop(columns=["tx", "txgrp"])  # the randomised treatment, not a covariate
        X = X.apply(lambda column: pd.to_numeric(column.astype(str)))
        event_col, time_col = ("censor", "time") if endpoint == "aids" else ("censor_d", "time_d")
        yield _largest(f"ACTG 320, {label}", X, y[time_col], y[event_col].astype(int))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="300,1000,5000")
    parser.add_argument("--seeds", default="2025,2026")
    parser.add_argument("--scenarios", default="published,strong")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    with tempfile.TemporaryDirectory(prefix="leakage_bench_") as tmp:
        rows = list(_virtual_trials(sizes, seeds, args.scenarios.split(","), Path(tmp)))
    rows += list(_actg320())
    print(pd.DataFrame(rows).to_markdown(index=False))


if __name__ == "__main__":
    main()
