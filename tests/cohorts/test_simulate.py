"""The virtual trial: calibration computed from the WRITTEN FILES (lifelines), format, truth.

Calibration targets (issue 2; Theelen et al., JAMA Oncol 2019): median PFS 1.9 vs 6.6 months
(bands 1.5-2.5 and 4.0-7.0), 12-week ORR 18% vs 36% (+/- 6 points), PFS HR 0.45-0.80, PD-L1
negative share 55-68% (47/76), RT benefit larger in PD-L1 negative than in PD-L1 >= 50%.
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
from cohorts.simulate.calibration import PUBLISHED, calibration_table

N_LARGE = 5000


@pytest.fixture(scope="module")
def published_trial_dir(tmp_path_factory) -> Path:
    return write_trial(tmp_path_factory.mktemp("vt") / "published", n_patients=N_LARGE, seed=11)


@pytest.fixture(scope="module")
def clinical(published_trial_dir) -> pd.DataFrame:
    return read_cohort(published_trial_dir).clinical


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
def test_medians_orr_and_hr_match_pembro_rt(clinical):
    ici, rt = clinical[clinical["arm"] == 0], clinical[clinical["arm"] == 1]
    assert 1.5 <= _median(ici) <= 2.5
    assert 4.0 <= _median(rt) <= 7.0
    orr = [g["best_response"].isin(["CR", "PR"]).mean() for g in (ici, rt)]
    assert orr[0] == pytest.approx(0.18, abs=0.06)
    assert orr[1] == pytest.approx(0.36, abs=0.06)
    hr, _, _ = _cox(clinical)
    assert 0.45 <= hr <= 0.80


@pytest.mark.slow
def test_pdl1_negative_share_and_heterogeneous_benefit(clinical):
    assert 0.55 <= (clinical["pdl1_tps"] < 1).mean() <= 0.68
    neg, high = clinical[clinical["pdl1_tps"] < 1], clinical[clinical["pdl1_tps"] >= 50]
    hr_neg, _, hi_neg = _cox(neg)
    hr_high, lo_high, _ = _cox(high)
    assert hi_neg < lo_high  # confidence intervals do not overlap
    assert hr_neg < hr_high - 0.2
    assert _rmst_gain(neg) > _rmst_gain(high) + 1.0


@pytest.mark.slow
def test_ici_arm_marginals_match_the_real_cohort(public_ici_path, clinical):
    real = pd.read_csv(public_ici_path)
    ici = clinical[clinical["arm"] == 0]
    assert ici["tmb"].median() == pytest.approx(real["tmb"].median(), rel=0.15)
    assert (ici["tmb"] >= 10).mean() == pytest.approx((real["tmb"] >= 10).mean(), abs=0.05)
    for col in ("albumin", "nlr", "age"):
        assert ici[col].median() == pytest.approx(real[col].median(), rel=0.08), col
    assert (ici["sex"] == "M").mean() == pytest.approx(real["sex"].mean(), abs=0.04)
    ever = real["smoking_status"].dropna().mean()
    assert (ici["smoking_status"] != "never").mean() == pytest.approx(ever, abs=0.04)
    # PD-L1 is shifted on purpose to PEMBRO-RT's 47/76 negative; the positive part keeps its shape
    pos_real = real["pdl1_tps"].dropna()
    pos_real = pos_real[pos_real >= 1]
    pos_sim = ici.loc[ici["pdl1_tps"] >= 1, "pdl1_tps"]
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
        assert {f.stem for f in files} == ids
        for f in files[:50]:
            validate(pd.read_csv(f, sep="\t"), AIRR_SCHEMA, str(f))
    expr = pd.read_csv(root / "expression.tsv", sep="\t", index_col="gene")
    assert list(expr.columns) == clinical["patient_id"].tolist() and (expr >= 0).all().all()
    # clinical TMB is the MAF's non-synonymous count over the declared panel
    counted = maf[maf["Variant_Classification"].isin(TMB_CLASSIFICATIONS)]
    n = counted.groupby("Tumor_Sample_Barcode").size().reindex(clinical["patient_id"],
                                                               fill_value=0)
    np.testing.assert_allclose(clinical["tmb"], n.to_numpy() / meta.panel_size_mb, atol=0.006)
    assert (maf["Variant_Classification"] == "Silent").any()
    # flags are exactly the driver calls
    stk11 = set(maf.loc[maf["Hugo_Symbol"] == "STK11", "Tumor_Sample_Barcode"])
    assert stk11 == set(clinical.loc[clinical["stk11_mut"] == 1, "patient_id"])
    assert (clinical["os_months"] >= clinical["pfs_months"]).all()


@pytest.mark.slow
def test_latent_biology_shows_in_raw_files(published_trial_dir, clinical):
    root = published_trial_dir
    expr = np.log2(pd.read_csv(root / "expression.tsv", sep="\t", index_col="gene") + 1)
    ifng = expr.loc[["IFNG", "STAT1", "CXCL9", "CXCL10", "IDO1", "HLA-DRA"]].mean()
    c = clinical.set_index("patient_id")
    assert ifng.corr(c["pdl1_tps"], method="spearman") > 0.25
    assert ifng[c["stk11_mut"] == 1].mean() < ifng[c["stk11_mut"] == 0].mean() - 0.3
    assert expr.loc[["POLR2A", "TBP", "SDHA"]].std(axis=1).max() < 0.5 * ifng.std()  # housekeeping
    # clonal expansion at week 6: larger after RT in responders (Huang et al. 2025)
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


def test_null_scenario_has_no_effect_and_strong_beats_published(tmp_path):
    null = read_cohort(write_trial(tmp_path / "null", n_patients=3000, seed=5,
                                   scenario="null")).clinical
    _, lo, hi = _cox(null)
    assert lo <= 1.0 <= hi
    truth = pd.read_csv(tmp_path / "null" / "truth.csv")
    assert (truth["true_rmst_gain_12mo"] == 0).all()
    pub = simulate_trial(3000, seed=5, scenario="published")
    strong = simulate_trial(3000, seed=5, scenario="strong")
    assert _cox(strong.clinical)[0] < _cox(pub.clinical)[0]
    assert strong.truth["true_rmst_gain_12mo"].mean() > pub.truth["true_rmst_gain_12mo"].mean()


def test_truth_is_consistent(tmp_path):
    t = simulate_trial(400, seed=2)
    tr, cl = t.truth, t.clinical
    for h in (6, 12):
        np.testing.assert_allclose(tr[f"true_pfs_gain_{h}mo"],
                                   tr[f"s_rt_ici_{h}mo"] - tr[f"s_ici_{h}mo"], atol=2e-6)
    assert tr["true_rmst_gain_12mo"].between(-12, 12).all()
    assert (tr["s_ici_6mo"] >= tr["s_ici_12mo"]).all()
    # observed PFS is the randomised arm's potential PFS, censored
    own = np.where(cl["arm"] == 1, tr["pfs_months_rt_ici"], tr["pfs_months_ici"])
    events = cl["pfs_event"] == 1
    np.testing.assert_allclose(cl.loc[events, "pfs_months"], own[events], atol=2e-3)
    assert (cl.loc[~events, "pfs_months"] <= own[~events] + 1e-3).all()
    assert cl["arm"].sum() == 200


def test_same_seed_same_bytes_other_seed_other_files(tmp_path):
    a = write_trial(tmp_path / "a", n_patients=60, seed=9)
    b = write_trial(tmp_path / "b", n_patients=60, seed=9)
    c = write_trial(tmp_path / "c", n_patients=60, seed=10)
    files = [p.relative_to(a) for p in a.rglob("*") if p.is_file()]
    assert len(files) == 6 + 120  # 5 tables + cohort.json + 2 x 60 repertoires
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
