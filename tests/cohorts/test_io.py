from __future__ import annotations

import json

import pytest

from cohorts import CohortFormatError, read_clinical, read_cohort

GOOD = """patient_id,arm,pfs_months,pfs_event,pdl1_tps,sex,histology
P1,0,1.5,1,0,F,adenocarcinoma
P2,1,6.2,0,55,M,squamous
"""


def write(tmp_path, text, name="clinical.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_reads_a_valid_clinical_csv(tmp_path):
    df = read_clinical(write(tmp_path, GOOD))
    assert df["patient_id"].tolist() == ["P1", "P2"]
    assert df["arm"].dtype.kind == "i"
    assert df.loc[1, "pdl1_tps"] == 55


def test_error_names_file_line_column_and_expectation(tmp_path):
    bad = GOOD + "P3,2,-1,1,150,X,adenocarcinoma\nP1,0,x,1,,,\n"
    path = write(tmp_path, bad)
    with pytest.raises(CohortFormatError) as err:
        read_clinical(path)
    message = str(err.value)
    assert str(path) in message
    assert "line 4, column 'arm'" in message
    assert "line 4, column 'pdl1_tps'" in message and "150" in message
    assert "line 4, column 'sex'" in message
    assert "line 5, column 'pfs_months': expected a number" in message
    assert "column 'patient_id': duplicate value" in message


def test_missing_required_columns_are_named(tmp_path):
    path = write(tmp_path, "patient_id,arm\nP1,0\n")
    with pytest.raises(CohortFormatError, match="column 'pfs_event': required column is missing"):
        read_clinical(path)


def test_rename_maps_a_foreign_trial(tmp_path):
    path = write(tmp_path, "id,treat,time,status\nA,0,3,1\nB,1,4,0\n")
    mapping = {"id": "patient_id", "treat": "arm", "time": "pfs_months", "status": "pfs_event"}
    df = read_clinical(path, rename=mapping)
    assert df["arm"].tolist() == [0, 1]
    with pytest.raises(CohortFormatError, match="column 'nope'"):
        read_clinical(path, rename={"nope": "arm"})


def test_cohort_directory_with_metadata(tmp_path):
    write(tmp_path, GOOD)
    (tmp_path / "cohort.json").write_text(json.dumps({"name": "t", "synthetic": True}))
    (tmp_path / "ctdna.csv").write_text("patient_id,timepoint,max_vaf\nP1,baseline,0.1\n")
    cohort = read_cohort(tmp_path)
    assert cohort.meta.synthetic is True
    assert cohort.patient_ids == ["P1", "P2"]
    assert cohort.path("ctdna.csv") == tmp_path / "ctdna.csv"
    assert cohort.path("mutations.maf") is None


def test_bad_cohort_json_is_named(tmp_path):
    write(tmp_path, GOOD)
    (tmp_path / "cohort.json").write_text('{"name": "t", "synthetic": "maybe"}')
    with pytest.raises(CohortFormatError, match=r"(?s)cohort.json.*synthetic"):
        read_cohort(tmp_path)


def test_directory_without_clinical_is_refused(tmp_path):
    with pytest.raises(CohortFormatError, match=r"needs clinical\.csv"):
        read_cohort(tmp_path)


# --- real files as they come: carried columns, --map, misspelt names -------------------------

FOREIGN = """id,tx,time,censor,cd4,sex,age
A1,0,189,0,169,1,34
A2,1,287,1,149.5,2,15
A3,1,242,0,23.5,,48
"""


def test_columns_the_model_does_not_read_are_carried_unvalidated(tmp_path):
    """ACTG 320 codes sex 1/2 and enrols 15-year-olds: not an error when no selected feature
    reads sex or age; the values are carried as they are, and the pipeline does not read them."""
    from features import raw_inputs_from_cohort

    path = write(tmp_path, FOREIGN, "trial.csv")
    rename = {"id": "patient_id", "tx": "arm", "time": "pfs_months", "censor": "pfs_event"}
    with pytest.raises(CohortFormatError) as everything:
        read_clinical(path, rename=rename)
    assert {p.column for p in everything.value.problems} == {None, "sex", "age"}  # None: hint
    cohort = read_cohort(path, rename=rename, used=["cd4"])
    assert cohort.clinical["sex"].tolist()[:2] == [1, 2]
    assert cohort.clinical["age"].tolist() == [34, 15, 48]
    assert cohort.carried == ["sex", "age"]
    assert "sex" not in raw_inputs_from_cohort(cohort).clinical.columns
    with pytest.raises(CohortFormatError) as used_age:  # a column the model reads is checked
        read_cohort(path, rename=rename, used=["cd4", "age"])
    assert [(p.column, p.line) for p in used_age.value.problems] == [("age", 3)]


def test_map_recodes_values_and_names_an_unmapped_one(tmp_path):
    from cohorts.io import parse_coding, read_options

    path = write(tmp_path, FOREIGN, "trial.csv")
    rename = {"id": "patient_id", "tx": "arm", "time": "pfs_months", "censor": "pfs_event"}
    with read_options(dict([parse_coding("sex=1:M,2:F")])):
        df = read_clinical(path, rename=rename, used=["sex"])
    assert df["sex"].tolist()[:2] == ["M", "F"] and pd_isna(df["sex"].iloc[2])
    with read_options({"sex": {"1": "M"}}), pytest.raises(CohortFormatError) as exc:
        read_clinical(path, rename=rename, used=["sex"])
    [problem] = exc.value.problems
    assert (problem.column, problem.line, problem.value) == ("sex", 3, "2")
    assert "not mapped by --map sex" in str(exc.value)
    with read_options({"smoking": {"1": "never"}}), pytest.raises(CohortFormatError) as absent:
        read_clinical(path, rename=rename)
    assert "column 'smoking': column named by --map is missing" in str(absent.value)
    # numeric targets become numbers; an empty target is a missing value
    with read_options({"cd4": {"169": "1", "149.5": "2", "23.5": ""}}):
        df = read_clinical(path, rename=rename, used=["cd4"])
    assert df["cd4"].tolist()[:2] == [1.0, 2.0] and pd_isna(df["cd4"].iloc[2])


@pytest.mark.parametrize("text", ["sex", "sex=", "sex=1M", "=1:M", "sex=:M"])
def test_a_malformed_map_says_the_expected_form(text):
    from cohorts.io import parse_coding

    with pytest.raises(ValueError, match="COLUMN=CODE:VALUE"):
        parse_coding(text)


@pytest.mark.parametrize(("column", "likely"), [("pdl1_tsp", "pdl1_tps"), ("PDL1_TPS", "pdl1_tps"),
                                                ("Age", "age"), ("pack_year", "pack_years")])
def test_a_column_named_close_to_a_known_field_is_refused_naming_it(tmp_path, column, likely):
    from cohorts.io import read_options

    path = write(tmp_path, GOOD.replace("pdl1_tps", column))
    with pytest.raises(CohortFormatError) as exc:
        read_clinical(path, endpoint=None)
    hint, problem = exc.value.problems
    assert problem.column == column
    assert problem.message == f"unknown field; did you mean {likely!r}?"
    assert hint.column is None and f"--ignore-column {column}" in hint.message
    with read_options(ignore=[column]):  # told to ignore it: carried, unread
        df = read_clinical(path, endpoint=None)
    assert column in df.columns and "pdl1_tps" not in df.columns


def test_names_far_from_every_field_and_chosen_ones_are_not_misspellings(tmp_path):
    from cohorts.io import read_options
    from cohorts.schema import likely_field

    actg = ["id", "age", "cd4", "hemophil", "ivdrug", "karnof", "priorzdv", "raceth", "sex",
            "strat2", "tx", "txgrp", "time", "censor"]
    assert [c for c in actg if likely_field(c)] == []
    path = write(tmp_path, GOOD.replace("pdl1_tps", "pdl1_tsp"))
    assert "pdl1_tsp" in read_clinical(path, endpoint=None, used=["pdl1_tsp"]).columns
    with read_options(ignore=["no_such"]), pytest.raises(CohortFormatError, match="no_such"):
        read_clinical(write(tmp_path, GOOD), endpoint=None)


def pd_isna(value) -> bool:
    import pandas as pd

    return bool(pd.isna(value))


def test_a_file_coded_its_own_way_is_told_how_to_map_it(tmp_path):
    path = write(tmp_path, FOREIGN, "trial.csv")
    rename = {"id": "patient_id", "tx": "arm", "time": "pfs_months", "censor": "pfs_event"}
    with pytest.raises(CohortFormatError) as exc:
        read_clinical(path, rename=rename)
    hint = exc.value.problems[0]
    assert hint.column is None and "--map (e.g. --map sex=CODE:VALUE" in hint.message
    assert "--features" in hint.message


def test_grades_and_line_counts_must_be_whole_numbers(tmp_path):
    text = ("patient_id,arm,pfs_months,pfs_event,ecog,prior_lines\n"
            "P1,0,1.5,1,1,2\nP2,1,6.2,0,2.5,1\nP3,1,3.0,1,0,1.7\nP4,0,2.0,1,2.0,3.0\n")
    path = write(tmp_path, text)
    with pytest.raises(CohortFormatError) as err:
        read_clinical(path)
    message = str(err.value)
    assert "line 3, column 'ecog'" in message and "2.5" in message
    assert "line 4, column 'prior_lines'" in message and "1.7" in message
    assert "whole number" in message
    assert "line 5" not in message  # 2.0 and 3.0 are whole numbers
