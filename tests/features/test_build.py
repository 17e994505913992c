"""build_features end to end: train/serve equality, missing modalities, manifest, Dask, CLI."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import features
from abscopal.cli import app
from cohorts import read_cohort
from cohorts.schema import BASELINE_COLUMNS
from features import (
    FEATURE_SPECS,
    FeatureWarning,
    RecordError,
    baseline_feature_names,
    build_features,
    raw_inputs_from_cohort,
    raw_inputs_from_records,
    read_features,
    write_features,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "features.md"
SERVED_GROUPS = {"clinical", "biomarker", "expression"}  # modalities a serving record carries


def cohort_features(cohort_dir):
    cohort = read_cohort(cohort_dir)
    return cohort, build_features(raw_inputs_from_cohort(cohort))


def records_from_files(cohort_dir) -> list[dict]:
    """Each patient as the server receives it, built straight from the cohort's text files."""
    clinical = pd.read_csv(cohort_dir / "clinical.csv", dtype={"patient_id": str})
    expression = pd.read_csv(cohort_dir / "expression.tsv", sep="\t", index_col=0)
    maf = pd.read_csv(cohort_dir / "mutations.maf", sep="\t", comment="#")
    records = []
    for row in clinical.to_dict("records"):
        pid = row["patient_id"]
        record = {"patient_id": pid}
        record.update({k: row[k] for k in BASELINE_COLUMNS if k in row and pd.notna(row[k])})
        if pid in expression.columns:
            record["expression"] = expression[pid].to_dict()
        calls = maf[maf["Tumor_Sample_Barcode"] == pid]
        if len(calls):
            record["mutations"] = [
                {"gene": g, "variant_classification": v}
                for g, v in zip(calls["Hugo_Symbol"], calls["Variant_Classification"], strict=True)
            ]
        records.append(json.loads(json.dumps(record)))  # exactly what JSON would carry
    return records


def test_train_and_serve_give_the_same_vector(cohort_dir):
    cohort, trained = cohort_features(cohort_dir)
    served_columns = [s.name for s in FEATURE_SPECS if s.group in SERVED_GROUPS]
    records = records_from_files(cohort_dir)
    for record in records:  # one patient per request, as a single-patient call would be
        raw = raw_inputs_from_records([record], panel_size_mb=cohort.meta.panel_size_mb)
        served = build_features(raw).frame
        pid = record["patient_id"]
        pd.testing.assert_series_equal(
            served.loc[pid, served_columns], trained.frame.loc[pid, served_columns],
            check_exact=True,
        )
    batch = build_features(raw_inputs_from_records(records, cohort.meta.panel_size_mb)).frame
    pd.testing.assert_frame_equal(batch[served_columns], trained.frame[served_columns],
                                  check_exact=True)
    # The fixture exercises every served group with real values.
    assert trained.frame.loc["P1", served_columns].notna().sum() == len(served_columns)


def test_missing_modalities_are_nan_never_zero(tmp_path, cohort_dir):
    _, full = cohort_features(cohort_dir)
    frame = full.frame
    by_group = {g: [s.name for s in FEATURE_SPECS if s.group == g] for g in
                ("expression", "tcr", "ctdna")}
    assert frame.loc["P4", by_group["expression"]].isna().all()  # no expression column
    assert frame.loc[["P4", "P5"], by_group["tcr"]].isna().all(axis=None)  # no repertoire
    assert frame.loc["P3", "tcr_richness"] == 40  # baseline only ...
    assert np.isnan(frame.loc["P3", "tcr_expanded_clones"])  # ... so no expansion
    assert frame.loc["P6"].isna().all()  # a patient with nothing but an id
    clinical_only = tmp_path / "clinical_only.csv"
    clinical_only.write_text((cohort_dir / "clinical.csv").read_text())
    only = build_features(raw_inputs_from_cohort(read_cohort(clinical_only))).frame
    for names in by_group.values():
        assert only[names].isna().all(axis=None)


def test_too_few_genes_warns(cohort_dir):
    cohort = read_cohort(cohort_dir)
    raw = raw_inputs_from_cohort(cohort)
    raw.expression = raw.expression.drop(index=["IFNG", "STAT1"])
    with pytest.warns(FeatureWarning, match="ifng_6: NaN for 4 patient"):
        result = build_features(raw)
    assert result.frame["ifng_6"].isna().all()
    assert any("ifng_6" in w for w in result.warnings)


def test_record_errors_name_the_json_field():
    with pytest.raises(RecordError) as err:
        raw_inputs_from_records([
            {"pdl1_tps": 150, "sex": "X"},
            {"age": 60, "colour": "red", "expression": {"IFNG": -1},
             "mutations": [{"gene": "KRAS", "variant_classification": "Missense"}]},
        ])
    message = str(err.value)
    for expected in ("patients[1].colour: Extra inputs are not permitted",
                     "patients[1].expression.IFNG",
                     "patients[1].mutations[0].variant_classification"):
        assert expected in message
    with pytest.raises(RecordError) as err:
        raw_inputs_from_records([{"pdl1_tps": 150, "sex": "X"}])
    assert "patients[0].pdl1_tps" in str(err.value) and "patients[0].sex" in str(err.value)


def test_empty_mutation_list_means_sequenced_with_no_mutations():
    raw = raw_inputs_from_records(
        [{"patient_id": "a", "mutations": []}, {"patient_id": "b", "tmb": 4.0}], panel_size_mb=1.0
    )
    frame = build_features(raw).frame
    assert frame.loc["a", "tmb"] == 0.0 and frame.loc["a", "wnt_mut"] == 0.0
    assert frame.loc["b", "tmb"] == 4.0 and np.isnan(frame.loc["b", "wnt_mut"])


def test_manifest_round_trip_and_timepoints(tmp_path, cohort_dir):
    _, result = cohort_features(cohort_dir)
    out = tmp_path / "out" / "features.parquet"
    written = write_features(result, out, cohort_name="tiny", synthetic=True,
                             input_files={"clinical.csv": cohort_dir / "clinical.csv",
                                          "tcr": cohort_dir / "tcr"}, panel_size_mb=1.25)
    frame, manifest = read_features(out)
    assert (out.parent / "features.json").exists()
    assert manifest == written and manifest.synthetic and manifest.n_patients == 6
    pd.testing.assert_frame_equal(frame, result.frame)
    assert manifest.feature("tcr_richness").coverage == pytest.approx(3 / 6)
    assert set(manifest.input_sha256) == {"clinical.csv", "tcr"}
    names = baseline_feature_names(manifest)
    assert "tcr_clonality" in names and "ctdna_max_vaf_baseline" in names
    assert not {"tcr_expanded_clones", "tcr_expanded_fraction", "tcr_new_clone_fraction",
                "ctdna_vaf_change", "ctdna_molecular_response"} & set(names)
    frame.iloc[:2].to_parquet(out)  # parquet replaced behind the manifest's back
    with pytest.raises(ValueError, match="does not match"):
        read_features(out)


@pytest.mark.parametrize("broken", ["parquet", "manifest"])
def test_failed_write_leaves_nothing(tmp_path, cohort_dir, monkeypatch, broken):
    _, result = cohort_features(cohort_dir)

    def boom(*args, **kwargs):
        raise OSError("disk full")

    if broken == "parquet":
        monkeypatch.setattr(pd.DataFrame, "to_parquet", boom)
    else:
        monkeypatch.setattr(features.FeatureManifest, "model_dump_json", boom)
    out_dir = tmp_path / "out"
    with pytest.raises(OSError):
        write_features(result, out_dir / "features.parquet", cohort_name="t", synthetic=True)
    assert list(out_dir.iterdir()) == []


def test_every_feature_is_documented():
    text = DOCS.read_text()
    documented = set(re.findall(r"^\| `([a-z0-9_]+)` \|", text, flags=re.M))
    registry = {s.name for s in FEATURE_SPECS}
    assert registry - documented == set(), "features missing from docs/features.md"
    assert documented - registry == set(), "docs/features.md lists features that do not exist"
    for s in FEATURE_SPECS:
        row = re.search(rf"^\| `{s.name}` \|(.*)$", text, flags=re.M).group(1)
        assert f"| {s.timepoint} |" in f"|{row}", f"{s.name}: timepoint differs in docs"
    assert features.PIPELINE_VERSION in text


def test_cli_on_cohort_directory_and_clinical_csv(tmp_path, cohort_dir):
    runner = CliRunner()
    out = tmp_path / "f" / "features.parquet"
    result = runner.invoke(app, ["features", "--cohort", str(cohort_dir), "--out", str(out)])
    assert result.exit_code == 0, result.output
    frame, manifest = read_features(out)
    assert manifest.cohort_name == "tiny" and manifest.synthetic and manifest.panel_size_mb == 1.25
    assert set(manifest.input_sha256) == {"clinical.csv", "mutations.maf", "expression.tsv",
                                          "tcr", "ctdna.csv"}
    assert frame.shape == (6, len(FEATURE_SPECS))

    csv = tmp_path / "trial.csv"
    csv.write_text("patient_id,age,pdl1_tps,sex\nA,60,0,F\nB,70,55,M\n")  # no arm or outcomes
    out2 = tmp_path / "clinical.parquet"
    result = runner.invoke(app, ["features", "--cohort", str(csv), "--out", str(out2)])
    assert result.exit_code == 0, result.output
    frame2, manifest2 = read_features(out2)
    assert frame2.loc["B", "pdl1_category"] == 2 and not manifest2.synthetic
    assert manifest2.feature("ifng_6").coverage == 0.0
    assert (tmp_path / "clinical.json").exists()


def test_cli_bad_file_is_a_clean_error(tmp_path, cohort_dir):
    (cohort_dir / "expression.tsv").write_text("gene\tP1\nIFNG\t1\nIFNG\t2\n")
    result = CliRunner().invoke(
        app, ["features", "--cohort", str(cohort_dir), "--out", str(tmp_path / "x.parquet")]
    )
    assert result.exit_code == 2
    assert "line 3, column 'gene': duplicate gene symbol" in result.output
    assert not (tmp_path / "x.parquet").exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [("age", 17), ("age", "60"), ("pdl1_tps", 100.5), ("tmb", -1), ("ecog", 5), ("sex", "X"),
     ("histology", "Adenocarcinoma"), ("stk11_mut", 2), ("albumin", 0.1), ("nlr", True)],
)
def test_record_rules_match_the_clinical_schema(field, value):
    """The per-request checks reject exactly what the pandera clinical schema rejects."""
    from cohorts import CohortFormatError
    from cohorts.schema import clinical_schema, validate

    frame = pd.DataFrame({"patient_id": ["a"], field: pd.Series([value], dtype=object)})
    if not isinstance(value, (str, bool)):  # pandera coerces text and booleans; JSON is strict
        with pytest.raises(CohortFormatError):
            validate(frame, clinical_schema(None), "x")
    with pytest.raises(RecordError, match=rf"patients\[0\]\.{field}"):
        raw_inputs_from_records([{"patient_id": "a", field: value}])
    good = {"age": 60, "pdl1_tps": 100, "tmb": 0, "ecog": 4, "sex": "F",
            "histology": "adenocarcinoma", "stk11_mut": 1, "albumin": 7, "nlr": 0}[field]
    validate(pd.DataFrame({"patient_id": ["a"], field: [good]}), clinical_schema(None), "x")
    raw_inputs_from_records([{"patient_id": "a", field: good}])


def test_alias_fills_in_for_a_missing_current_symbol():
    from features.signatures import needed_genes, signature_scores

    genes = needed_genes()
    frame = pd.DataFrame({"A": 9.0, "B": 9.0}, index=genes)
    frame.loc["NRDE2", "A"] = np.nan  # A measured only under the published alias
    frame.loc["C14orf102", "B"] = 1e6  # B has both: the current symbol wins
    scores = signature_scores(frame)
    assert scores.loc["A", "gep_tcell_inflamed"] == scores.loc["B", "gep_tcell_inflamed"]


def test_patients_missing_from_clinical_are_reported(cohort_dir):
    raw = raw_inputs_from_cohort(read_cohort(cohort_dir))
    raw.clinical = raw.clinical[raw.clinical["patient_id"] != "P1"].reset_index(drop=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = build_features(raw)
    messages = [str(w.message) for w in caught if w.category is FeatureWarning]
    assert any(m.startswith("tcr: 1 patient(s) not in the clinical table") for m in messages)
    assert "P1" not in result.frame.index
    assert result.report["patients_not_in_clinical"] == {
        "mutations": 1, "expression": 1, "tcr": 1, "ctdna": 1
    }


def test_feature_table_of_another_pipeline_version_is_refused(tmp_path, cohort_dir, monkeypatch):
    _, result = cohort_features(cohort_dir)
    out = tmp_path / "features.parquet"
    write_features(result, out, cohort_name="tiny", synthetic=True)
    import features.manifest as manifest_module

    monkeypatch.setattr(manifest_module, "PIPELINE_VERSION", "2")
    with pytest.raises(ValueError, match="feature pipeline version 1, this code is version 2"):
        read_features(out)
