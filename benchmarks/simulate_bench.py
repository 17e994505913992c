"""Benchmark: simulate and write a virtual PEMBRO-RT trial (target: 10,000 patients < 60 s).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/simulate_bench.py [--patients 10000]

Times the in-memory simulation and the write separately (side by side, one run, same seed) and
reports peak resident memory (resource.getrusage) and the size of the written cohort.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

from cohorts.simulate import simulate_trial, write_trial
from cohorts.simulate.trial import write_repertoires
from common.atomic import atomic_directory

TARGET_SECONDS = 60.0


def _size_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=2025)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="simulate_bench_"))
    try:
        t0 = time.perf_counter()
        trial = simulate_trial(args.patients, args.seed)
        t_sim = time.perf_counter() - t0
        t0 = time.perf_counter()
        with atomic_directory(tmp / "tcr_only") as d:
            write_repertoires(trial.tcr, d)
        t_tcr = time.perf_counter() - t0
        del trial
        t0 = time.perf_counter()
        out = write_trial(tmp / "trial", n_patients=args.patients, seed=args.seed)
        t_total = time.perf_counter() - t0
        size = _size_mb(out)
        files = sum(1 for p in out.rglob("*") if p.is_file())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"patients {args.patients}, seed {args.seed}, cpus {os.cpu_count()}")
    print(f"simulate only (in memory)      {t_sim:6.1f} s")
    print(f"write TCR repertoires only     {t_tcr:6.1f} s")
    print(f"write_trial (simulate + write) {t_total:6.1f} s  (target < {TARGET_SECONDS:.0f} s: "
          f"{'PASS' if t_total < TARGET_SECONDS else 'FAIL'})")
    print(f"peak RSS {peak_mb:,.0f} MB; cohort {size:,.0f} MB in {files:,} files")


if __name__ == "__main__":
    main()
