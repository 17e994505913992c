"""POST /predict latency of two source trees of the service, side by side (loopback, 1 worker
each, interleaved rounds so both see the same machine load).

    git archive b4a2c28 | tar -x -C /tmp/before && git archive HEAD | tar -x -C /tmp/after
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/serve_ab.py /tmp/before /tmp/after

Each tree is served by its own ``python -m abscopal serve`` (run from that tree, so its code is
the one imported) with the champion of the configured MLflow store. Reports, per tree, the
single-patient p50 and p99 (6 rounds x 150 sequential requests on one keep-alive connection)
and the median of 18 batches of 1,000 patients. Used to check the web page (issue 15) left
the API's latency as it was.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from serving.process import ServerProcess, free_port  # noqa: E402

PATIENT = {"patient_id": "P1", "age": 64, "sex": "F", "ecog": 1, "smoking_status": "former",
           "pdl1_tps": 0, "tmb": 4.2, "stk11_mut": 1}  # the README's example


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs=2, type=Path, help="two source trees (before, after)")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    env = {"ABSCOPAL_WORKERS": "1", "OMP_NUM_THREADS": "1", "ABSCOPAL_API_TOKEN": None}
    logs = Path(tempfile.mkdtemp(prefix="serve-ab-"))
    servers = {}
    for tree in args.trees:
        port = free_port()
        servers[str(tree)] = ServerProcess(
            [sys.executable, "-m", "abscopal", "serve", "--host", "127.0.0.1", "--port",
             str(port)], port, logs / f"{tree.name}.log", env=env, cwd=tree, workers=1)
    try:
        for server in servers.values():
            server.wait_ready(300)
        one = json.dumps({"patients": [PATIENT]}).encode()
        batch = json.dumps({"patients": [dict(PATIENT, patient_id=f"P{i}")
                                         for i in range(1000)]}).encode()
        conns = {n: http.client.HTTPConnection("127.0.0.1", s.port) for n, s in servers.items()}

        def post(name: str, body: bytes) -> float:
            start = time.perf_counter()
            conns[name].request("POST", "/predict", body, {"content-type": "application/json"})
            response = conns[name].getresponse()
            response.read()
            assert response.status == 200, response.status
            return time.perf_counter() - start

        for name in servers:  # warm-up
            for _ in range(30):
                post(name, one)
            post(name, batch)
        times = {n: {"one": [], "batch": []} for n in servers}
        names = list(servers)
        for r in range(args.rounds):
            for name in (names if r % 2 == 0 else names[::-1]):
                times[name]["one"] += [post(name, one) for _ in range(150)]
                times[name]["batch"] += [post(name, batch) for _ in range(3)]
        for name, t in times.items():
            single = sorted(1000 * x for x in t["one"])
            batches = [1000 * x for x in t["batch"]]
            print(f"{name}: single patient p50 {statistics.median(single):.2f} ms, p99 "
                  f"{single[int(0.99 * len(single))]:.2f} ms (n={len(single)}); 1,000-patient "
                  f"batch median {statistics.median(batches):.0f} ms (n={len(batches)})")
    finally:
        for server in servers.values():
            server.stop()


if __name__ == "__main__":
    main()
