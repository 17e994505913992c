"""train-prognosis: validation across cohorts, registration, promotion, the real cohorts."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from abscopal.cli import app
from training.prognosis_data import load_prognosis_data, probable_duplicates
from training.prognosis_validation import METHODS, leave_one_cohort_out


def write_sites(path, n=360, seed=11):
    """SYNTHETIC real-world-like ICI-alone table in the cohort format, three sites."""
    rng = np.random.default_rng(seed)
    tmb = rng.gamma(1.5, 6.0, n)
    albumin = rng.normal(3.8, 0.4, n)
    nlr = rng.lognormal(1.5, 0.5, n)
    lp = -0.05 * tmb - 0.8 * (albumin - 3.8) + 0.5 * np.log(nlr)
    t = rng.exponential(4.0 * np.exp(-lp + lp.mean()))
    c = rng.uniform(3, 30, n)
    pd.DataFrame({
        "patient_id": [f"P{i}" for i in range(n)], "site": rng.choice(["a", "b", "c"], n),
        "tmb": tmb.round(1), "albumin": albumin.round(2), "nlr": nlr.round(2),
        "age": rng.normal(65, 9, n).round(), "sex": rng.choice(["F", "M"], n),
        "pfs_months": np.minimum(t, c).round(3), "pfs_event": (t <= c).astype(int),
    }).to_csv(path, index=False)
    return path


def test_leave_one_group_out_table_has_every_method_and_a_pooled_row(tmp_path):
    data = load_prognosis_data(write_sites(tmp_path / "sites.csv"), group_col="site")
    pred, table = leave_one_cohort_out(data, "pfs", n_boot=20)
    assert set(table["held_out"]) == {"a", "b", "c", "pooled"}
    assert set(table["method"]) == set(METHODS)
    pooled = table[table.held_out == "pooled"].set_index("method")
    assert pooled.loc["prognosis", "n"] == 360
    assert pooled.loc["prognosis", "harrell_c"] > 0.6
    assert pooled.loc["prognosis", "harrell_c_lower"] < pooled.loc["prognosis", "harrell_c"]
    assert {"s6_predicted", "s6_km_lower", "slope", "uno_c", "auc_6mo"} <= set(table.columns)
    assert len(pred) == 360 and pred.groupby("held_out").size().sum() == 360


def test_probable_duplicates_match_sex_tmb_albumin_and_age_within_a_year():
    held = pd.DataFrame({"sex_male": [1.0], "tmb": [7.9], "albumin": [3.6], "age": [61.8]})
    train = pd.DataFrame({"sex_male": [1.0, 1.0, 0.0, 1.0], "tmb": [7.9, 7.9, 7.9, 8.3],
                          "albumin": [3.6, 3.6, 3.6, 3.6], "age": [62.0, 64.0, 62.0, 62.0]})
    assert probable_duplicates(held, train).tolist() == [True, False, False, False]


def last_json(output: str) -> dict:
    return json.loads([line for line in output.splitlines() if line.startswith("{")][-1])


def test_cli_registers_once_and_names_the_champion(tmp_path):
    path = write_sites(tmp_path / "sites.csv")
    runner = CliRunner()
    args = ["train-prognosis", "--cohort", str(path), "--group-col", "site", "--bootstrap", "20",
            "--json"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    out = last_json(first.output)
    assert out["version"] == "1" and out["promoted"]
    assert out["validation"]["pfs"]["per_cohort"][0]["held_out"] in {"a", "b", "c"}
    again = last_json(runner.invoke(app, args).output)
    assert again["version"] == "1" and not again["promoted"]
    assert "identical data" in again["reason"]


def test_cli_refuses_a_cohort_without_outcomes(tmp_path):
    path = tmp_path / "x.csv"
    pd.DataFrame({"patient_id": ["a"], "tmb": [3.0]}).to_csv(path, index=False)
    result = CliRunner().invoke(app, ["train-prognosis", "--cohort", str(path)])
    assert result.exit_code == 2 and "pfs_months" in result.output


@pytest.mark.needs_shared_data
def test_real_cohorts_prognosis_beats_loris_and_tmb_on_every_held_out_cohort(public_ici_path):
    data = load_prognosis_data(public_ici_path)
    _, table = leave_one_cohort_out(data, "pfs", n_boot=20)
    c = table.pivot(index="held_out", columns="method", values="harrell_c")
    assert len(c) == 6  # five cohorts and the pooled row
    assert (c["prognosis"] > c["loris"]).all() and (c["prognosis"] > c["tmb"]).all()
