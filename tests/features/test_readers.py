"""cohorts.readers: valid files read; malformed ones name file, line and column."""

from __future__ import annotations

import pandas as pd
import pytest

from cohorts import CohortFormatError
from cohorts.readers import read_airr, read_ctdna, read_expression, read_maf, read_tcr
from tests.features.conftest import MAF


def test_maf_skips_comment_lines_and_keeps_needed_columns(tmp_path):
    path = tmp_path / "m.maf"
    path.write_text(MAF)
    df = read_maf(path)
    assert list(df.columns) == ["Tumor_Sample_Barcode", "Hugo_Symbol", "Variant_Classification",
                                "t_alt_count", "t_depth"]
    assert len(df) == 9 and df["t_depth"].dtype.kind == "i"


def test_maf_error_names_line_and_column(tmp_path):
    lines = MAF.splitlines()
    lines[4] = "KRAS\t3845\tMissense\tP1\t10\t100"  # file line 5
    lines[6] = "TP53\t7157\tSilent\tP1\t500\t80"  # line 7: alt > depth
    path = tmp_path / "m.maf"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(CohortFormatError) as err:
        read_maf(path)
    message = str(err.value)
    assert str(path) in message
    assert "line 5, column 'Variant_Classification'" in message
    assert "line 7" in message and "t_alt_count <= t_depth" in message


def test_maf_missing_column(tmp_path):
    path = tmp_path / "m.maf"
    path.write_text("Hugo_Symbol\tTumor_Sample_Barcode\nKRAS\tP1\n")
    with pytest.raises(CohortFormatError, match="column 'Variant_Classification': required"):
        read_maf(path)


def write_tsv(tmp_path, text):
    path = tmp_path / "expression.tsv"
    path.write_text(text)
    return path


def test_expression_reads_only_requested_genes_and_lists_all(tmp_path):
    path = write_tsv(tmp_path, "gene\tP1\tP2\nIFNG\t1\t2\nFOO\tx\t-3\nSTAT1\t\t4.5\n")
    matrix, symbols = read_expression(path, genes=["IFNG", "STAT1"])
    assert symbols == ["IFNG", "FOO", "STAT1"]
    assert matrix.loc["STAT1", "P2"] == 4.5 and pd.isna(matrix.loc["STAT1", "P1"])
    assert list(matrix.index) == ["IFNG", "STAT1"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("gene\tP1\tP1\nIFNG\t1\t2\n", "line 1, column 'P1': duplicate patient column"),
        ("gene\tP1\nIFNG\t1\nSTAT1\t2\nIFNG\t3\n", "line 4, column 'gene': duplicate gene"),
        ("gene\tP1\tP2\nIFNG\t1\t2\nSTAT1\t2\tabc\n", "line 3, column 'P2': expected a number"),
        ("gene\tP1\tP2\nIFNG\t1\t2\nSTAT1\t-2\t1\n", "line 3, column 'P1': expected TPM >= 0"),
        ("symbol\tP1\nIFNG\t1\n", "first column header must be 'gene'"),
    ],
)
def test_expression_errors(tmp_path, text, expected):
    path = write_tsv(tmp_path, text)
    with pytest.raises(CohortFormatError) as err:
        read_expression(path)
    assert expected in str(err.value) and str(path) in str(err.value)


def test_airr_error_names_file_line_column(tmp_path):
    path = tmp_path / "P1.tsv"
    path.write_text("junction_aa\tv_call\tj_call\tduplicate_count\nCASSF\tV\tJ\t3\n"
                    "CASS1F\tV\tJ\t2\nCASSG\tV\tJ\t0\n")
    with pytest.raises(CohortFormatError) as err:
        read_airr(path, "P1", "baseline")
    message = str(err.value)
    assert "line 3, column 'junction_aa'" in message
    assert "line 4, column 'duplicate_count'" in message


def test_tcr_tree_and_unknown_timepoint(tmp_path):
    (tmp_path / "tcr" / "baseline").mkdir(parents=True)
    (tmp_path / "tcr" / "baseline" / "P1.tsv").write_text(
        "junction_aa\tv_call\tj_call\tduplicate_count\tsequence_id\nCASSF\tV\t\t3\ts1\n"
    )
    df = read_tcr(tmp_path / "tcr")
    assert df[["patient_id", "timepoint", "duplicate_count"]].values.tolist() == [
        ["P1", "baseline", 3]
    ]
    assert pd.isna(df.loc[0, "j_call"])
    (tmp_path / "tcr" / "week6").mkdir()
    with pytest.raises(CohortFormatError, match="unknown timepoint folder"):
        read_tcr(tmp_path / "tcr")


def test_ctdna_duplicate_patient_timepoint(tmp_path):
    path = tmp_path / "ctdna.csv"
    path.write_text("patient_id,timepoint,max_vaf\nP1,baseline,0.1\nP1,baseline,0.2\n"
                    "P2,week6,0.1\n")
    with pytest.raises(CohortFormatError) as err:
        read_ctdna(path)
    assert "duplicate" in str(err.value) and "line 4, column 'timepoint'" in str(err.value)
