"""Overload on loopback, bounded in time: 8, 32, 128 and 512 clients against a 2-worker
``abscopal serve``, with load shedding (the settings' defaults) and without
(``ABSCOPAL_MAX_CONCURRENT_REQUESTS=0``), side by side.

Each client is one keep-alive HTTP/1.1 connection sending single-patient ``POST /predict`` in a
closed loop for ``--seconds``; it waits at most 5 s for an answer (then closes the connection,
counts a client time-out and reconnects) and sends its next request at once; after a 503 it
waits the Retry-After seconds (``--clients polite``, the default, as HTTP retry libraries do) or
not at all (``--clients impatient``: a retry storm, the worst case). Reported per level:
answered requests/s (200), p50/p99/max latency of the 200s, the share of 503s, client
time-outs, 5xx other than 503, and the peak resident memory of the server's process group.
The clients are asyncio in one process, sharing the machine with the server (as in
serve_bench.py).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/overload_bench.py [--seconds 10]

The shedding run uses the ``ABSCOPAL_*`` overload settings of the environment (defaults in
common/settings.py), so other values can be compared with ``--only-shedding``.

Uses the champion of the configured MLflow store, or (none there, or ``--fresh``) trains a small
one (500 simulated patients) in a temporary store first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from serving.process import ServerProcess  # noqa: E402

PATIENT = {"patient_id": "bench-1", "age": 64, "sex": "F", "ecog": 1, "pdl1_tps": 0.0,
           "tmb": 5.2, "nlr": 4.1, "albumin": 3.6, "histology": "adenocarcinoma"}
LEVELS = (8, 32, 128, 512)
CLIENT_TIMEOUT = 5.0


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


class Tally:
    def __init__(self):
        self.latencies: list[float] = []  # s, of the 200s
        self.busy = 0  # 503
        self.other_5xx = 0
        self.other = 0
        self.timeouts = 0
        self.conn_errors = 0


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool, float]:
    """(status, connection kept, Retry-After s): reads the head and a Content-Length body."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length, keep, retry_after = 0, True, 0.0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and value.strip().lower() == b"close":
            keep = False
        elif name == b"retry-after":
            retry_after = float(value)
    await reader.readexactly(length)
    return status, keep, retry_after


async def client(port: int, request: bytes, until: float, tally: Tally, polite: bool) -> None:
    reader = writer = None
    while time.monotonic() < until:
        retry_after = 0.0
        try:
            if writer is None:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", port), CLIENT_TIMEOUT)
            start = time.monotonic()
            writer.write(request)
            status, keep, retry_after = await asyncio.wait_for(read_response(reader),
                                                               CLIENT_TIMEOUT)
            wall = time.monotonic() - start
        except TimeoutError:
            tally.timeouts += 1
            keep, status = False, None
        except (OSError, asyncio.IncompleteReadError):
            tally.conn_errors += 1
            keep, status = False, None
            await asyncio.sleep(0.05)
        if status == 200:
            tally.latencies.append(wall)
        elif status == 503:
            tally.busy += 1
            if polite:
                await asyncio.sleep(max(0.0, min(retry_after, until - time.monotonic())))
        elif status is not None and status >= 500:
            tally.other_5xx += 1
        elif status is not None:
            tally.other += 1
        if not keep and writer is not None:
            writer.close()
            writer = None
    if writer is not None:
        writer.close()


def group_rss_mb(pgid: int) -> float:
    import psutil

    total = 0
    for proc in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(proc.pid) == pgid:
                total += proc.memory_info().rss
        except (psutil.Error, ProcessLookupError, PermissionError):
            continue
    return total / 1e6


def run_level(server: ServerProcess, clients: int, seconds: float, polite: bool = True) -> dict:
    body = json.dumps({"patients": [PATIENT]}).encode()
    request = (b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    tally = Tally()
    peak = [group_rss_mb(server.proc.pid)]
    stop = threading.Event()

    def sample():
        while not stop.wait(0.5):
            peak.append(group_rss_mb(server.proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()

    async def main():
        until = time.monotonic() + seconds
        await asyncio.gather(*(client(server.port, request, until, tally, polite)
                               for _ in range(clients)))

    start = time.monotonic()
    asyncio.run(main())
    elapsed = time.monotonic() - start
    stop.set()
    sampler.join()
    sent = (len(tally.latencies) + tally.busy + tally.other_5xx + tally.other + tally.timeouts)
    return {"clients": clients, "seconds": round(elapsed, 1),
            "ok_per_s": round(len(tally.latencies) / elapsed, 1),
            "p50_ms": round(pct(tally.latencies, 50) * 1000, 1),
            "p99_ms": round(pct(tally.latencies, 99) * 1000, 1),
            "max_ms": round(max(tally.latencies, default=float("nan")) * 1000, 1),
            "share_503": round(tally.busy / sent, 3) if sent else 0.0,
            "n_503": tally.busy, "client_timeouts": tally.timeouts,
            "other_5xx": tally.other_5xx, "other": tally.other,
            "connect_errors": tally.conn_errors, "peak_rss_mb": round(max(peak))}


def ensure_model(workdir: Path, fresh: bool) -> str | None:
    """The tracking URI to serve from: None (the configured store has a champion) or a
    temporary store with a small model trained now."""
    if not fresh:
        from training.loading import ModelNotFoundError, load_model

        try:
            load_model()
            return None
        except ModelNotFoundError:
            pass
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "ABSCOPAL_TRACKING_URI": uri,
           "OMP_NUM_THREADS": "1"}
    abscopal = [sys.executable, "-m", "abscopal"]
    subprocess.run([*abscopal, "simulate", "--out", str(workdir / "trial"), "--patients", "500"],
                   env=env, check=True, cwd=ROOT)
    subprocess.run([*abscopal, "train", "--cohort", str(workdir / "trial"), "--bootstrap", "20",
                    "--folds", "3", "--json"], env=env, check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL)
    return uri


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per level and mode")
    parser.add_argument("--levels", default=",".join(map(str, LEVELS)))
    parser.add_argument("--fresh", action="store_true", help="train a small model first")
    parser.add_argument("--clients", choices=("polite", "impatient"), default="polite",
                        help="after a 503: wait Retry-After (polite) or retry at once")
    parser.add_argument("--only-shedding", action="store_true",
                        help="skip the run without shedding (to compare ABSCOPAL_* settings)")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    levels = [int(n) for n in args.levels.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tracking = ensure_model(Path(tmp), args.fresh)
        modes = [("shedding", {}), ("no shedding", {"ABSCOPAL_MAX_CONCURRENT_REQUESTS": "0"})]
        modes = modes[:1] if args.only_shedding else modes
        # Both servers run side by side (an idle one costs nothing) and each level is measured
        # on one right after the other, so a change in the machine's load hits both alike.
        servers = {}
        try:
            for mode, env in modes:
                servers[mode] = ServerProcess.abscopal(
                    Path(tmp) / f"server-{len(servers)}.log", tracking_uri=tracking,
                    env={"ABSCOPAL_WORKERS": "2", "OMP_NUM_THREADS": "1",
                         "ABSCOPAL_API_TOKEN": None, **env})
            for server in servers.values():
                server.wait_ready()
                run_level(server, 8, 2.0)  # warm-up
            for clients in levels:
                for mode, server in servers.items():
                    row = {"mode": mode, **run_level(server, clients, args.seconds,
                                                     args.clients == "polite")}
                    rows.append(row)
                    print(json.dumps(row), flush=True)
                    time.sleep(2.0)  # let the previous level's connections drain
        finally:
            for server in servers.values():
                server.stop()
    header = ("| clients | mode | answered/s | p50 ms | p99 ms | max ms | 503 share | client "
              "time-outs | other 5xx | peak RSS MB |")
    print("\n" + header + "\n" + "|---" * 10 + "|")
    for clients in levels:
        for row in (r for r in rows if r["clients"] == clients):
            print(f"| {clients} | {row['mode']} | {row['ok_per_s']} | {row['p50_ms']} | "
                  f"{row['p99_ms']} | {row['max_ms']} | {row['share_503']:.1%} | "
                  f"{row['client_timeouts']} | {row['other_5xx']} | {row['peak_rss_mb']} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
