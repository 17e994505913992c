"""Which candidate does cross-validated selection pick, and by how much? (issue 11, item 5)

    .venv/bin/python benchmarks/selection_bench.py [--patients 750] [--seeds 101,102,103]
        [--scenarios published,null]

For each scenario and seed, a SYNTHETIC virtual trial of ``--patients`` patients (the training
part of a 1,000-patient trial after its 25% hold-out) goes through ``training.job.cross_validate``
with every learner and the constant (average-effect) model; prints each candidate's benefit loss
(mean squared error against covariate-adjusted doubly robust pseudo-outcomes), the winner, and
the standard deviation of the pseudo-outcome with arm means only and covariate-adjusted.
"""

from __future__ import annotations

import argparse
import tempfile
import warnings

from cohorts.simulate import write_trial
from training.criterion import SELECTION_ESTIMAND, adjusted_pseudo_outcomes, pseudo_outcomes
from training.data import load_training_data
from training.job import CANDIDATES, CONSTANT, cross_validate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=750)
    parser.add_argument("--seeds", default="101,102,103")
    parser.add_argument("--scenarios", default="published,null")
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    print("| scenario | seed | winner | " + " | ".join((*CANDIDATES, CONSTANT))
          + " | SD psi (arm means) | SD psi (adjusted) |")
    print("|---|---|---|" + "---|" * (len(CANDIDATES) + 3))
    for scenario in args.scenarios.split(","):
        for seed in map(int, args.seeds.split(",")):
            with tempfile.TemporaryDirectory() as tmp:
                data = load_training_data(write_trial(f"{tmp}/t", n_patients=args.patients,
                                                      seed=seed, scenario=scenario))
                cv = cross_validate(data, (*CANDIDATES, CONSTANT), args.folds, seed)
            sd_plain = pseudo_outcomes(data.Y, data.T)[SELECTION_ESTIMAND].std()
            sd_adjusted = adjusted_pseudo_outcomes(data.Y, data.T, data.X, n_folds=args.folds,
                                                   seed=seed)[SELECTION_ESTIMAND].std()
            loss = {k: v["metrics"]["benefit_loss"] for k, v in cv.items()}
            winner = min(loss, key=loss.get)
            print(f"| {scenario} | {seed} | {winner} | "
                  + " | ".join(f"{loss[k]:.2f}" for k in (*CANDIDATES, CONSTANT))
                  + f" | {sd_plain:.2f} | {sd_adjusted:.2f} |",
                  flush=True)


if __name__ == "__main__":
    main()
