"""The virtual trial: calibration computed from the WRITTEN FILES (lifelines), format, truth.

Targets (issue 10; Theelen et al., JAMA Oncol 2019; Huang et al., Nat Cancer 2025) are checked on
a 5,000-patient trial. Tolerances: at n = 5,000 the standard error of a log hazard ratio is about
0.03, of a share about 0.7 points and of an arm's KM median about 0.1 month, so each band below
is the issue's target band (or the published figure +/- 5 points for response rates), not a
fitted one.
"""

from __future__ import annotations

import filecmp
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.utils import restricted_mean_survival_time

from cohorts import read_cohort
from cohorts.meta import CohortMeta
from cohorts.schema import AIRR_SCHEMA, CTDNA_SCHEMA, MAF_SCHEMA, validate
from cohorts.simulate import simulate_trial, write_trial
from cohorts.simulate import trial as trial_module
from cohorts.simulate.biology import TMB_CLASSIFICATIONS
from cohorts.simulate.calibration import (
    PUBLISHED,
    calibration_table,
    censoring_table,
    difficulty_table,
    missingness_table,
)

N_LARGE = 5000


@pytest.fixture(scope="module")
def published_trial_dir(tmp_path_factory) -> Path:
    return write_trial(tmp_path_factory.mktemp("vt") / "published", n_patients=N_LARGE, seed=11)


@pytest.fixture(scope="module")
def clinical(published_trial_dir) -> pd.DataFrame:
    return read_cohort(published_trial_dir).clinical


@pytest.fixture(scope="module")
def truth(published_trial_dir) -> pd.DataFrame:
    return pd.read_csv(published_trial_dir / "truth.csv")


def _median(d: pd.DataFrame) -> float:
    return KaplanMeierFitter().fit(d["pfs_months"], d["pfs_event"]).median_survival_time_


def _cox(d: pd.DataFrame) -> tuple[float, float, float]:
    cph = CoxPHFitter().fit(d[["pfs_months", "pfs_event", "arm"]], "pfs_months", "pfs_event")
    lo, hi = np.exp(cph.confidence_intervals_.loc["arm"]).to_numpy()
    return float(np.exp(cph.params_["arm"])), float(lo), float(hi)


def _rmst_gain(d: pd.DataFrame, tau: float = 12.0) -> float:
    out = []
    for arm in (0, 1):
        g = d[d["arm"] == arm]
        out.append(restricted_mean_survival_time(
            KaplanMeierFitter().fit(g["pfs_months"], g["pfs_event"]), t=tau))
    return out[1] - out[0]


@pytest.mark.slow
def test_medians_orr_and_hazard_ratios_match_the_published_summaries(clinical):
    ici, rt = clinical[clinical["arm"] == 0], clinical[clinical["arm"] == 1]
    assert 1.5 <= _median(ici) <= 2.3  # published 1.8-1.9
    assert 4.5 <= _median(rt) <= 7.0  # published 5.2-6.6
    orr = [g["best_response"].isin(["CR", "PR"]).mean() for g in (ici, rt)]
    assert orr[0] == pytest.approx(0.18, abs=0.05)
    assert orr[1] == pytest.approx(0.36, abs=0.05)
    assert 0.55 <= _cox(clinical)[0] <= 0.85  # non-proportional: medians x3, HR near 0.7
    neg, high = clinical[clinical["pdl1_tps"] < 1], clinical[clinical["pdl1_tps"] >= 50]
    assert 0.35 <= _cox(neg)[0] <= 0.70
    assert _cox(neg)[2] < _cox(high)[1]  # intervals do not overlap: benefit sits in PD-L1 < 1%
    assert _rmst_gain(neg) > _rmst_gain(high) + 1.0


@pytest.mark.slow
def test_real_censoring_staggered_and_informative(clinical, published_trial_dir):
    censored = clinical[clinical["pfs_event"] == 0]
    early = (clinical["pfs_event"] == 0) & (clinical["pfs_months"] < 12)
    assert 0.20 <= early.mean() <= 0.40
    for arm in (0, 1):
        assert 0.10 <= early[clinical["arm"] == arm].mean() <= 0.45
    assert censored["pfs_months"].max() > 30  # staggered accrual: follow-up up to ~36 months
    # dropout depends on ECOG (a baseline covariate): the censoring hazard of frail patients is
    # higher (Cox model with censoring as the event; progression censors it)
    d = pd.DataFrame({"t": clinical["pfs_months"], "censored": 1 - clinical["pfs_event"],
                      "frail": (clinical["ecog"] >= 2).astype(float)})
    cph = CoxPHFitter().fit(d, "t", "censored")
    assert np.exp(cph.confidence_intervals_.loc["frail"].iloc[0]) > 1.5
    table = censoring_table(published_trial_dir).set_index("arm")
    assert table.loc["all", "censored before 12 months"] == f"{early.mean():.1%}"


@pytest.mark.slow
def test_missingness_per_modality_is_realistic_and_at_random(published_trial_dir, clinical,
                                                            truth):
    table = missingness_table(published_trial_dir).set_index("modality")["missing"]
    share = {k: float(v.rstrip("%")) / 100 for k, v in table.items()}
    assert 0.30 <= share["expression (no column in expression.tsv)"] <= 0.50
    assert 0.30 <= share["TCR repertoire, baseline (no file)"] <= 0.50
    assert 0.10 <= share["PD-L1 (clinical pdl1_tps empty)"] <= 0.20
    assert 0.03 <= share["mutations (no MAF rows, tmb empty)"] <= 0.15
    header = (published_trial_dir / "expression.tsv").read_text().split("\n", 1)[0]
    no_rna = ~clinical["patient_id"].isin(header.split("\t")[1:])
    # depends on observed covariates ...
    assert no_rna[clinical["ecog"] >= 2].mean() > no_rna[clinical["ecog"] < 2].mean() + 0.05
    # ... never on the outcome: within the reference covariate stratum, patients whose true gain
    # is above the median miss RNA as often as the others (within 4 standard errors)
    ref = ((clinical["ecog"] < 2) & (clinical["age"] < 75) & (clinical["prior_lines"] == 1)
           ).to_numpy()
    top = (truth["true_rmst_gain_12mo"] > truth["true_rmst_gain_12mo"].median()).to_numpy()
    a, b = no_rna.to_numpy()[ref & top], no_rna.to_numpy()[ref & ~top]
    p = no_rna.to_numpy()[ref].mean()
    assert abs(a.mean() - b.mean()) < 4 * np.sqrt(p * (1 - p) * (1 / len(a) + 1 / len(b)))


@pytest.mark.slow
def test_benefit_is_only_partly_predictable(published_trial_dir):
    """Oracle R^2 in 0.35-0.70 for both estimands; PD-L1 alone explains well under half."""
    table = difficulty_table(published_trial_dir).set_index("estimand")
    for g in ("rmst_gain_12mo", "pfs_gain_6mo"):
        assert 0.35 <= float(table.loc[g, "conditional R^2"]) <= 0.70
        assert 0.30 <= float(table.loc[g, "oracle R^2 (GBM, all inputs)"]) <= 0.70
        assert float(table.loc[g, "R^2 of PD-L1 alone (GBM)"]) < 0.45


@pytest.mark.slow
def test_ici_arm_marginals_match_the_real_cohort(public_ici_path, clinical):
    real = pd.read_csv(public_ici_path)
    ici = clinical[clinical["arm"] == 0]
    assert ici["tmb"].median() == pytest.approx(real["tmb"].median(), rel=0.15)
    assert (ici["tmb"].dropna() >= 10).mean() == pytest.approx((real["tmb"] >= 10).mean(),
                                                              abs=0.05)
    for col in ("albumin", "nlr", "age"):
        assert ici[col].median() == pytest.approx(real[col].median(), rel=0.08), col
    assert (ici["sex"] == "M").mean() == pytest.approx(real["sex"].mean(), abs=0.04)
    ever = real["smoking_status"].dropna().mean()
    assert (ici["smoking_status"] != "never").mean() == pytest.approx(ever, abs=0.04)
    # PD-L1 is shifted on purpose to PEMBRO-RT's 47/76 negative; the positive part keeps its shape
    pdl1 = ici["pdl1_tps"].dropna()
    assert (pdl1 < 1).mean() == pytest.approx(47 / 76, abs=0.04)
    pos_real = real["pdl1_tps"].dropna()
    pos_real = pos_real[pos_real >= 1]
    pos_sim = pdl1[pdl1 >= 1]
    assert (pos_sim >= 50).mean() == pytest.approx((pos_real >= 50).mean(), abs=0.06)


@pytest.mark.slow
def test_every_file_follows_the_cohort_format(published_trial_dir, clinical):
    root = published_trial_dir
    meta = CohortMeta.read(root / "cohort.json")
    assert meta.synthetic and "SYNTHETIC" in meta.description
    assert meta.on_treatment_week == 6 and meta.panel_size_mb == pytest.approx(1.14)
    maf = pd.read_csv(root / "mutations.maf", sep="\t", comment="#", keep_default_na=False)
    validate(maf, MAF_SCHEMA, "mutations.maf")
    validate(pd.read_csv(root / "ctdna.csv"), CTDNA_SCHEMA, "ctdna.csv")
    ids = set(clinical["patient_id"])
    for tp in ("baseline", "on_treatment"):
        files = sorted((root / "tcr" / tp).glob("*.tsv"))
        assert {f.stem for f in files} < ids  # patients without a blood sample have no file
        for f in files[:50]:
            validate(pd.read_csv(f, sep="\t"), AIRR_SCHEMA, str(f))
    expr = pd.read_csv(root / "expression.tsv", sep="\t", index_col="gene")
    assert set(expr.columns) < ids and (expr >= 0).all().all()
    # clinical TMB is the MAF's non-synonymous count over the declared panel, and empty exactly
    # for the patients the MAF leaves out
    counted = maf[maf["Variant_Classification"].isin(TMB_CLASSIFICATIONS)]
    sequenced = clinical["tmb"].notna()
    n = counted.groupby("Tumor_Sample_Barcode").size().reindex(
        clinical.loc[sequenced, "patient_id"], fill_value=0)
    np.testing.assert_allclose(clinical.loc[sequenced, "tmb"], n.to_numpy() / meta.panel_size_mb,
                               atol=0.006)
    assert not set(maf["Tumor_Sample_Barcode"]) & set(clinical.loc[~sequenced, "patient_id"])
    assert clinical.loc[~sequenced, "stk11_mut"].isna().all()
    assert (maf["Variant_Classification"] == "Silent").any()
    # flags are exactly the driver calls
    stk11 = set(maf.loc[maf["Hugo_Symbol"] == "STK11", "Tumor_Sample_Barcode"])
    assert stk11 == set(clinical.loc[clinical["stk11_mut"] == 1, "patient_id"])
    assert (clinical["os_months"] >= clinical["pfs_months"]).all()


@pytest.mark.slow
def test_hidden_biology_shows_in_raw_files(published_trial_dir, clinical):
    root = published_trial_dir
    expr = np.log2(pd.read_csv(root / "expression.tsv", sep="\t", index_col="gene") + 1)
    ifng = expr.loc[["IFNG", "STAT1", "CXCL9", "CXCL10", "IDO1", "HLA-DRA"]].mean()
    c = clinical.set_index("patient_id").loc[ifng.index]
    assert ifng.corr(c["pdl1_tps"], method="spearman") > 0.25
    assert ifng[c["stk11_mut"] == 1].mean() < ifng[c["stk11_mut"] == 0].mean() - 0.3
    assert expr.loc[["POLR2A", "TBP", "SDHA"]].std(axis=1).max() < 0.5 * ifng.std()  # housekeeping
    # clonal expansion at week 6: larger after RT in responders (Huang et al. 2025)
    with_tcr = {p.stem for p in (root / "tcr" / "on_treatment").glob("*.tsv")}
    c = clinical.set_index("patient_id")
    c = c[c.index.isin(with_tcr)]
    sample = c.groupby(["arm", c["best_response"].isin(["CR", "PR"])]).head(40)
    top = {}
    for pid in sample.index:
        on = pd.read_csv(root / "tcr" / "on_treatment" / f"{pid}.tsv", sep="\t")
        base = pd.read_csv(root / "tcr" / "baseline" / f"{pid}.tsv", sep="\t")
        keys = ["junction_aa", "v_call", "j_call"]
        m = on.merge(base, on=keys, how="left", suffixes=("", "_b"))
        m = m.fillna({"duplicate_count_b": 0})
        top[pid] = (m["duplicate_count"] / on["duplicate_count"].sum()
                    - m["duplicate_count_b"] / base["duplicate_count"].sum()).clip(lower=0).sum()
    gain = pd.Series(top)
    resp = sample["best_response"].isin(["CR", "PR"])
    rt_resp = gain[(sample["arm"] == 1) & resp].mean()
    ici_nonresp = gain[(sample["arm"] == 0) & ~resp].mean()
    assert rt_resp > 1.5 * ici_nonresp


@pytest.mark.slow
def test_calibration_table_reports_every_published_row(published_trial_dir, clinical):
    table = calibration_table(published_trial_dir).set_index("quantity")
    assert list(table.index) == list(PUBLISHED)
    ici = clinical[clinical["arm"] == 0]
    assert float(table.loc["median PFS, ICI alone (months)", "simulated"]) == pytest.approx(
        _median(ici), abs=0.006)


def test_null_scenario_has_exactly_no_effect(tmp_path):
    root = write_trial(tmp_path / "null", n_patients=3000, seed=5, scenario="null")
    null = read_cohort(root).clinical
    _, lo, hi = _cox(null)
    assert lo <= 1.0 <= hi
    truth = pd.read_csv(root / "truth.csv")
    gains = [c for c in truth.columns if "gain" in c and "mc_se" not in c]
    assert len(gains) == 6 and (truth[gains] == 0).all().all()
    assert (truth["pfs_months_ici"] == truth["pfs_months_rt_ici"]).all()


def test_scenarios_order_the_effect(tmp_path):
    """weak < published < strong on the files' HR; weak is half as heterogeneous."""
    trials = {s: simulate_trial(3000, seed=5, scenario=s) for s in ("weak", "published", "strong")}
    hr = {s: _cox(t.clinical)[0] for s, t in trials.items()}
    assert hr["strong"] < hr["published"] < hr["weak"]
    assert 0.75 <= hr["weak"] <= 0.92  # issue target: about 0.85
    sd = {s: t.truth["cond_rmst_gain_12mo"].std() / t.truth["cond_rmst_gain_12mo"].mean()
          for s, t in trials.items()}
    assert sd["weak"] < 0.6 * sd["published"]  # relative spread of the benefit at most ~half


def test_harm_scenario_harms_the_frail_subgroup(tmp_path):
    c = read_cohort(write_trial(tmp_path / "harm", n_patients=4000, seed=8,
                                scenario="harm")).clinical
    truth = pd.read_csv(tmp_path / "harm" / "truth.csv")
    frail = ((c["ecog"] >= 2) | (c["ldh"] > 375)).to_numpy()
    assert 0.12 <= frail.mean() <= 0.30
    assert (truth.loc[frail, "true_rmst_gain_12mo"] < 0).all()
    assert _rmst_gain(c[frail]) < 0 < _rmst_gain(c[~frail])  # visible in the files' KM curves


def test_latent_scenario_effect_is_not_predicted_by_inputs(tmp_path):
    root = write_trial(tmp_path / "latent", n_patients=3000, seed=8, scenario="latent")
    c = read_cohort(root).clinical
    # no PD-L1 heterogeneity: PD-L1 negative and >= 50% have overlapping hazard ratios
    neg, high = c[c["pdl1_tps"] < 1], c[c["pdl1_tps"] >= 50]
    assert _cox(neg)[2] > _cox(high)[1] and _cox(high)[2] > _cox(neg)[1]
    table = difficulty_table(root).set_index("estimand")
    assert float(table.loc["rmst_gain_12mo", "conditional R^2"]) < 0.2
    assert float(table.loc["rmst_gain_12mo", "oracle R^2 (GBM, all inputs)"]) < 0.2


def test_missing_scenario_drops_half_the_omics(tmp_path):
    root = write_trial(tmp_path / "missing", n_patients=1500, seed=8, scenario="missing")
    share = missingness_table(root).set_index("modality")["missing"].str.rstrip("%").astype(float)
    assert share["expression (no column in expression.tsv)"] >= 45
    assert share["TCR repertoire, baseline (no file)"] >= 45
    assert share["mutations (no MAF rows, tmb empty)"] >= 40


def test_truth_is_consistent(tmp_path):
    t = simulate_trial(400, seed=2)
    tr, cl = t.truth, t.clinical
    for level in ("", "cond_"):
        for h in (6, 12):
            np.testing.assert_allclose(
                tr[f"{level or 'true_'}pfs_gain_{h}mo"],
                tr[f"{level}s_rt_ici_{h}mo"] - tr[f"{level}s_ici_{h}mo"], atol=3e-6)
        np.testing.assert_allclose(
            tr[f"{level or 'true_'}rmst_gain_12mo"],
            tr[f"{level}rmst_rt_ici_12mo"] - tr[f"{level}rmst_ici_12mo"], atol=3e-6)
    assert tr["true_rmst_gain_12mo"].between(-12, 12).all()
    assert (tr["s_ici_6mo"] >= tr["s_ici_12mo"]).all()
    # observed PFS is the randomised arm's potential PFS, censored
    own = np.where(cl["arm"] == 1, tr["pfs_months_rt_ici"], tr["pfs_months_ici"])
    events = cl["pfs_event"] == 1
    np.testing.assert_allclose(cl.loc[events, "pfs_months"], own[events], atol=2e-3)
    assert (cl.loc[~events, "pfs_months"] <= own[~events] + 1e-3).all()
    assert cl["arm"].sum() == 200


def test_truth_curves_on_the_serving_grid(tmp_path):
    from models.base import SURVIVAL_GRID_MONTHS

    t = simulate_trial(300, seed=4)
    curves = t.truth_curves.set_index(["patient_id", "level", "arm"])
    months = [float(c.removeprefix("s_")) for c in curves.columns]
    np.testing.assert_allclose(months, SURVIVAL_GRID_MONTHS)
    tr = t.truth.set_index("patient_id")
    for level, prefix in (("individual", ""), ("conditional", "cond_")):
        for arm in ("ici", "rt_ici"):
            c = curves.xs((level, arm), level=("level", "arm"))
            assert (c["s_0"] == 1).all() and (np.diff(c.to_numpy(), axis=1) <= 1e-9).all()
            for h in (6, 12):
                atol = 2e-6 if level == "individual" else 0.01  # the curves' quadrature error
                np.testing.assert_allclose(c[f"s_{h}"], tr[f"{prefix}s_{arm}_{h}mo"], atol=atol)


def test_same_seed_same_bytes_other_seed_other_files(tmp_path):
    a = write_trial(tmp_path / "a", n_patients=60, seed=9)
    b = write_trial(tmp_path / "b", n_patients=60, seed=9)
    c = write_trial(tmp_path / "c", n_patients=60, seed=10)
    files = [p.relative_to(a) for p in a.rglob("*") if p.is_file()]
    tcr = [f for f in files if f.parts[0] == "tcr"]
    assert len(files) == 7 + len(tcr) and 0 < len(tcr) < 120  # 6 tables + cohort.json + TCR
    _, mismatch, errors = filecmp.cmpfiles(a, b, [str(f) for f in files], shallow=False)
    assert not mismatch and not errors
    assert (a / "clinical.csv").read_bytes() != (c / "clinical.csv").read_bytes()
    assert (a / "mutations.maf").read_bytes() != (c / "mutations.maf").read_bytes()


def test_failed_write_leaves_no_directory(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(trial_module, "write_repertoires", boom)
    with pytest.raises(OSError, match="disk full"):
        write_trial(tmp_path / "vt", n_patients=20, seed=1)
    assert list(tmp_path.iterdir()) == []


def test_refuses_to_overwrite_and_bad_arguments(tmp_path):
    write_trial(tmp_path / "vt", n_patients=10, seed=1)
    with pytest.raises(FileExistsError):
        write_trial(tmp_path / "vt", n_patients=10, seed=1)
    write_trial(tmp_path / "vt", n_patients=12, seed=1, overwrite=True)
    assert len(read_cohort(tmp_path / "vt").clinical) == 12
    with pytest.raises(ValueError, match="scenario"):
        simulate_trial(10, seed=1, scenario="huge")
