"""Clinical coding, TMB from the MAF, PD-L1 category, LIPI and the cold-tumour flag."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.clinical import clinical_features, dnlr_from_nlr
from features.mutations import NONSYNONYMOUS, mutation_summary


def frame(**columns):
    n = len(next(iter(columns.values())))
    return pd.DataFrame({"patient_id": [f"P{i}" for i in range(n)], **columns})


def test_categories_become_numbers_and_missing_stays_nan():
    out = clinical_features(
        frame(sex=["M", "F", None], histology=["squamous", None, "other"],
              smoking_status=["never", "current", None]),
        None, None,
    )
    assert out["sex_male"].tolist()[:2] == [1.0, 0.0] and np.isnan(out["sex_male"].iloc[2])
    assert out.loc["P0", ["histology_adenocarcinoma", "histology_squamous"]].tolist() == [0, 1]
    assert out.loc["P1", ["histology_adenocarcinoma", "histology_squamous",
                          "histology_other"]].isna().all()
    assert out.loc["P1", "smoking_current"] == 1.0 and out.loc["P1", "smoking_never"] == 0.0
    assert np.isnan(out.loc["P2", "smoking_never"])
    assert out["age"].isna().all()  # column absent: NaN, never 0


def test_pdl1_category_cut_offs():
    out = clinical_features(frame(pdl1_tps=[0.0, 0.99, 1.0, 49.0, 50.0, None]), None, None)
    assert out["pdl1_category"].tolist()[:5] == [0, 0, 1, 1, 2]
    assert np.isnan(out["pdl1_category"].iloc[5])


def test_tmb_counts_only_nonsynonymous_classes_per_panel_mb():
    maf = pd.DataFrame({
        "Tumor_Sample_Barcode": ["A"] * 11 + ["B"],
        "Hugo_Symbol": ["X"] * 9 + ["Y", "Z", "KRAS"],
        "Variant_Classification": [*NONSYNONYMOUS, "Silent", "Intron", "Silent"],
    })
    summary = mutation_summary(maf)
    out = clinical_features(frame(tmb=[50.0, 50.0, 7.0]), summary.rename({"A": "P0", "B": "P1"}),
                            2.0)
    assert out.loc["P0", "tmb"] == pytest.approx(9 / 2.0)
    assert out.loc["P1", "tmb"] == 0.0  # sequenced, only a silent call
    assert out.loc["P1", "kras_mut"] == 0.0  # silent KRAS is not a mutation flag
    assert out.loc["P2", "tmb"] == 7.0  # not sequenced: the clinical value
    assert np.isnan(out.loc["P2", "wnt_mut"])  # no clinical Wnt column: unknown


def test_without_panel_size_tmb_comes_from_clinical():
    maf = pd.DataFrame({"Tumor_Sample_Barcode": ["P0"], "Hugo_Symbol": ["APC"],
                        "Variant_Classification": ["Nonsense_Mutation"]})
    out = clinical_features(frame(tmb=[3.0]), mutation_summary(maf), None)
    assert out.loc["P0", "tmb"] == 3.0 and out.loc["P0", "wnt_mut"] == 1.0


def test_lipi_counts_high_dnlr_and_high_ldh():
    # dNLR ~ NLR / (1 + 0.11/0.89 (NLR+1)): NLR 5.3 -> 2.98, NLR 5.5 -> 3.05.
    assert dnlr_from_nlr(5.3) < 3 < dnlr_from_nlr(5.5)
    out = clinical_features(
        frame(nlr=[5.3, 5.5, 5.5, 2.0, None], ldh=[400, 200, 251, 250, 400]), None, None
    )
    assert out["lipi"].tolist()[:4] == [1.0, 1.0, 2.0, 0.0]
    assert np.isnan(out["lipi"].iloc[4])


def test_cold_tumour_three_valued_or():
    maf = pd.DataFrame({"Tumor_Sample_Barcode": ["P3", "P4"], "Hugo_Symbol": ["CTNNB1", "TTN"],
                        "Variant_Classification": ["Missense_Mutation", "Missense_Mutation"]})
    summary = mutation_summary(maf)
    out = clinical_features(
        frame(tmb=[5.0, 15.0, 15.0, 15.0, 15.0, None],
              pdl1_tps=[60, 0.5, 60, 60, 60, 60]),
        summary, None,
    )
    cold = out["cold_tumour"]
    assert cold["P0"] == 1.0  # low TMB (Wnt unknown does not matter)
    assert cold["P1"] == 1.0  # PD-L1 negative
    assert np.isnan(cold["P2"])  # hot on TMB and PD-L1, Wnt status unknown
    assert cold["P3"] == 1.0  # Wnt-pathway mutation
    assert cold["P4"] == 0.0  # everything known and hot
    assert np.isnan(cold["P5"])


def _mixed_dtype_frame() -> pd.DataFrame:
    """Columns of every kind ClinicalColumns may meet: plain float and text, text in a numeric
    column, nullable integers, categoricals, pandas strings, a non-text id."""
    return pd.DataFrame({
        "patient_id": [1, 2, 3, 4],
        "age": [60.0, np.nan, 71.5, 40.0],
        "ecog": pd.Series([0, None, 2, 1], dtype="Int64"),
        "tmb": pd.Series(["12.5", "n/a", None, 3], dtype=object),
        "pdl1_tps": pd.Series([0.0, 60.0, np.nan, 1.0], dtype="category"),
        "nlr": np.array([5.5, 2.0, 6.0, np.nan], dtype=np.float32),
        "ldh": [300, 100, 260, 200],
        "sex": pd.Series(["M", "F", "F", "M"], dtype="string"),
        "histology": pd.Series(["squamous", np.nan, "other", None], dtype="category"),
        "smoking_status": ["never", np.nan, None, "current"],
        "stk11_mut": [True, False, True, False],
    })


def test_one_pass_reading_matches_column_by_column(monkeypatch):
    """The fast object-array reading of small frames gives exactly what pandas gives column by
    column (the path large frames take), whatever the column dtypes."""
    import features.clinical as clinical

    frames = [_mixed_dtype_frame(), frame(age=[64.0, None], sex=["F", None], tmb=[5.0, 12.0])]
    fast = [clinical_features(f, None, None) for f in frames]
    monkeypatch.setattr(clinical, "ONE_PASS_MAX_CELLS", 0)
    for f, expected in zip(frames, fast, strict=True):
        pd.testing.assert_frame_equal(clinical_features(f, None, None), expected,
                                      check_exact=True)
    assert fast[0].index.tolist() == ["1", "2", "3", "4"]
    assert fast[0]["tmb"].iloc[0] == 12.5 and fast[0]["tmb"].iloc[3] == 3.0
    assert np.isnan(fast[0]["tmb"].iloc[1])  # text that is not a number
    assert fast[0]["sex_male"].tolist() == [1.0, 0.0, 0.0, 1.0]
