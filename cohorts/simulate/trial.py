"""The virtual PEMBRO-RT trial: simulate it in memory, or write it as a cohort directory.

Every file follows docs/cohort-format.md; truth.csv sits beside them for evaluation only.
SYNTHETIC data: cohort.json says so in ``synthetic`` and in its description.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

import abscopal
from abscopal.atomic import atomic_directory
from cohorts.io import (
    CLINICAL_FILE,
    CTDNA_FILE,
    EXPRESSION_FILE,
    MAF_FILE,
    META_FILE,
    TCR_DIR,
    TRUTH_FILE,
    read_cohort,
)
from cohorts.meta import CohortMeta
from cohorts.schema import TIMEPOINTS
from cohorts.simulate import biology, covariates, outcomes

ON_TREATMENT_WEEK = 6  # PEMBRO-RT translational sampling (Huang et al., Nat Cancer 2025)
SOURCES = [
    "Theelen et al., JAMA Oncol 2019;5:1276 (PEMBRO-RT, NCT02492568)",
    "Huang et al., Nat Cancer 2025, doi:10.1038/s43018-025-01018-w",
    "Chang et al., Nat Cancer 2024 (LORIS compilation; covariates fitted to "
    "../shared/data/public_ici/nsclc_ici_cohorts.csv)",
    "Shire et al. 2020, PMC7470384 (STK11, KRAS+STK11 prevalence)",
    "Zehir et al., Nat Med 2017 (MSK-IMPACT panel)",
]
CLINICAL_COLUMNS = [
    "patient_id", "arm", "pfs_months", "pfs_event", "os_months", "os_event", "best_response",
    "age", "sex", "ecog", "histology", "smoking_status", "pack_years", "pdl1_tps", "tmb", "nlr",
    "ldh", "albumin", "prior_lines", "stk11_mut", "keap1_mut", "egfr_mut", "kras_mut",
    "tp53_mut",
]


@dataclass
class SimulatedTrial:
    """A virtual trial in memory: the observed cohort files as dataframes, plus the truth."""

    clinical: pd.DataFrame
    mutations: pd.DataFrame
    expression: pd.DataFrame
    tcr: pd.DataFrame  # long format: patient_id, timepoint + the AIRR columns
    ctdna: pd.DataFrame
    truth: pd.DataFrame
    meta: CohortMeta


def simulate_trial(n_patients: int, seed: int, scenario: str = "published") -> SimulatedTrial:
    """Simulate ``n_patients`` randomised 1:1; equal arguments give equal trials."""
    if scenario not in outcomes.SCENARIOS:
        raise ValueError(f"scenario must be one of {sorted(outcomes.SCENARIOS)}, got {scenario!r}")
    if n_patients < 2:
        raise ValueError(f"n_patients must be >= 2, got {n_patients}")
    # One independent stream per step, so changing one step leaves the others' draws unchanged.
    streams = np.random.SeedSequence(seed).spawn(8)
    rng = {name: np.random.default_rng(s) for name, s in zip(
        ["cov", "bio", "maf", "expr", "outcome", "arm", "tcr", "ctdna"], streams, strict=True)}
    n = n_patients
    ids = np.array([f"VT{i:05d}" for i in range(1, n + 1)], dtype=object)

    baseline, latent = covariates.sample_covariates(rng["cov"], n)
    bio = biology.latent_biology(rng["bio"], baseline, latent)
    maf, maf_tmb = biology.mutation_calls(rng["maf"], ids, baseline, bio)
    baseline["tmb"] = np.round(maf_tmb, 2)  # clinical TMB is derived from the MAF
    expr = biology.expression(rng["expr"], ids, bio, latent)

    model = outcomes.patient_model(baseline, bio, outcomes.SCENARIOS[scenario])
    potential = outcomes.potential_outcomes(rng["outcome"], model)
    arm = rng["arm"].permutation(np.arange(n) % 2)  # exact 1:1 randomisation
    observed = outcomes.observe(rng["arm"], potential, arm)
    truth = outcomes.truth_table(ids, model, potential)

    responder = observed["responder"].to_numpy()
    tcr = biology.repertoires(rng["tcr"], n, responder.astype(float), arm.astype(float))
    # categoricals: compact, and cheap to split into one file per patient and timepoint
    tcr.insert(0, "patient_id", pd.Categorical.from_codes(tcr.pop("patient"), categories=ids))
    tcr["timepoint"] = pd.Categorical.from_codes(tcr["timepoint"], categories=TIMEPOINTS)
    ldh_z = np.log(baseline["ldh"].to_numpy() / covariates.LDH_MEDIAN) / covariates.LDH_LOG_SD
    ctdna = biology.ctdna(rng["ctdna"], ids, ldh_z, observed["pfs_true"].to_numpy(), responder)

    clinical = pd.concat([pd.DataFrame({"patient_id": ids, "arm": arm}),
                          observed.drop(columns=["responder", "pfs_true"]), baseline], axis=1)
    meta = CohortMeta(
        name="pembro-rt-virtual",
        description=(
            f"SYNTHETIC virtual trial modelled on PEMBRO-RT (previously treated metastatic NSCLC, "
            f"pembrolizumab alone vs stereotactic RT then pembrolizumab, 1:1), {n} simulated "
            f"patients, scenario '{scenario}'. Not real patients. See docs/virtual-trial.md."
        ),
        synthetic=True,
        panel_size_mb=biology.PANEL_SIZE_MB,
        on_treatment_week=ON_TREATMENT_WEEK,
        sources=SOURCES,
        generator={"name": "abscopal simulate", "version": abscopal.__version__, "seed": seed,
                   "scenario": scenario, "n_patients": n},
    )
    return SimulatedTrial(clinical=clinical[CLINICAL_COLUMNS], mutations=maf, expression=expr,
                          tcr=tcr, ctdna=ctdna, truth=truth, meta=meta)


def _write_table(df: pd.DataFrame, path: Path, delimiter: str = ",") -> None:
    """Fast, deterministic CSV/TSV via pyarrow (no quoting; values never hold delimiters)."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    opts = pacsv.WriteOptions(delimiter=delimiter, quoting_style="none", quoting_header="none")
    pacsv.write_csv(table, path, write_options=opts)


def write_repertoires(tcr: pd.DataFrame, root: Path) -> None:
    """One AIRR TSV per patient and timepoint, sliced out of one buffer written at once."""
    body = tcr[["junction_aa", "v_call", "j_call", "duplicate_count"]]
    sink = io.BytesIO()
    table = pa.Table.from_pandas(body, preserve_index=False)
    opts = pacsv.WriteOptions(include_header=False, delimiter="\t", quoting_style="none")
    pacsv.write_csv(table, sink, write_options=opts)
    buf = sink.getvalue()
    line_ends = np.flatnonzero(np.frombuffer(buf, np.uint8) == ord("\n")) + 1
    header = ("\t".join(body.columns) + "\n").encode()
    tp = tcr["timepoint"].cat.codes.to_numpy()
    pid = tcr["patient_id"].cat.codes.to_numpy()
    starts = np.flatnonzero(np.r_[True, (tp[1:] != tp[:-1]) | (pid[1:] != pid[:-1])])
    stops = np.r_[starts[1:], len(tcr)]
    dirs = [str(root / t) for t in tcr["timepoint"].cat.categories]
    for d in dirs:
        Path(d).mkdir(parents=True)
    names = tcr["patient_id"].cat.categories.to_numpy()
    offsets = np.r_[0, line_ends].tolist()
    view = memoryview(buf)
    for a, b in zip(starts.tolist(), stops.tolist(), strict=True):
        with open(f"{dirs[tp[a]]}/{names[pid[a]]}.tsv", "wb") as fh:
            fh.write(header)
            fh.write(view[offsets[a]:offsets[b]])


def write_trial(out: str | Path, n_patients: int, seed: int, scenario: str = "published",
                overwrite: bool = False) -> Path:
    """Simulate and write the cohort directory atomically; returns its path.

    A failure (including a written clinical.csv that does not pass ``read_cohort``) leaves no
    partial directory behind.
    """
    out = Path(out)
    trial = simulate_trial(n_patients, seed, scenario)
    with atomic_directory(out, overwrite=overwrite) as tmp:
        _write_table(trial.clinical, tmp / CLINICAL_FILE)
        _write_table(trial.mutations, tmp / MAF_FILE, delimiter="\t")
        _write_table(trial.expression, tmp / EXPRESSION_FILE, delimiter="\t")
        _write_table(trial.ctdna, tmp / CTDNA_FILE)
        _write_table(trial.truth, tmp / TRUTH_FILE)
        write_repertoires(trial.tcr, tmp / TCR_DIR)
        (tmp / META_FILE).write_text(trial.meta.to_json())
        read_cohort(tmp)  # the written files must pass the cohort format
    return out

