"""Serving speed, side by side in one run (loopback only, bounded in time):

(a) in-process single-patient prediction with intervals (Predictor.predict), p50;
(b) HTTP single patient, sequential: p50 and p99;
(c) 8 concurrent clients: throughput and p99;
(d) batches of 1,000 patients: patients per second (and with ``"curve_bands": true``).
(b)-(d) for the BentoML service (``abscopal serve``) and for a plain FastAPI/uvicorn app serving
the same Predictor (reference). Needs a registered champion in the configured MLflow store.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/serve_bench.py [--requests 300]
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/serve_bench.py --soak 3000

``--soak N`` instead sends N five-patient requests to the BentoML server and reports the resident
memory of its process group before and after: retained per-request state would show as growth.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from serving.process import ServerProcess, free_port  # noqa: E402
from serving.schemas import PredictRequest  # noqa: E402  (module level: FastAPI reads the hint)

PATIENT = {"patient_id": "bench-1", "age": 64, "sex": "F", "ecog": 1, "pdl1_tps": 0.0,
           "tmb": 5.2, "nlr": 4.1, "albumin": 3.6, "histology": "adenocarcinoma"}


def reference_app():
    """The plain FastAPI app: same Predictor, same request model, same guard."""
    import gc

    from fastapi import FastAPI
    from starlette.responses import Response

    from serving.predictor import Predictor
    from serving.service import to_json_response
    from training.loading import load_model

    predictor = Predictor(load_model())
    gc.collect()
    gc.freeze()
    app = FastAPI()

    @app.post("/predict")
    def predict(request: PredictRequest) -> Response:
        return to_json_response(predictor.predict(request.patients, request.curve_bands))

    @app.get("/readyz")
    def ready() -> dict:
        return {}

    return app


def start(kind: str, log_path: Path) -> ServerProcess:
    env = {"OMP_NUM_THREADS": "1", "ABSCOPAL_API_TOKEN": None}  # measure the server, not auth
    port = free_port()
    if kind == "bentoml":
        return ServerProcess.abscopal(log_path, env=env)
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "benchmarks.serve_bench:reference_app",
           "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
           "--no-access-log"]
    return ServerProcess(cmd, port, log_path, env=env, cwd=ROOT)


def batch_patients() -> list[dict]:
    return [dict(PATIENT, patient_id=f"b{i}", age=40 + i % 40, tmb=i % 30) for i in range(1000)]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


class Client:
    """One keep-alive HTTP/1.1 connection (stdlib ``http.client``). The load generator shares
    the server's 2 cores, so it must be light: ~0.3 ms of CPU per request against ~1.2 ms for
    httpx, which would otherwise take a third of the machine from the server under test."""

    def __init__(self, url: str, timeout: float = 120):
        host, port = url.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=timeout)

    def post(self, body: bytes) -> float:
        """POST /predict; returns the latency in ms (the response is read in full)."""
        t = time.perf_counter()
        self.conn.request("POST", "/predict", body, {"Content-Type": "application/json"})
        response = self.conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"POST /predict answered {response.status}")
        return (time.perf_counter() - t) * 1000

    def close(self) -> None:
        self.conn.close()


def http_numbers(url: str, n_requests: int) -> dict:
    body = json.dumps({"patients": [PATIENT]}).encode()
    client = Client(url)
    for _ in range(20):  # warm-up
        client.post(body)
    seq = [client.post(body) for _ in range(n_requests)]
    client.close()

    def worker(k: int) -> list[float]:
        c = Client(url)
        try:
            c.post(body)  # connect before the clock starts
            return [c.post(body) for _ in range(k)]
        finally:
            c.close()

    per_client = max(1, n_requests // 8)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        conc = [x for xs in pool.map(worker, [per_client] * 8) for x in xs]
    wall = time.perf_counter() - t0

    def batches(curve_bands: bool, n: int = 10) -> float:
        """Patients per second over ``n`` sequential 1,000-patient requests (after one)."""
        batch = json.dumps({"patients": batch_patients(), "curve_bands": curve_bands}).encode()
        client = Client(url)
        client.post(batch)
        t0 = time.perf_counter()
        for _ in range(n):
            client.post(batch)
        wall = time.perf_counter() - t0
        client.close()
        return 1000 * n / wall

    return {
        "b_p50_ms": statistics.median(seq), "b_p99_ms": pct(seq, 99),
        "c_rps": len(conc) / wall, "c_p99_ms": pct(conc, 99), "c_max_ms": max(conc),
        "d_patients_per_s": batches(False), "d_bands_patients_per_s": batches(True),
    }


def in_process(n: int) -> dict:
    from serving.predictor import Predictor
    from training.loading import load_model

    predictor = Predictor(load_model())
    bundle = predictor.bundle
    request = PredictRequest.model_validate({"patients": [PATIENT]})
    for _ in range(10):
        predictor.predict(request.patients)
    total, features, model = [], [], []
    for _ in range(n):
        t = time.perf_counter()
        predictor.predict(request.patients)
        total.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        X = bundle.features_for(bundle.raw_from_records([request.patients[0].to_record()]))
        features.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        bundle.predict(X)
        model.append((time.perf_counter() - t) * 1000)
    batch = PredictRequest.model_validate({"patients": batch_patients()})
    predictor.predict(batch.patients)
    t0 = time.perf_counter()
    for _ in range(5):
        predictor.predict(batch.patients)
    batch_wall = time.perf_counter() - t0
    return {"a_p50_ms": statistics.median(total), "a_features_p50_ms": statistics.median(features),
            "a_model_p50_ms": statistics.median(model),
            "d_in_process_patients_per_s": 5000 / batch_wall,
            "learner": bundle.training.get("learner"),
            "members": len(getattr(bundle.estimator, "members_", []))}


def gc_effect(n: int) -> dict:
    """Per-request latency p99 / max and time in full (generation-2) collections over ``n``
    in-process requests, with the model's objects in the collector's reach and after
    ``gc.freeze()`` (what the server does after loading). Same process, side by side."""
    import gc

    from serving.predictor import Predictor
    from training.loading import load_model

    predictor = Predictor(load_model())
    request = PredictRequest.model_validate({"patients": [PATIENT]})
    full = {"t": 0.0, "count": 0, "start": 0.0}

    def track(phase: str, info: dict) -> None:
        if info.get("generation") == 2:
            if phase == "start":
                full["start"] = time.perf_counter()
            else:
                full["t"] += time.perf_counter() - full["start"]
                full["count"] += 1

    gc.callbacks.append(track)
    out = {}
    try:
        for label in ("unfrozen", "frozen"):
            gc.collect()
            if label == "frozen":
                gc.freeze()
            else:
                gc.unfreeze()
            full.update(t=0.0, count=0)
            lat = []
            for _ in range(n):
                t = time.perf_counter()
                predictor.predict(request.patients)
                lat.append((time.perf_counter() - t) * 1000)
            out[label] = {"p99_ms": pct(lat, 99), "max_ms": max(lat),
                          "gen2_count": full["count"], "gen2_ms": full["t"] * 1000,
                          "tracked_objects": len(gc.get_objects())}
    finally:
        gc.callbacks.remove(track)
        gc.unfreeze()
    return out


def group_rss_mb(server: ServerProcess) -> float:
    """Resident memory of the server's whole process group (arbiter and workers), in MB."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.getpgid(int(pid)) != server.proc.pid:
                continue
            with open(f"/proc/{pid}/status") as status:
                total += next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))
        except (OSError, StopIteration):
            continue
    return total / 1024


def soak(n_requests: int) -> None:
    import httpx

    body = {"patients": [{**PATIENT, "patient_id": f"soak-{i}", "tmb": 1.0 + i} for i in range(5)]}
    with tempfile.TemporaryDirectory() as logs:
        server = start("bentoml", Path(logs) / "bentoml.log")
        try:
            server.wait_ready(timeout=120)
            with httpx.Client(timeout=30) as client:
                for _ in range(200):  # warm-up: caches, allocator arenas
                    client.post(f"{server.url}/predict", json=body).raise_for_status()
                before = group_rss_mb(server)
                started = time.perf_counter()
                for _ in range(n_requests):
                    client.post(f"{server.url}/predict", json=body).raise_for_status()
                seconds = time.perf_counter() - started
            print(f"soak: {n_requests} requests in {seconds:.1f} s; server RSS "
                  f"{before:.0f} MB -> {group_rss_mb(server):.0f} MB")
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--soak", type=int, default=0, help="only the memory soak, N requests")
    args = parser.parse_args()
    if args.soak:
        soak(args.soak)
        return
    results = {"in_process": in_process(min(args.requests, 200)),
               "gc": gc_effect(max(args.requests, 1000))}
    with tempfile.TemporaryDirectory() as logs:
        for kind in ("bentoml", "fastapi"):
            server = start(kind, Path(logs) / f"{kind}.log")
            try:
                server.wait_ready(timeout=120)
                results[kind] = http_numbers(server.url, args.requests)
            finally:
                server.stop()
    a = results["in_process"]
    print(f"model: {a['learner']} learner, {a['members']} bootstrap members")
    print(f"(a) in-process single patient p50: {a['a_p50_ms']:.1f} ms "
          f"(features {a['a_features_p50_ms']:.1f} ms, model {a['a_model_p50_ms']:.1f} ms); "
          f"(d) in-process {a['d_in_process_patients_per_s']:.0f} patients/s")
    for label, g in results["gc"].items():
        print(f"gc {label:8s}: {g['tracked_objects']} tracked objects, {g['gen2_count']} full "
              f"collections taking {g['gen2_ms']:.0f} ms in total; request p99 "
              f"{g['p99_ms']:.1f} ms, max {g['max_ms']:.1f} ms")
    for kind in ("bentoml", "fastapi"):
        r = results[kind]
        print(f"{kind:8s} (b) p50 {r['b_p50_ms']:.1f} ms p99 {r['b_p99_ms']:.1f} ms | "
              f"(c) 8 clients {r['c_rps']:.0f} req/s p99 {r['c_p99_ms']:.1f} ms "
              f"max {r['c_max_ms']:.1f} ms | (d) {r['d_patients_per_s']:.0f} patients/s "
              f"({r['d_bands_patients_per_s']:.0f} with curve_bands)")


if __name__ == "__main__":
    main()
