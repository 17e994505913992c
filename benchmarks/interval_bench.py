"""Which interval from the bootstrap members? Constructions side by side (issue 11, "intervals
that cover").

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/interval_bench.py [--size 1000]
        [--replicates 4] [--first-replicate 0] [--scenarios published,harm] [--learner dr]
        [--members 20,50] [--out intervals.csv] [--deciles-out deciles.csv]

The training and test trials are benefit_bench.py's (same seeds: its rows for the learner are
this bench's ``percentile`` rows). Each training trial fits the learner's bootstrap ensemble once,
with the largest number of members asked for; a smaller number takes the first members of that
fit, which are exactly the members a fit of that size draws (same random stream). The learner is
also fitted once on the whole trial (its point estimate theta, for the constructions that need
it). From the same members' estimates m_b of each test patient (mean m):

- ``percentile``: the product's interval, numpy's linear quantiles of m_b at alpha/2 and
  1 - alpha/2, widened to contain m (``BootstrapBenefit``);
- ``weibull``: the same with numpy's "weibull" quantile, which places the k-th of B sorted
  values at k / (B + 1): its interval holds on average 1 - alpha of the members' distribution,
  where the linear one holds (B - 1)(1 - alpha) / (B + 1) (0.81 at B = 20, 0.86 at B = 50);
- ``centred``: the members shifted to mean theta (the interval around the full-data fit);
- ``bias-corrected``: shifted by the bootstrap bias estimate, to mean 2 theta - m;
- ``basic``: the reflected interval [2 theta - q_hi, 2 theta - q_lo].

The recommendation of each construction is the rule of models/recommend.py on the members as that
construction moves them (unchanged for the two percentile intervals). Scored as in benefit_bench:
coverage of the conditional truth overall and in the worst decile, both estimands, and the share
told ``add_rt`` among patients whose true 12-month RMST gain is below the MCID.

``--deciles-out`` also writes, for every construction, each decile of the true 12-month RMST
gain's mean true gain, mean error of the estimate (its bias there), mean interval half-width,
coverage and shares told ``add_rt`` and ``no_added_benefit``; the product's rows
(``percentile``, the most members) are printed, averaged over the trials: where an interval
misses, it shows on which side and by how much, and what those patients are told.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from benefit_bench import ESTIMANDS, replicate_metrics, trial_seed, true_gain_deciles

from cohorts.simulate import write_trial
from models import make_learner
from models.recommend import RecommendationRule, recommend
from training.data import load_training_data, read_trial

ALPHA = 0.1
CONSTRUCTIONS = ("percentile", "weibull", "centred", "bias-corrected", "basic")
DECILE_ESTIMAND = "rmst_gain_12mo"
SCORED = ("coverage_rmst_gain_12mo", "worst_decile_coverage_rmst_gain_12mo",
          "coverage_pfs_gain_6mo", "worst_decile_coverage_pfs_gain_6mo",
          "add_rt_among_below_mcid", "below_mcid_among_add_rt", "add_rt_share",
          "pehe_rmst_gain_12mo")


def interval(construction: str, draws: np.ndarray, theta: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(estimate, lower, upper, draws as moved) of one construction from members' draws (B, n)
    and the full-data estimate theta (n,)."""
    q = (ALPHA / 2, 1 - ALPHA / 2)
    m = draws.mean(axis=0)
    if construction in ("percentile", "weibull"):
        lo, hi = np.quantile(draws, q, axis=0,
                             method="linear" if construction == "percentile" else "weibull")
        return m, np.minimum(lo, m), np.maximum(hi, m), draws
    if construction == "basic":
        moved = 2 * theta - draws
    else:
        moved = draws + (theta - m) * (1 if construction == "centred" else 2)
    lo, hi = np.quantile(moved, q, axis=0)
    return moved.mean(axis=0), lo, hi, moved


def decile_rows(est: np.ndarray, lower: np.ndarray, upper: np.ndarray, true: np.ndarray,
                recommendation: np.ndarray) -> list[dict]:
    """Per decile of the true gain (0 = smallest): mean true gain, bias of the estimate, interval
    half-width, coverage, and the shares told ``add_rt`` and ``no_added_benefit``."""
    decile = true_gain_deciles(true)
    inside = (lower <= true) & (true <= upper)
    rows = []
    for d in range(10):
        at = decile == d
        rows.append({"decile": d, "true_gain": float(true[at].mean()),
                     "bias": float((est - true)[at].mean()),
                     "half_width": float(((upper - lower) / 2)[at].mean()),
                     "coverage": float(inside[at].mean()),
                     "add_rt": float(np.mean(recommendation[at] == "add_rt")),
                     "no_added_benefit": float(np.mean(recommendation[at] == "no_added_benefit"))})
    return rows


def replicate_rows(scenario: str, n: int, r: int, args, workdir: Path, test_X: pd.DataFrame,
                   truth: pd.DataFrame) -> tuple[list[dict], list[dict]]:
    seed = trial_seed(args.seed, scenario, n, r + 1)
    train = load_training_data(write_trial(workdir / "train", n_patients=n, seed=seed,
                                           scenario=scenario, overwrite=True))
    X = test_X.reindex(columns=train.X.columns)
    ensemble = make_learner(args.learner, n_bootstrap=max(args.members),
                            random_state=seed).fit(train.Y, train.T, train.X)
    members = ensemble.member_effects(X)
    point = make_learner(args.learner, n_bootstrap=0, random_state=seed).fit(
        train.Y, train.T, train.X).effect_all(X)
    rule = RecommendationRule()
    rows, deciles = [], []
    for b in args.members:
        for construction in CONSTRUCTIONS:
            pred = {}
            for k in ESTIMANDS:
                est, lo, hi, moved = interval(construction, members[k][:b], point[k])
                pred.update({k: est, f"{k}_lower": lo, f"{k}_upper": hi})
                if k == "rmst_gain_12mo":
                    pred["recommendation"] = recommend(rule.probability(moved), rule)
            keys = {"scenario": scenario, "n": n, "replicate": r, "members": b,
                    "construction": construction, "train_seed": seed}
            rows.append({**keys, **replicate_metrics(pred, truth)})
            e = DECILE_ESTIMAND
            deciles += [{**keys, **row} for row in decile_rows(
                pred[e], pred[f"{e}_lower"], pred[f"{e}_upper"], truth[f"cond_{e}"].to_numpy(),
                np.asarray(pred["recommendation"]))]
    return rows, deciles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--replicates", type=int, default=4)
    parser.add_argument("--first-replicate", type=int, default=0,
                        help="start here (extend an earlier run with the next trials)")
    parser.add_argument("--scenarios", default="published,harm")
    parser.add_argument("--learner", default="dr")
    parser.add_argument("--members", default="20,50")
    parser.add_argument("--test-patients", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--out", type=Path, default=None, help="append per-replicate rows here")
    parser.add_argument("--deciles-out", type=Path, default=None,
                        help="append per-replicate, per-decile rows here (and print the product's)")
    args = parser.parse_args()
    args.members = sorted(int(b) for b in args.members.split(","))
    rows, deciles = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for scenario in args.scenarios.split(","):
            test_dir = write_trial(Path(tmp) / f"test_{scenario}", n_patients=args.test_patients,
                                   seed=trial_seed(args.seed, scenario, 0, 0), scenario=scenario)
            test = read_trial(test_dir)
            truth = pd.read_csv(test_dir / "truth.csv", dtype={"patient_id": str}).set_index(
                "patient_id").loc[test.Y.index]
            for r in range(args.first_replicate, args.first_replicate + args.replicates):
                new, new_deciles = replicate_rows(scenario, args.size, r, args, Path(tmp),
                                                  test.available, truth)
                rows += new
                deciles += new_deciles
                for path, kept in ((args.out, new), (args.deciles_out, new_deciles)):
                    if path is not None:  # kept as each replicate finishes
                        pd.DataFrame(kept).to_csv(path, mode="a", index=False,
                                                  header=not path.exists())
                print(f"{scenario} n={args.size} replicate {r + 1} done", flush=True)
    df = pd.DataFrame(rows)
    keys = ["scenario", "members", "construction"]
    table = df.groupby(keys, sort=False)[list(SCORED)].mean()
    table.insert(0, "lowest_coverage_rmst", df.groupby(keys, sort=False)[
        "coverage_rmst_gain_12mo"].min())
    print()
    print(table.reset_index().to_markdown(index=False, floatfmt=".3f"))
    if args.deciles_out is not None:
        product = pd.DataFrame(deciles).query(
            "construction == 'percentile' and members == @args.members[-1]")
        print(f"\nBy decile of the true {DECILE_ESTIMAND} (percentile, {args.members[-1]} members, "
              "mean over trials):")
        columns = ["true_gain", "bias", "half_width", "coverage", "add_rt", "no_added_benefit"]
        table = product.groupby(["scenario", "decile"], sort=False)[columns].mean()
        print(table.reset_index().to_markdown(index=False, floatfmt=".2f"))


if __name__ == "__main__":
    main()
