"""What a pickle-free model artifact would cost in loading speed (issue 13, "consider a format
that needs no pickle for the trees (xgboost JSON) where it costs nothing in speed").

Reads a registered model's ``python_model.pkl`` (default: the champion of the configured store),
times unpickling it whole, finds its xgboost boosters and times loading the same boosters from
pickle, from xgboost's UBJSON and from xgboost's JSON (median of ``--repeat``). Loopback-free,
in one process, side by side.

    ABSCOPAL_TRACKING_URI=sqlite:///path/mlflow.db .venv/bin/python \
        benchmarks/artifact_format_bench.py [--model-uri models:/rt-benefit@champion]
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import common  # noqa: E402,F401  (offline defaults before mlflow)

# isort: split
import mlflow  # noqa: E402
import xgboost as xgb  # noqa: E402

from common.settings import get_settings  # noqa: E402


def median_ms(call, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def boosters_in(obj) -> list[xgb.Booster]:
    """Every xgboost booster reachable from ``obj`` through attributes, lists and dicts."""
    found, seen, stack = [], set(), [obj]
    while stack:
        o = stack.pop()
        if id(o) in seen or isinstance(o, (str, bytes, int, float)):
            continue
        seen.add(id(o))
        if isinstance(o, xgb.XGBModel):
            found.append(o.get_booster())
        elif isinstance(o, xgb.Booster):
            found.append(o)
        elif isinstance(o, dict):
            stack.extend(o.values())
        elif isinstance(o, (list, tuple)):
            stack.extend(o)
        elif hasattr(o, "__dict__"):
            stack.extend(vars(o).values())
    return found


def load_all(raws: list[bytes]) -> list[xgb.Booster]:
    loaded = []
    for raw in raws:
        booster = xgb.Booster()
        booster.load_model(bytearray(raw))
        loaded.append(booster)
    return loaded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-uri", default=None)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    settings = get_settings()
    mlflow.set_tracking_uri(settings.tracking_uri)
    uri = args.model_uri or f"models:/{settings.model_name}@champion"
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(mlflow.artifacts.download_artifacts(uri, dst_path=tmp))
        data = (local / "python_model.pkl").read_bytes()
    sys.path[:0] = [str(local / "code")]  # the model's own code, as MLflow loads it
    boosters = boosters_in(pickle.loads(data))  # first load: imports the model's modules
    whole_ms = median_ms(lambda: pickle.loads(data), args.repeat)
    formats = {"pickle": [pickle.dumps(b) for b in boosters],
               "ubj": [b.save_raw("ubj") for b in boosters],
               "json": [b.save_raw("json") for b in boosters]}
    loaders = {"pickle": lambda raws: [pickle.loads(r) for r in raws],
               "ubj": load_all, "json": load_all}
    print(f"{uri}: python_model.pkl {len(data) / 1e6:.1f} MB, unpickled whole in "
          f"{whole_ms:.0f} ms; {len(boosters)} xgboost boosters")
    print("| boosters stored as | MB | load ms (median) |")
    print("|---|---:|---:|")
    for name, raws in formats.items():
        ms = median_ms(lambda raws=raws, name=name: loaders[name](raws), args.repeat)
        print(f"| {name} | {sum(map(len, raws)) / 1e6:.1f} | {ms:.0f} |")


if __name__ == "__main__":
    main()
