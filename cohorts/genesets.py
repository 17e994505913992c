"""Published immune gene sets, each beside its citation (see ../shared/docs/science.md).

The simulator draws expression for these genes and features/ scores them: both read this one module.
"""

from __future__ import annotations

# Ayers et al., J Clin Invest 2017;127:2930 - IFN-gamma 6-gene signature (mean of log2 expression).
IFNG_6 = ["IFNG", "STAT1", "CXCL9", "CXCL10", "IDO1", "HLA-DRA"]

# Ayers et al., J Clin Invest 2017 - expanded immune 18-gene signature.
EXPANDED_IMMUNE_18 = [
    "GZMB", "GZMK", "CXCR6", "CXCL10", "CXCL13", "CCL5", "STAT1", "CD3D", "CD3E", "CD2", "IL2RG",
    "NKG7", "HLA-E", "CIITA", "HLA-DRA", "LAG3", "IDO1", "TAGAP",
]

# Ayers et al., JCI 2017; Cristescu et al., Science 2018;362:eaar3593 - T cell-inflamed gene
# expression profile (GEP): weighted sum of log10 expression normalised to 11 housekeeping genes.
GEP_WEIGHTS = {
    "CCL5": 0.008346, "CD27": 0.072293, "CD274": 0.042853, "CD276": -0.0239, "CD8A": 0.031021,
    "CMKLR1": 0.151253, "CXCL9": 0.074135, "CXCR6": 0.004313, "HLA-DQA1": 0.020091,
    "HLA-DRB1": 0.058806, "HLA-E": 0.07175, "IDO1": 0.060679, "LAG3": 0.123895, "NKG7": 0.075524,
    "PDCD1LG2": 0.003734, "PSMB10": 0.032999, "STAT1": 0.250229, "TIGIT": 0.084767,
}
GEP_HOUSEKEEPING = [
    "STK11IP", "ZBTB34", "TBC1D10B", "OAZ1", "POLR2A", "G6PD", "ABCF1", "NRDE2", "UBB", "TBP",
    "SDHA",
]
# NRDE2 was called C14orf102 in the original publication.
GENE_ALIASES = {"C14orf102": "NRDE2"}

# Rooney et al., Cell 2015;160:48 - cytolytic activity: geometric mean of GZMA and PRF1
# (TPM + 0.01).
CYT = ["GZMA", "PRF1"]

# Roh et al., Sci Transl Med 2017;9:eaah3560 - immune score, geometric mean.
ROH_IMMUNE = [
    "GZMA", "GZMB", "PRF1", "GNLY", "HLA-A", "HLA-B", "HLA-C", "HLA-E", "HLA-F", "HLA-G", "HLA-H",
    "HLA-DMA", "HLA-DMB", "HLA-DOA", "HLA-DOB", "HLA-DPA1", "HLA-DPB1", "HLA-DQA1", "HLA-DQA2",
    "HLA-DQB1", "HLA-DRA", "HLA-DRB1", "IFNG", "IFNGR1", "IFNGR2", "IRF1", "STAT1", "PSMB9",
    "CCR5", "CCL3", "CCL4", "CCL5", "CXCL9", "CXCL10", "CXCL11", "ICAM1", "ICAM2", "ICAM3",
    "ICAM4", "ICAM5", "VCAM1",
]

# Messina et al., Sci Rep 2012;2:765 - 12-chemokine signature (mean z-score here).
CHEMOKINE_12 = [
    "CCL2", "CCL3", "CCL4", "CCL5", "CCL8", "CCL18", "CCL19", "CCL21", "CXCL9", "CXCL10", "CXCL11",
    "CXCL13",
]

# Cabrita et al., Nature 2020;577:561 - tertiary lymphoid structure signature (geometric mean).
TLS = ["CD79B", "CD1D", "CCR6", "LAT", "SKAP1", "CETP", "EIF1AY", "RBP5", "PTGDS"]

# Davoli et al., Science 2017;355:eaaf8399 - immune infiltrate signature.
DAVOLI_IMMUNE = ["CD247", "CD2", "CD3E", "GZMH", "NKG7", "PRF1", "GZMK"]

# Danaher et al., J Immunother Cancer 2017;5:18 - immune cell-type marker genes.
DANAHER_CELL_TYPES = {
    "b_cells": ["BLK", "CD19", "FCRL2", "MS4A1", "FAM30A", "TNFRSF17", "TCL1A", "SPIB", "PNOC"],
    "cd45": ["PTPRC"],
    "cytotoxic_cells": [
        "PRF1", "GZMA", "GZMB", "NKG7", "GZMH", "KLRK1", "KLRB1", "KLRD1", "CTSW", "GNLY",
    ],
    "dc": ["CCL13", "CD209", "HSD11B1"],
    "exhausted_cd8": ["LAG3", "CD244", "EOMES", "PTGER4"],
    "macrophages": ["CD68", "CD84", "CD163", "MS4A4A"],
    "mast_cells": ["TPSAB1", "TPSB2", "CPA3", "MS4A2", "HDC"],
    "neutrophils": ["FPR1", "SIGLEC5", "CSF3R", "FCAR", "FCGR3B", "CEACAM3", "S100A12"],
    "nk_cd56dim": ["KIR2DL3", "KIR3DL1", "KIR3DL2", "IL21R"],
    "nk_cells": ["XCL1", "XCL2", "NCR1"],
    "t_cells": ["CD6", "CD3D", "CD3E", "SH2D1A", "TRAT1", "CD3G"],
    "th1_cells": ["TBX21"],
    "treg": ["FOXP3"],
    "cd8_t_cells": ["CD8A", "CD8B"],
}

# Wnt/beta-catenin pathway genes for the "Wnt-pathway mutation" flag: the canonical pathway
# members listed in ../shared/docs/science.md, as used for the cold-tumour definition of
# Huang et al., Nat Cancer 2025 (Wnt-pathway mutations mark immunologically cold NSCLC).
WNT_PATHWAY = ["CTNNB1", "APC", "AXIN1", "AXIN2", "RNF43", "ZNRF3", "TCF7L2", "LRP5", "LRP6"]

# Driver and resistance genes flagged in clinical.csv (Skoulidis et al., Cancer Discov 2018 for
# STK11/KEAP1 and PD-1 resistance; EGFR, KRAS, TP53 as standard NSCLC drivers).
FLAGGED_GENES = {"STK11": "stk11_mut", "KEAP1": "keap1_mut", "EGFR": "egfr_mut",
                 "KRAS": "kras_mut", "TP53": "tp53_mut"}


def signature_genes() -> list[str]:
    """Every gene any signature above needs, sorted and unique."""
    groups = [IFNG_6, EXPANDED_IMMUNE_18, list(GEP_WEIGHTS), GEP_HOUSEKEEPING, CYT, ROH_IMMUNE,
              CHEMOKINE_12, TLS, DAVOLI_IMMUNE, *DANAHER_CELL_TYPES.values()]
    return sorted({gene for group in groups for gene in group})
