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

import common
from cohorts.io import (
    CLINICAL_FILE,
    CTDNA_FILE,
    EXPRESSION_FILE,
    MAF_FILE,
    META_FILE,
    TCR_DIR,
    TRUTH_CURVES_FILE,
    TRUTH_FILE,
    read_cohort,
)
from cohorts.meta import CohortMeta
from cohorts.schema import TIMEPOINTS
from cohorts.simulate import biology, conditional, covariates, latent, missingness, outcomes
from common.atomic import atomic_directory

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
    truth_curves: pd.DataFrame  # long: patient_id, level, arm, S(t) on outcomes.CURVE_MONTHS
    meta: CohortMeta
    observed: conditional.Observed  # what the conditional truth conditions on (evaluation only)


def simulate_trial(n_patients: int, seed: int, scenario: str = "published") -> SimulatedTrial:
    """Simulate ``n_patients`` randomised 1:1; equal arguments give equal trials."""
    if scenario not in outcomes.SCENARIOS:
        raise ValueError(f"scenario must be one of {sorted(outcomes.SCENARIOS)}, got {scenario!r}")
    if n_patients < 2:
        raise ValueError(f"n_patients must be >= 2, got {n_patients}")
    effect = outcomes.SCENARIOS[scenario]
    # One independent stream per step, so changing one step leaves the others' draws unchanged.
    names = ["cov", "bio", "maf", "expr", "outcome", "arm", "tcr", "ctdna", "hidden", "missing",
             "truth"]
    rng = {name: np.random.default_rng(s) for name, s in zip(
        names, np.random.SeedSequence(seed).spawn(len(names)), strict=True)}
    n = n_patients
    ids = np.array([f"VT{i:05d}" for i in range(1, n + 1)], dtype=object)

    baseline, _ = covariates.sample_covariates(rng["cov"], n)
    bio = biology.latent_biology(rng["bio"], n)
    maf, counts = biology.mutation_calls(rng["maf"], ids, baseline, bio)
    baseline["tmb"] = np.round(counts / biology.PANEL_SIZE_MB, 2)  # derived from the MAF
    readouts = latent.Readouts(
        s_p=latent.pdl1_score(baseline["pdl1_tps"].to_numpy()), tmb_count=counts.astype(float),
        stk11=baseline["stk11_mut"].to_numpy(float), keap1=baseline["keap1_mut"].to_numpy(float),
        wnt=bio["wnt_mut"].to_numpy(float), clinical_hot=outcomes.clinical_hot(baseline),
        panel_size_mb=biology.PANEL_SIZE_MB)
    # the patient's hidden biology: assay noise, host fitness, RT-specific factor
    noise = rng["hidden"].standard_normal((n, latent.N_NOISES))
    r_factor = rng["hidden"].standard_normal(n)
    hot, cold, biopsy = latent.index_model(readouts, outcomes.INDEX_WEIGHTS).realise(noise).T
    expr = biology.expression(rng["expr"], ids, biopsy)

    mu, harmed = outcomes.log_median(baseline), outcomes.harmed(baseline, effect)
    params = outcomes.arm_parameters(hot, cold, r_factor, mu, harmed, effect)
    potential = outcomes.potential_outcomes(rng["outcome"], params)
    arm = rng["arm"].permutation(np.arange(n) % 2)  # exact 1:1 randomisation
    observed = outcomes.observe(rng["arm"], potential, arm, baseline["ecog"].to_numpy(),
                                effect.transient_pr)
    masks = missingness.missing_masks(rng["missing"], baseline, effect.omics_missing)

    responder = observed["responder"].to_numpy()
    tcr = biology.repertoires(rng["tcr"], n, responder.astype(float), arm.astype(float))
    ldh_z = np.log(baseline["ldh"].to_numpy() / covariates.LDH_MEDIAN) / covariates.LDH_LOG_SD
    ctdna = biology.ctdna(rng["ctdna"], ids, ldh_z, observed["pfs_true"].to_numpy(), responder)

    # what the files show: masked modalities removed
    clinical = pd.concat([pd.DataFrame({"patient_id": ids, "arm": arm}),
                          observed.drop(columns=["responder", "pfs_true"]), baseline], axis=1)
    clinical["pdl1_tps"] = clinical["pdl1_tps"].mask(masks["pdl1"].to_numpy())
    for col in ("tmb", *MAF_FLAGS):
        clinical[col] = clinical[col].mask(masks["maf"].to_numpy())
    for col in MAF_FLAGS:
        clinical[col] = clinical[col].astype("Int64")
    maf = maf[~maf["Tumor_Sample_Barcode"].isin(set(ids[masks["maf"].to_numpy()]))]
    b_hat, b_var = biology.biopsy_readout(expr)
    b_hat[masks["expression"].to_numpy()] = np.nan
    expr = expr.drop(columns=list(ids[masks["expression"].to_numpy()]))
    tcr = tcr[~masks["tcr"].to_numpy()[tcr["patient"].to_numpy()]].reset_index(drop=True)
    tcr.insert(0, "patient_id", pd.Categorical.from_codes(tcr.pop("patient"), categories=ids))
    tcr["timepoint"] = pd.Categorical.from_codes(tcr["timepoint"], categories=TIMEPOINTS)

    observed_for_truth = _observed(readouts, masks, b_hat, b_var, mu, harmed, clinical)
    truth, curves = _truth(ids, potential, params, observed_for_truth, effect, rng["truth"])
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
        generator={"name": "abscopal simulate", "version": common.__version__, "seed": seed,
                   "scenario": scenario, "n_patients": n},
    )
    return SimulatedTrial(clinical=clinical[CLINICAL_COLUMNS], mutations=maf, expression=expr,
                          tcr=tcr, ctdna=ctdna, truth=truth, truth_curves=curves, meta=meta,
                          observed=observed_for_truth)


MAF_FLAGS = tuple(f"{gene}_mut" for gene in covariates.DRIVER_FLAGS)  # empty without a MAF
SCALAR_ESTIMANDS = ("s_ici_6mo", "s_rt_ici_6mo", "s_ici_12mo", "s_rt_ici_12mo", "rmst_ici_12mo",
                    "rmst_rt_ici_12mo")
GAINS = ("pfs_gain_6mo", "pfs_gain_12mo", "rmst_gain_12mo")


def _observed(readouts, masks, b_hat, b_var, mu, harmed, clinical) -> conditional.Observed:
    """What the written files show, in the form the conditional truth conditions on."""
    maf_missing = masks["maf"].to_numpy()
    seen = latent.Readouts(
        s_p=np.where(masks["pdl1"], np.nan, readouts.s_p),
        tmb_count=np.where(maf_missing, -1.0, readouts.tmb_count),
        stk11=np.where(maf_missing, np.nan, readouts.stk11),
        keap1=np.where(maf_missing, np.nan, readouts.keap1),
        wnt=np.where(maf_missing, np.nan, readouts.wnt),
        clinical_hot=readouts.clinical_hot, panel_size_mb=readouts.panel_size_mb)
    copula = {
        "male": (clinical["sex"] == "M").to_numpy(),
        "ever": (clinical["smoking_status"] != "never").to_numpy(),
        "adeno": (clinical["histology"] == "adenocarcinoma").to_numpy(),
        "ecog": clinical["ecog"].to_numpy(), "prior_lines": clinical["prior_lines"].to_numpy(),
        "age": clinical["age"].to_numpy(float), "albumin": clinical["albumin"].to_numpy(float),
        "nlr": clinical["nlr"].to_numpy(float),
        "pack_years": clinical["pack_years"].to_numpy(float),
        "pdl1_tps": clinical["pdl1_tps"].to_numpy(float),
        "tmb_count": seen.tmb_count,
        "egfr": clinical["egfr_mut"].to_numpy(float, na_value=np.nan),
    }
    return conditional.Observed(readouts=seen, b_hat=b_hat, b_hat_var=b_var, mu=mu,
                                harmed=harmed, copula=copula)


def _truth(ids, potential, params, obs: conditional.Observed, effect,
           rng) -> tuple[pd.DataFrame, pd.DataFrame]:
    """truth.csv (individual and conditional values of every estimand) and truth_curves.csv."""
    individual = outcomes.estimands(params, outcomes.CURVE_MONTHS)
    individual.update(outcomes.gains(individual))
    cond = conditional.conditional_truth(obs, effect, rng)
    out = {"patient_id": ids,
           "pfs_months_ici": np.round(potential["pfs_ici"].to_numpy(), 4),
           "pfs_months_rt_ici": np.round(potential["pfs_rt"].to_numpy(), 4)}
    for key in SCALAR_ESTIMANDS:
        out[key] = np.round(individual[key], 6)
    for key in GAINS:
        out[f"true_{key}"] = np.round(individual[key], 6)
    for key in SCALAR_ESTIMANDS:
        out[f"cond_{key}"] = np.round(cond[key], 6)
    for key in GAINS:
        out[f"cond_{key}"] = np.round(cond[key], 6)
    for key in GAINS:
        out[f"cond_mc_se_{key}"] = np.round(cond[f"mc_se_{key}"], 6)
    out["cond_exact"] = cond["exact"].astype(int)
    months = [f"s_{t:g}" for t in outcomes.CURVE_MONTHS]
    rows = []
    for level, src in (("individual", individual), ("conditional", cond)):
        for arm_name in ("ici", "rt_ici"):
            block = pd.DataFrame(np.round(src[f"curve_{arm_name}"], 6), columns=months)
            block.insert(0, "arm", arm_name)
            block.insert(0, "level", level)
            block.insert(0, "patient_id", ids)
            rows.append(block)
    curves = pd.concat(rows, ignore_index=True)
    return pd.DataFrame(out), curves


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
        _write_table(trial.truth_curves, tmp / TRUTH_CURVES_FILE)
        write_repertoires(trial.tcr, tmp / TCR_DIR)
        (tmp / META_FILE).write_text(trial.meta.to_json())
        read_cohort(tmp)  # the written files must pass the cohort format
    return out

