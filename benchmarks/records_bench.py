"""Time ``features.raw_inputs_from_records`` on 1,000 clinical records (it runs per request).

The records are serve_bench.py's ``batch_patients()`` (the 1,000-patient batch of the serving
benchmark) and, as a second case, the same with every mutation flag given. Prints the median and
the range of ``--repeats`` timings, in milliseconds.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/records_bench.py [--repeats 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from features import raw_inputs_from_records  # noqa: E402

# serve_bench.py's PATIENT and batch_patients() (not imported: that module loads the server)
PATIENT = {"patient_id": "bench-1", "age": 64, "sex": "F", "ecog": 1, "pdl1_tps": 0.0,
           "tmb": 5.2, "nlr": 4.1, "albumin": 3.6, "histology": "adenocarcinoma"}
FLAGS = {"stk11_mut": 1, "keap1_mut": 0, "egfr_mut": 0, "kras_mut": 1, "tp53_mut": 0,
         "wnt_mut": 0}


def batch_patients() -> list[dict]:
    return [dict(PATIENT, patient_id=f"b{i}", age=40 + i % 40, tmb=i % 30) for i in range(1000)]


def median_ms(records: list[dict], repeats: int) -> tuple[float, float, float]:
    raw_inputs_from_records(records)  # warm-up (imports, caches)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        raw_inputs_from_records(records)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), min(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    cases = {"batch_patients()": batch_patients(),
             "batch_patients() + 6 flags": [dict(r, **FLAGS) for r in batch_patients()]}
    for name, records in cases.items():
        median, low, high = median_ms(records, args.repeats)
        print(f"{name}: median {median:.2f} ms (min {low:.2f}, max {high:.2f}) "
              f"over {args.repeats} runs of 1,000 records")


if __name__ == "__main__":
    main()
