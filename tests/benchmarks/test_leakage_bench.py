"""The leakage bench reports the feature that comes closest to the guard, with its figure."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("leakage_bench",
                                                  BENCHMARKS / "leakage_bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_largest_names_the_closest_feature_and_never_refuses(bench):
    rng = np.random.default_rng(3)
    n = 400
    time = rng.exponential(10.0, n)
    event = (rng.random(n) < 0.7).astype(int)
    X = pd.DataFrame({
        "noise": rng.normal(size=n),
        "prognostic": -time + rng.normal(scale=8.0, size=n),  # some signal, far from a copy
        "leak": time * 2.0,  # a renamed outcome: the guard would refuse it
    })
    row = bench._largest("toy", X, time, event)
    assert (row["n"], row["events"], row["features"]) == (n, int(event.sum()), 3)
    figure, name = row["concordance"].split(" ")
    assert name == "(leak)" and float(figure) == pytest.approx(1.0)
    without = bench._largest("toy", X.drop(columns="leak"), time, event)
    figure, name = without["concordance"].split(" ")
    assert name == "(prognostic)" and 0.6 < float(figure) < 0.95
