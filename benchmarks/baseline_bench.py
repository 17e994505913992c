"""What the real-world baseline costs at serving time, side by side with the trial baseline.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/baseline_bench.py \\
        --trial models:/rt-benefit@champion --real-world models:/rt-benefit-rw@champion

In-process (``serving.predictor.Predictor.predict``, what a server worker runs per request):
single-patient p50 and p99 over ``--requests`` requests, and patients per second for one
1,000-patient batch (after a warm-up batch). Both models should come from the same trial and
learner, one trained with ``--baseline real-world`` (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import statistics
import time


def main() -> None:
    from serving.predictor import Predictor
    from serving.schemas import Patient
    from training.loading import load_model

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trial", required=True)
    parser.add_argument("--real-world", required=True)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    patient = [Patient(patient_id="b", age=64, sex="F", ecog=1, pdl1_tps=0.0, tmb=5.2, nlr=4.1,
                       albumin=3.6)]
    batch = [Patient(patient_id=f"p{i}", age=60 + i % 20, tmb=float(i % 30))
             for i in range(1000)]
    for uri in (args.trial, args.real_world):
        predictor = Predictor(load_model(uri))
        times = []
        for _ in range(args.requests):
            started = time.perf_counter()
            predictor.predict(patient)
            times.append(1000 * (time.perf_counter() - started))
        predictor.predict(batch)
        started = time.perf_counter()
        predictor.predict(batch)
        rate = len(batch) / (time.perf_counter() - started)
        p99 = sorted(times)[int(0.99 * len(times)) - 1]
        print(f"{uri} (baseline {predictor.model_info['baseline']}): single patient p50 "
              f"{statistics.median(times):.1f} ms, p99 {p99:.1f} ms; batch of 1,000: "
              f"{rate:,.0f} patients/s")


if __name__ == "__main__":
    main()
