"""A small hand-made cohort directory in the documented format (deterministic, 6 patients)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from features.signatures import needed_genes

CLINICAL = (
    "patient_id,arm,pfs_months,pfs_event,age,sex,ecog,histology,smoking_status,pack_years,"
    "pdl1_tps,tmb,nlr,ldh,albumin,prior_lines,stk11_mut,keap1_mut,egfr_mut,kras_mut,tp53_mut\n"
    """P1,0,2.1,1,64,M,1,adenocarcinoma,former,30,0,,6.0,300,3.5,1,,,,,
P2,1,7.5,0,58,F,0,squamous,current,45,60,,2.0,180,4.1,1,,,,,
P3,1,3.0,1,71,M,2,other,never,0,20,4.0,5.0,260,3.9,2,0,0,1,0,1
P4,0,1.2,1,66,F,1,adenocarcinoma,,,,12.5,,,,1,1,0,0,1,0
P5,1,9.9,0,55,M,0,squamous,former,20,80,,3.1,200,4.2,0,,,,,
P6,0,4.4,1,,,,,,,,,,,,,,,,,
"""
)

MAF = """#version 2.4
#comment line
Hugo_Symbol\tEntrez_Gene_Id\tVariant_Classification\tTumor_Sample_Barcode\tt_alt_count\tt_depth
KRAS\t3845\tMissense_Mutation\tP1\t10\t100
STK11\t6794\tNonsense_Mutation\tP1\t8\t90
TP53\t7157\tSilent\tP1\t5\t80
CTNNB1\t1499\tMissense_Mutation\tP2\t12\t120
TP53\t7157\tFrame_Shift_Del\tP2\t7\t70
EGFR\t1956\tIntron\tP2\t3\t60
TTN\t7273\tMissense_Mutation\tP2\t4\t50
KEAP1\t9817\tSplice_Site\tP5\t9\t90
EGFR\t1956\t3'UTR\tP3\t9\t90
"""


def expression_matrix(patients=("P1", "P2", "P3", "P5"), seed=7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    genes = [*needed_genes(), "NOTAGENE1", "MYGENE2"]
    values = rng.gamma(1.5, 20.0, size=(len(genes), len(patients))).round(3)
    values[rng.random(values.shape) < 0.05] = 0.0
    frame = pd.DataFrame(values, index=pd.Index(genes, name="gene"), columns=list(patients))
    return frame.drop(index="NRDE2")  # housekeeping gene under its published alias C14orf102


def repertoire(rng, n, shared=None):
    junctions = [
        "CASS" + "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), 6)) + "F" for _ in range(n)
    ]
    df = pd.DataFrame({
        "junction_aa": junctions,
        "v_call": rng.choice(["TRBV5-1", "TRBV7-2", "TRBV20-1"], n),
        "j_call": rng.choice(["TRBJ2-1", "TRBJ1-1"], n),
        "duplicate_count": rng.geometric(0.3, n),
    })
    if shared is not None:
        df = pd.concat([shared, df], ignore_index=True)
    return df


@pytest.fixture
def cohort_dir(tmp_path):
    root = tmp_path / "cohort"
    root.mkdir()
    (root / "clinical.csv").write_text(CLINICAL)
    (root / "cohort.json").write_text(json.dumps(
        {"name": "tiny", "synthetic": True, "panel_size_mb": 1.25, "on_treatment_week": 6}
    ))
    (root / "mutations.maf").write_text(MAF)
    expression_matrix().to_csv(root / "expression.tsv", sep="\t")
    rng = np.random.default_rng(3)
    for pid in ["P1", "P2", "P3"]:
        base = repertoire(rng, 40)
        post = base.sample(frac=0.7, random_state=1).copy()
        post.loc[post.index[:3], "duplicate_count"] *= 25  # three clones expand strongly
        post = repertoire(rng, 10, shared=post)
        for tp, df in [("baseline", base), ("on_treatment", post)]:
            (root / "tcr" / tp).mkdir(parents=True, exist_ok=True)
            if pid == "P3" and tp == "on_treatment":
                continue  # baseline only
            df.to_csv(root / "tcr" / tp / f"{pid}.tsv", sep="\t", index=False)
    (root / "ctdna.csv").write_text(
        "patient_id,timepoint,max_vaf\nP1,baseline,0.2\nP1,on_treatment,0.05\n"
        "P2,baseline,0.1\nP2,on_treatment,0.08\nP3,baseline,0.0\nP3,on_treatment,0.01\n"
        "P5,baseline,0.3\n"
    )
    return root
