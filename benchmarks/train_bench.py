"""Wall time and peak memory of `abscopal train` with its defaults on a virtual trial.

    .venv/bin/python benchmarks/train_bench.py [--patients 1000]

Target (issue 4): 1,000 patients within 5 minutes on 2 cores, including the cross-validated
learner selection (4 learners x 5 folds) and the 50-member bootstrap intervals.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=2025)
    args = parser.parse_args()
    cli = [sys.executable, "-m", "abscopal"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}",
               "ABSCOPAL_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}"}
        subprocess.run([*cli, "simulate", "--patients", str(args.patients), "--seed",
                        str(args.seed), "--out", str(tmp / "vt")], check=True, env=env,
                       capture_output=True)
        started = time.perf_counter()
        proc = subprocess.run([*cli, "train", "--cohort", str(tmp / "vt"), "--json"],
                              check=True, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(proc.stdout.strip().splitlines()[-1][:300])
    print(f"abscopal train, {args.patients} patients, defaults: {seconds:.1f} s wall, "
          f"peak RSS {peak_mb:.0f} MB (target: 300 s)")


if __name__ == "__main__":
    main()
