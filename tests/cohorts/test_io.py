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
