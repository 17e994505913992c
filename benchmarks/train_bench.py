"""Wall time and peak memory of `abscopal train` with its defaults on a virtual trial.

    .venv/bin/python benchmarks/train_bench.py [--patients 1000]
    .venv/bin/python benchmarks/train_bench.py --patients 5000 --workers 1,2   # on Dask

Target (issue 4): 1,000 patients within 5 minutes on 2 cores, including the cross-validated
learner selection (4 learners x 5 folds) and the 50-member bootstrap intervals.

``--workers 1,2`` (issue 16): for each size, the same job with ``--scheduler`` on a
``distributed.LocalCluster`` of that many single-threaded worker processes, started by this
script; the runs alternate (1, 2, 1, 2 with ``--repeat 2``) so both see the same machine load.
``--scheduler ADDRESS`` uses an existing cluster instead. ``--workers 0`` is the local run.
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


def run_train(cli: list[str], cohort: Path, env: dict, args, scheduler: str | None) -> float:
    command = [*cli, "train", "--cohort", str(cohort), "--json", "--bootstrap",
               str(args.bootstrap), "--folds", str(args.folds), "--seed", str(args.seed)]
    if scheduler:
        command += ["--scheduler", scheduler]
    started = time.perf_counter()
    proc = subprocess.run(command, check=True, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    print(proc.stdout.strip().splitlines()[-1][:300], flush=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", default="1000", help="comma-separated sizes")
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--bootstrap", type=int, default=50)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--workers", default=None,
                        help="comma-separated LocalCluster sizes (0: local, no Dask)")
    parser.add_argument("--scheduler", default=None, help="an existing Dask scheduler")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    cli = [sys.executable, "-m", "abscopal"]
    sizes = [int(n) for n in args.patients.split(",")]
    workers = [int(w) for w in args.workers.split(",")] if args.workers else [None]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}",
               "ABSCOPAL_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}"}
        for n in sizes:
            cohort = tmp / f"vt{n}"
            subprocess.run([*cli, "simulate", "--patients", str(n), "--seed",
                            str(args.seed), "--out", str(cohort)], check=True, env=env,
                           capture_output=True)
            for _ in range(args.repeat):
                for w in workers:
                    if w:
                        from dask.distributed import LocalCluster

                        with LocalCluster(n_workers=w, processes=True, threads_per_worker=1,
                                          dashboard_address=None) as cluster:
                            seconds = run_train(cli, cohort, env, args,
                                                cluster.scheduler_address)
                    else:
                        seconds = run_train(cli, cohort, env, args, args.scheduler)
                    label = f"{w} workers" if w else (args.scheduler or "local")
                    rows.append((n, label, seconds))
                    print(f"abscopal train, {n} patients, {args.folds} folds, {args.bootstrap} "
                          f"members, {label}: {seconds:.1f} s wall", flush=True)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print("\n| patients | where | wall time |\n|---|---|---|")
    for n, label, seconds in rows:
        print(f"| {n:,} | {label} | {seconds:.1f} s |")
    print(f"\npeak RSS of a child process (train, or a Dask worker): {peak_mb:.0f} MB "
          "(target at 1,000 patients, local: 300 s)")


if __name__ == "__main__":
    main()
