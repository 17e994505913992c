"""How fast a live server refuses bad bodies just under its size limit (issue 13: every 4xx in
under 50 ms for any body under the limit).

Starts ``abscopal serve`` on 127.0.0.1 (one worker, a token) against ``--tracking-uri``, then
sends each class of bad body (as large as fits under ``--mb`` MB and the value limit
``ABSCOPAL_MAX_REQUEST_VALUES``, i.e. the costliest that is parsed) ``--repeat``
times with httpx and prints the status, the response size and the wall time per request as the
client sees it (sending the body over loopback included), median and max. SYNTHETIC bodies.

    .venv/bin/python benchmarks/reject_bench.py --tracking-uri sqlite:///path/mlflow.db
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import orjson

from common.settings import Settings
from serving.process import ServerProcess
from serving.sizing import largest_legal_request

TOKEN = "reject-bench"


MAX_VALUES = Settings().max_request_values


def fill(make, target: int) -> bytes:
    """The largest body ``make(n)`` under both limits: at most ``target`` bytes and fewer commas
    than the value limit (n found by doubling, then bisection)."""
    def fits(n: int) -> bool:
        body = make(n)
        return len(body) <= target and body.count(b",") < MAX_VALUES

    lo, hi = 1, 2
    while fits(hi):
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return make(lo)


def bodies(target: int) -> dict[str, bytes]:
    dumps = orjson.dumps

    def per_patient(n, patient_of):
        return dumps({"patients": [patient_of(i, n) for i in range(1000)]})

    return {
        "unknown fields (1,000 patients)": fill(lambda n: per_patient(
            n, lambda i, n: {f"unknown_field_{j}": j for j in range(n)}), target),
        "bad values (1,000 patients, strings for numbers)": fill(lambda n: per_patient(
            n, lambda i, n: {"age": "old" * n, "ecog": "x", "tmb": "high"}), target),
        "bad expression values (1,000 patients)": fill(lambda n: per_patient(
            n, lambda i, n: {"expression": {f"G{j}": "x" for j in range(n)}}), target),
        "bad mutations (1,000 patients)": fill(lambda n: per_patient(
            n, lambda i, n: {"mutations": [{"gene": 1, "variant_classification": 2}] * n}),
            target),
        "too many patients ({} x n)": fill(lambda n: dumps({"patients": [{}] * n}), target),
        "one huge unknown key": fill(lambda n: dumps({"patients": [{"K" * n: 1}]}), target),
        "malformed JSON at the end": fill(lambda n: dumps(
            {"patients": [{"age": 60}] * n})[:-1] + b",", target),
        "floor: patients one long string (read + parse)": fill(lambda n: dumps(
            {"patients": "x" * n}), target),
        "not an object (a long list of numbers)": fill(lambda n: dumps(list(range(n))), target),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", required=True)
    parser.add_argument("--mb", type=float, default=15.9)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    target = int(args.mb * 1_000_000)
    cases = bodies(target)
    log = Path(tempfile.mkdtemp()) / "server.log"
    server = ServerProcess.abscopal(log, tracking_uri=args.tracking_uri, env={
        "ABSCOPAL_API_TOKEN": TOKEN, "ABSCOPAL_WORKERS": "1", "OMP_NUM_THREADS": "1"})
    try:
        server.wait_ready(timeout=180)
        headers = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}
        print("| body | MB | commas | status | response bytes | median ms | max ms |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        with httpx.Client(timeout=60) as client:
            legal = ("largest legal request (200; serving/sizing.py)", largest_legal_request())
            for name, body in [*cases.items(), ("no token (401)", cases[next(iter(cases))]),
                               legal]:
                send = {k: v for k, v in headers.items()
                        if not (name.startswith("no token") and k == "authorization")}
                walls = []
                for _ in range(args.repeat):
                    start = time.perf_counter()
                    response = client.post(f"{server.url}/predict", content=body, headers=send)
                    walls.append(time.perf_counter() - start)
                print(f"| {name} | {len(body) / 1e6:.1f} | {body.count(b',')} | "
                      f"{response.status_code} | "
                      f"{len(response.content)} | {1000 * statistics.median(walls):.0f} | "
                      f"{1000 * max(walls):.0f} |")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
