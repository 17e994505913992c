"""The LORIS compilation and cohort-format tables read as ICI-alone patients."""

from __future__ import annotations

import pandas as pd
import pytest

from cohorts import CohortFormatError
from cohorts.public_ici import loris_to_clinical, read_ici_cohort

LORIS_ROWS = pd.DataFrame({
    "cohort": ["A", "A", "B"], "sample_id": [1, 2, 1], "tmb": [3.0, 12.5, None],
    "pdl1_tps": [None, 50.0, 1.0], "prior_systemic_therapy": [1, 0, 1],
    "albumin": [3.9, 4.1, 3.2], "nlr": [4.0, 2.5, 9.0], "age": [61.0, 70.4, 55.0],
    "sex": [1, 0, 1], "histology": [None, 2, 3], "ecog": [None, 1, 0],
    "smoking_status": [None, 1, 0], "pack_years": [None, 30.0, None], "drug": [0, 1, 0],
    "pfs_months": [2.0, 8.5, 1.1], "pfs_event": [1, 0, 1], "os_months": [5.0, None, 3.0],
    "os_event": [1, None, 0], "response": [0, 1, 0],
})


def test_loris_codes_become_the_cohort_format():
    out = loris_to_clinical(LORIS_ROWS)
    assert out["patient_id"].tolist() == ["A:1", "A:2", "B:1"]
    assert out["sex"].tolist() == ["M", "F", "M"]
    assert out["histology"].tolist()[1:] == ["squamous", "other"]
    assert pd.isna(out["histology"].iloc[0])
    # "ever" does not say former or current: left missing, never guessed
    assert out["smoking_status"].tolist() == [None, None, "never"]
    assert out["prior_lines"].tolist() == [1, 0, 1]
    assert out["ici_combination"].tolist() == [0, 1, 0]
    assert (out["arm"] == 0).all()


def test_reads_the_compilation_with_groups_and_keeps_patients_without_os(tmp_path):
    path = tmp_path / "loris.csv"
    LORIS_ROWS.to_csv(path, index=False)
    clinical, groups, name = read_ici_cohort(path, endpoint="pfs")
    assert len(clinical) == 3 and groups.tolist() == ["A", "A", "B"] and name == "loris"
    clinical, _, _ = read_ici_cohort(path, endpoint="os")
    assert clinical["os_months"].isna().sum() == 1


def test_cohort_format_keeps_arm_zero_only_and_maps_columns(tmp_path):
    path = tmp_path / "trial.csv"
    pd.DataFrame({"id": ["p1", "p2", "p3"], "arm": [0, 1, 0], "months": [3.0, 4.0, 5.0],
                  "progressed": [1, 1, 0], "site": ["x", "x", "y"]}).to_csv(path, index=False)
    clinical, groups, _ = read_ici_cohort(
        path, rename={"id": "patient_id", "months": "pfs_months", "progressed": "pfs_event"},
        group_col="site")
    assert clinical["patient_id"].tolist() == ["p1", "p3"]
    assert groups.tolist() == ["x", "y"]


def test_errors_name_the_column(tmp_path):
    path = tmp_path / "bad.csv"
    pd.DataFrame({"patient_id": ["p1"], "pfs_months": [2.0], "pfs_event": [1],
                  "sex": ["X"]}).to_csv(path, index=False)
    with pytest.raises(CohortFormatError, match="sex"):
        read_ici_cohort(path)
    pd.DataFrame({"patient_id": ["p1"], "os_months": [2.0], "os_event": [1]}).to_csv(
        path, index=False)
    with pytest.raises(CohortFormatError, match="pfs_months"):
        read_ici_cohort(path, endpoint="pfs")
    with pytest.raises(CohortFormatError, match="group-col"):
        read_ici_cohort(path, endpoint="os", group_col="centre")
