"""In-process prediction time of registered champions, side by side (no HTTP).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/predict_bench.py --cohort DIR \
        sqlite:////path/a/mlflow.db [sqlite:////path/b/mlflow.db ...] [--rounds 2]

For each tracking URI, loads its ``rt-benefit@champion`` and times ``bundle.predict`` on a batch of
1,000 patients of the cohort (median of 5) and on one patient at a time (median of 20); the
stores are measured in turn, ``--rounds`` times, so a noisy machine shows in the spread. Used to
compare learners (a DR-learner champion against a T-learner one) and before/after a change
(run it with ``PYTHONPATH`` pointing at each tree).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def measure(uri: str, raw) -> tuple[str, float, float]:
    os.environ["ABSCOPAL_TRACKING_URI"] = os.environ["MLFLOW_TRACKING_URI"] = uri
    from common.settings import get_settings
    from training.loading import load_model

    get_settings.cache_clear()
    bundle = load_model("models:/rt-benefit@champion").bundle
    X = bundle.features_for(raw).iloc[:1000]
    bundle.predict(X.iloc[:10])  # warm
    batch = []
    for _ in range(5):
        started = time.perf_counter()
        bundle.predict(X)
        batch.append(time.perf_counter() - started)
    single = []
    for i in range(20):
        started = time.perf_counter()
        bundle.predict(X.iloc[[i]])
        single.append(time.perf_counter() - started)
    learner = bundle.training.get("learner", "?") if isinstance(bundle.training, dict) else "?"
    return learner, 1000 * float(np.median(batch)), 1000 * float(np.median(single))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("uris", nargs="+")
    parser.add_argument("--cohort", required=True, help="a cohort directory to score")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    from cohorts import read_cohort
    from features import raw_inputs_from_cohort

    raw = raw_inputs_from_cohort(read_cohort(args.cohort))
    for _ in range(args.rounds):
        for uri in args.uris:
            learner, batch_ms, single_ms = measure(uri, raw)
            print(f"{uri}  learner {learner}: 1,000 patients {batch_ms:.0f} ms, "
                  f"one patient {single_ms:.1f} ms", flush=True)


if __name__ == "__main__":
    main()
