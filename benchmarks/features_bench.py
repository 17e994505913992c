"""Benchmark of build_features at cohort scale (SYNTHETIC inputs generated in memory).

Per patient: full-transcriptome expression (20,000 genes, TPM), ~150 MAF rows, and two
2,000-clone TCR repertoires (baseline and on treatment). Each size runs in a fresh subprocess so
its peak memory (max RSS, inputs included) is its own; sizes run side by side in one invocation to
check that time grows linearly.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/features_bench.py --sizes 1000 10000

Targets (issue 3): 10,000 patients within 2 minutes on 2 cores, peak memory <= 6 GB.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

N_GENES = 20_000
MUTATIONS_PER_PATIENT = 150
CLONES = 2_000
AMINO = np.frombuffer(b"ACDEFGHIKLMNPQRSTVWY", dtype=np.uint8)


def _junctions(ids: np.ndarray, chunk: int = 4_000_000) -> pd.Series:
    """Distinct CDR3-like strings 'CASS' + 6 residues + 'F' from integer ids, vectorised."""
    pieces = []
    for start in range(0, len(ids), chunk):
        part = ids[start:start + chunk]
        letters = np.empty((len(part), 11), np.uint8)
        letters[:, :4] = np.frombuffer(b"CASS", np.uint8)
        for k in range(6):
            letters[:, 4 + k] = AMINO[(part // 20**k) % 20]
        letters[:, 10] = ord("F")
        raw = letters.view("S11").ravel()
        pieces.append(pa.array(raw, type=pa.binary(11)).cast(pa.string()))
    return pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array(pieces)))


def _memory_gb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak since the last reset) of this process, in GB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024**2
    return float("nan")


def _reset_peak() -> None:
    """Reset VmHWM so the peak counts build_features, not input generation (Linux)."""
    Path("/proc/self/clear_refs").write_text("5")


def make_inputs(n: int, seed: int = 0):
    from cohorts.genesets import FLAGGED_GENES, WNT_PATHWAY
    from features import RawInputs
    from features.signatures import needed_genes

    rng = np.random.default_rng(seed)
    pids = np.array([f"P{i:06d}" for i in range(n)])
    clinical = pd.DataFrame({
        "patient_id": pids,
        "age": rng.integers(40, 85, n).astype(float),
        "sex": rng.choice(["F", "M"], n),
        "ecog": rng.integers(0, 3, n).astype(float),
        "histology": rng.choice(["adenocarcinoma", "squamous", "other"], n),
        "smoking_status": rng.choice(["never", "former", "current"], n),
        "pack_years": rng.gamma(2, 15, n),
        "pdl1_tps": rng.choice([0, 5, 30, 60, 90], n).astype(float),
        "nlr": rng.lognormal(1.6, 0.5, n),
        "ldh": rng.lognormal(5.4, 0.3, n),
        "albumin": rng.normal(3.8, 0.4, n),
        "prior_lines": rng.integers(0, 3, n).astype(float),
    })
    # MAF: ~150 calls per patient over a 20,000-gene universe plus the flagged genes.
    genes = np.array([*needed_genes(), *[f"GENE{i}" for i in range(N_GENES - len(needed_genes()))]])
    per = rng.poisson(MUTATIONS_PER_PATIENT, n)
    hot = np.array([*FLAGGED_GENES, *WNT_PATHWAY])
    symbols = np.where(rng.random(per.sum()) < 0.05, rng.choice(hot, per.sum()),
                       rng.choice(genes, per.sum()))
    classes = np.array(["Missense_Mutation", "Silent", "Nonsense_Mutation", "Frame_Shift_Del",
                        "Intron", "3'UTR", "Splice_Site"])
    mutations = pd.DataFrame({
        "Tumor_Sample_Barcode": pd.Categorical.from_codes(np.repeat(np.arange(n), per), pids),
        "Hugo_Symbol": pd.Categorical(symbols),
        "Variant_Classification": pd.Categorical(
            rng.choice(classes, per.sum(), p=[0.55, 0.2, 0.05, 0.05, 0.05, 0.05, 0.05])
        ),
    })
    # Expression: genes x patients TPM (float64), full transcriptome.
    expression = pd.DataFrame(
        rng.standard_exponential((N_GENES, n)) * 30.0,
        index=pd.Index(genes, name="gene"), columns=pids,
    )
    # TCR: per patient 2,000 baseline clones; on treatment 1,600 of them (some expanded) + 400 new.
    base_ids = np.arange(n * CLONES)
    kept = (base_ids % CLONES) < 1_600
    new_ids = n * CLONES + np.arange(n * 400)
    ids = np.concatenate([base_ids, base_ids[kept], new_ids])
    patient = np.concatenate([base_ids // CLONES, base_ids[kept] // CLONES,
                              np.arange(n * 400) // 400])
    timepoint = np.repeat([0, 1], [n * CLONES, n * CLONES])
    del base_ids, kept, new_ids
    counts = rng.geometric(0.2, len(ids)).astype(np.int64)
    counts[n * CLONES:][rng.random(n * CLONES) < 0.01] *= 30  # ~1% of on-treatment clones expand
    tcr = pd.DataFrame({
        "patient_id": pd.Categorical.from_codes(patient, pids),
        "timepoint": pd.Categorical.from_codes(timepoint, ["baseline", "on_treatment"]),
        "junction_aa": _junctions(ids),
        "v_call": pd.Categorical.from_codes(ids % 48, [f"TRBV{i}" for i in range(48)]),
        "j_call": pd.Categorical.from_codes((ids // 48) % 13, [f"TRBJ{i}" for i in range(13)]),
        "duplicate_count": counts,
    })
    return RawInputs(clinical=clinical, mutations=mutations, expression=expression, tcr=tcr,
                     panel_size_mb=30.0)


def run_one(n: int) -> dict:
    import warnings

    from features import build_features

    t0 = time.perf_counter()
    raw = make_inputs(n)
    generated = time.perf_counter() - t0
    rss_inputs = _memory_gb("VmRSS")
    peak_generation = _memory_gb("VmHWM")
    _reset_peak()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        result = build_features(raw)
        seconds = time.perf_counter() - t0
    assert result.frame.shape[0] == n and result.frame["tcr_expanded_clones"].notna().all()
    return {
        "patients": n, "tcr_rows": len(raw.tcr), "maf_rows": len(raw.mutations),
        "expression_cells": int(raw.expression.size), "generate_s": round(generated, 1),
        "build_features_s": round(seconds, 1),
        "rss_inputs_gb": round(rss_inputs, 2),
        "peak_rss_build_gb": round(_memory_gb("VmHWM"), 2),
        "peak_rss_generation_gb": round(peak_generation, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one)))
        return
    rows = []
    for n in args.sizes:
        out = subprocess.run([sys.executable, __file__, "--one", str(n)], check=True,
                             capture_output=True, text=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    if len(rows) >= 2:
        a, b = rows[0], rows[-1]
        ratio = b["build_features_s"] / max(a["build_features_s"], 1e-9)
        print(f"time ratio {b['patients']}/{a['patients']} patients: {ratio:.1f}x "
              f"(linear = {b['patients'] / a['patients']:.0f}x)")


if __name__ == "__main__":
    main()
