"""Latent tumour biology and the raw files it produces: MAF, expression, TCR repertoires, ctDNA.

Nothing here writes a feature directly: the inflamed state drives expression, the true TMB
becomes mutation calls over the panel, the induced immune response becomes clonal expansion.
Everything is vectorised over patients (no per-patient Python loops) so that 10,000 patients
simulate and write in well under a minute (benchmarks/simulate_bench.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from cohorts.genesets import (
    CYT,
    DANAHER_CELL_TYPES,
    FLAGGED_GENES,
    GEP_HOUSEKEEPING,
    WNT_PATHWAY,
    signature_genes,
)
from cohorts.schema import NONSYNONYMOUS_CLASSIFICATIONS

# ---- panel and sequencing
# MSK-IMPACT territory: the TMB values of the MSK cohorts in ../shared/data/public_ici are
# multiples of 1/1.14 mut/Mb (0.9, 1.8, 2.6, 3.5, ...), i.e. counts over a 1.14 Mb panel
# (MSK-IMPACT, Zehir et al., Nat Med 2017; TMB normalised to panel size as in Samstein et al.,
# Nat Genet 2019).
PANEL_SIZE_MB = 1.14
# Classifications counted as TMB (cohorts/schema.py, with its sources); Silent calls are
# written to the MAF too but do not count.
TMB_CLASSIFICATIONS = NONSYNONYMOUS_CLASSIFICATIONS
# Mix of passenger non-synonymous calls (approx. the pan-cancer MAF mix: ~85% missense).
PASSENGER_MIX = {
    "Missense_Mutation": 0.85, "Nonsense_Mutation": 0.06, "Frame_Shift_Del": 0.03,
    "Frame_Shift_Ins": 0.01, "Splice_Site": 0.03, "In_Frame_Del": 0.015, "In_Frame_Ins": 0.005,
}
# Silent calls per non-synonymous call (approx. 1 in 4 in coding panels; ASSUMPTION 0.3).
SILENT_PER_NONSYN = 0.3
# Depth: MSK-IMPACT median coverage ~700x (Zehir et al., Nat Med 2017; approx.), negative
# binomial with shape 6. Tumour purity Beta(5, 4) (mean ~0.56, ASSUMPTION); 70% of passengers
# clonal, the rest at cancer-cell fraction U(0.1, 1); heterozygous diploid VAF = purity*CCF/2.
MEAN_DEPTH = 700
DEPTH_SHAPE = 6
MIN_ALT_READS = 5  # callers rarely report fewer supporting reads

# Driver calls: (classification, HGVSp_Short, weight). KRAS G12C is ~40% of KRAS-mutant NSCLC,
# EGFR exon-19 deletions and L858R ~90% of EGFR-mutant (approx., standard NSCLC literature);
# STK11/KEAP1 mostly truncating or missense loss of function (Skoulidis et al., Cancer Discov
# 2018); the Wnt genes by their usual hotspots (CTNNB1 exon 3) or truncations (APC, RNF43).
DRIVER_VARIANTS = {
    "KRAS": [("Missense_Mutation", "p.G12C", 0.40), ("Missense_Mutation", "p.G12V", 0.20),
             ("Missense_Mutation", "p.G12D", 0.15), ("Missense_Mutation", "p.G13D", 0.10),
             ("Missense_Mutation", "p.Q61H", 0.15)],
    "EGFR": [("In_Frame_Del", "p.E746_A750del", 0.45), ("Missense_Mutation", "p.L858R", 0.45),
             ("Missense_Mutation", "p.L861Q", 0.10)],
    "STK11": [("Nonsense_Mutation", "", 0.40), ("Frame_Shift_Del", "", 0.25),
              ("Splice_Site", "", 0.15), ("Missense_Mutation", "", 0.20)],
    "KEAP1": [("Missense_Mutation", "", 0.80), ("Nonsense_Mutation", "", 0.15),
              ("Frame_Shift_Del", "", 0.05)],
    "TP53": [("Missense_Mutation", "", 0.75), ("Nonsense_Mutation", "", 0.12),
             ("Frame_Shift_Del", "", 0.08), ("Splice_Site", "", 0.05)],
    "CTNNB1": [("Missense_Mutation", "p.S37F", 0.5), ("Missense_Mutation", "p.D32N", 0.5)],
    "APC": [("Nonsense_Mutation", "", 0.7), ("Frame_Shift_Del", "", 0.3)],
    "RNF43": [("Frame_Shift_Del", "", 0.6), ("Nonsense_Mutation", "", 0.4)],
}
DEFAULT_DRIVER = [("Missense_Mutation", "", 0.8), ("Nonsense_Mutation", "", 0.2)]

# ---- latent biology
# Wnt-pathway mutation: ASSUMPTION 8% of NSCLC carry one in WNT_PATHWAY (a few % each for
# CTNNB1 and APC, fewer for the others); it marks cold tumours (Huang et al., Nat Cancer 2025;
# tumour-intrinsic beta-catenin signalling excludes T cells, Spranger et al., Nature 2015).
WNT_PREVALENCE = 0.08
WNT_GENE_WEIGHTS = {"CTNNB1": 0.3, "APC": 0.3, "RNF43": 0.1, "ZNRF3": 0.05, "AXIN1": 0.07,
                    "AXIN2": 0.05, "TCF7L2": 0.05, "LRP5": 0.04, "LRP6": 0.04}
# ---- expression (log2(TPM + 1) = base + loading * inflamed + noise); gene parameters fixed
GENE_PARAMETER_SEED = 20250517  # gene-level constants are the same in every virtual trial
LOW_LOADING_GROUPS = ("mast_cells", "neutrophils", "macrophages", "dc")
BACKGROUND_GENES = [
    # ribosomal proteins
    "RPL3", "RPL4", "RPL5", "RPL6", "RPL7", "RPL7A", "RPL8", "RPL9", "RPL10", "RPL10A", "RPL11",
    "RPL12", "RPL13", "RPL13A", "RPL14", "RPL15", "RPL17", "RPL18", "RPL18A", "RPL19", "RPL21",
    "RPL22", "RPL23", "RPL23A", "RPL24", "RPL26", "RPL27", "RPL27A", "RPL28", "RPL29", "RPL30",
    "RPL31", "RPL32", "RPL34", "RPL35", "RPL35A", "RPL36", "RPL37", "RPL37A", "RPL38", "RPL39",
    "RPL41", "RPS2", "RPS3", "RPS3A", "RPS4X", "RPS5", "RPS6", "RPS7", "RPS8", "RPS9", "RPS10",
    "RPS11", "RPS12", "RPS13", "RPS14", "RPS15", "RPS15A", "RPS16", "RPS17", "RPS18", "RPS19",
    "RPS20", "RPS21", "RPS23", "RPS24", "RPS25", "RPS26", "RPS27", "RPS27A", "RPS28", "RPS29",
    # metabolism, cytoskeleton, proliferation
    "GAPDH", "ACTB", "ACTG1", "TUBB", "TUBA1B", "PGK1", "LDHA", "ENO1", "ALDOA", "PKM", "TPI1",
    "HPRT1", "B2M", "PPIA", "YWHAZ", "EEF1A1", "EEF2", "HSP90AB1", "HSPA8", "MKI67", "TOP2A",
    "PCNA", "MCM2", "MCM3", "MCM6", "CCNB1", "CCNE1", "CDK1", "BUB1", "AURKA", "AURKB", "PLK1",
    "E2F1", "FOXM1", "BIRC5", "TYMS", "RRM2",
    # lung epithelium, squamous, stroma, endothelium
    "NKX2-1", "NAPSA", "SFTPB", "SFTPC", "SFTPA1", "SFTPA2", "SFTPD", "MUC1", "MUC5AC", "KRT7",
    "KRT8", "KRT18", "KRT19", "KRT5", "KRT6A", "KRT14", "KRT17", "TP63", "SOX2", "DSG3",
    "EPCAM", "CDH1", "VIM", "COL1A1", "COL1A2", "COL3A1", "COL5A1", "FN1", "SPARC", "ACTA2",
    "TAGLN", "FAP", "PDGFRB", "PECAM1", "VWF", "CDH5", "KDR", "ENG", "TGFB1", "TGFBR2", "VEGFA",
    "HIF1A", "CA9", "SLC2A1", "NQO1", "GCLM", "TXNRD1", "AKR1C1", "AKR1C3", "G6PD",
]
# Panel genes used for passenger mutations (MSK-IMPACT genes, Zehir et al. 2017); the flagged
# drivers and the Wnt genes are left out so that their calls are exactly the flags.
PASSENGER_GENES = [
    "ALK", "ARID1A", "ARID1B", "ARID2", "ASXL1", "ATM", "ATR", "ATRX", "BAP1", "BRAF", "BRCA1",
    "BRCA2", "BRD4", "CDH1", "CDK4", "CDK6", "CDKN2A", "CDKN2B", "CHEK2", "CIC", "CREBBP",
    "CSMD1", "CUL3", "DICER1", "DNMT3A", "EPHA3", "EPHA5", "EPHA7", "ERBB2", "ERBB3", "ERBB4",
    "FAT1", "FAT2", "FAT3", "FAT4", "FBXW7", "FGFR1", "FGFR2", "FGFR3", "FLT1", "FLT4", "GNAS",
    "GRIN2A", "HGF", "IDH1", "IDH2", "JAK1", "JAK2", "KDM5C", "KDM6A", "KIT", "KMT2A", "KMT2B",
    "KMT2C", "KMT2D", "MAP2K1", "MAP3K1", "MET", "MGA", "MTOR", "MYC", "NF1", "NF2", "NFE2L2",
    "NOTCH1", "NOTCH2", "NOTCH3", "NOTCH4", "NTRK1", "NTRK2", "NTRK3", "PBRM1", "PDGFRA",
    "PIK3C2G", "PIK3CA", "PIK3CG", "PIK3R1", "POLE", "PTCH1", "PTEN", "PTPRD", "PTPRT", "RB1",
    "RBM10", "RET", "ROS1", "SETD2", "SMAD4", "SMARCA4", "SOX9", "SPTA1", "TERT", "TET2",
    "TSC1", "TSC2", "U2AF1", "ZFHX3", "ZNF521", "POLQ", "RICTOR", "NSD1", "INPPL1", "ERCC4",
]
EXPRESSED_GENES = sorted(
    set(signature_genes()) | set(BACKGROUND_GENES) | set(PASSENGER_GENES)
    | set(FLAGGED_GENES) | set(WNT_PATHWAY)
)

# ---- TCR repertoires (blood), AIRR rearrangements
CLONES_PER_REPERTOIRE = 200  # unique clonotypes sampled at baseline (keeps files modest)
# Human TRBV/TRBJ genes (IMGT) and the J-encoded end of the CDR3 junction of each TRBJ.
TRBV = [
    "TRBV2", "TRBV3-1", "TRBV4-1", "TRBV4-2", "TRBV4-3", "TRBV5-1", "TRBV5-4", "TRBV5-5",
    "TRBV5-6", "TRBV6-1", "TRBV6-2", "TRBV6-5", "TRBV6-6", "TRBV7-2", "TRBV7-3", "TRBV7-6",
    "TRBV7-8", "TRBV7-9", "TRBV9", "TRBV10-1", "TRBV10-2", "TRBV10-3", "TRBV11-1", "TRBV11-2",
    "TRBV11-3", "TRBV12-3", "TRBV12-4", "TRBV12-5", "TRBV13", "TRBV14", "TRBV15", "TRBV18",
    "TRBV19", "TRBV20-1", "TRBV24-1", "TRBV25-1", "TRBV27", "TRBV28", "TRBV29-1", "TRBV30",
]
TRBJ_ENDS = {
    "TRBJ1-1": "NTEAFF", "TRBJ1-2": "NYGYTF", "TRBJ1-3": "SGNTIYF", "TRBJ1-4": "TNEKLFF",
    "TRBJ1-5": "SNQPQHF", "TRBJ1-6": "SPLHF", "TRBJ2-1": "SYNEQFF", "TRBJ2-2": "NTGELFF",
    "TRBJ2-3": "STDTQYF", "TRBJ2-4": "AKNIQYF", "TRBJ2-5": "QETQYF", "TRBJ2-6": "SGANVLTF",
    "TRBJ2-7": "SYEQYF",
}
JUNCTION_START = "CASS"  # conserved Cys104 + the common TRBV-encoded CASS start
# N/D-region amino acids, enriched for G/S/L/T/A/R as in CDR3beta repertoires (approx.).
N_REGION_AA = "GSLTARPEDQNVYK"
N_REGION_P = np.array([18, 12, 9, 8, 7, 7, 6, 6, 6, 5, 4, 4, 4, 4], float) / 100
# Clonal expansion by week 6 (Huang et al., Nat Cancer 2025: after RT, new and pre-existing clones
# expanded in blood, most in patients with an induced response). Expected number of expanded
# pre-existing clones and new clones; the sizes are ASSUMPTIONS.
EXPANDED_CLONES = {"base": 1.0, "induced": 5.0, "induced_rt": 8.0}
EXPANSION_LOG_FOLD = {"base": np.log(3.0), "induced": np.log(6.0), "induced_rt": np.log(12.0)}
NEW_CLONES = {"base": 40.0, "induced_rt": 40.0}

# ---- ctDNA max VAF (ASSUMPTIONS, direction as in ctDNA-on-ICI studies): baseline log10 VAF
# ~ N(-1.6 + 0.3*log-LDH z-score, 0.6), below 0.1% reported as 0 (not detected); by week 6
# responders fall ~10-fold, early progressors rise.
CTDNA_LOD = 0.001


def latent_biology(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Wnt-pathway mutation (gene) and tumour purity of each patient."""
    wnt = rng.random(n) < WNT_PREVALENCE
    genes = list(WNT_GENE_WEIGHTS)
    p = np.array(list(WNT_GENE_WEIGHTS.values()))
    wnt_gene = np.where(wnt, np.array(genes)[rng.choice(len(genes), n, p=p / p.sum())], "")
    return pd.DataFrame({"wnt_mut": wnt.astype(int), "wnt_gene": wnt_gene,
                         "purity": rng.beta(5, 4, n)})


def _pick(rng: np.random.Generator, options: list[tuple], size: int) -> tuple[np.ndarray, ...]:
    p = np.array([o[-1] for o in options], float)
    idx = rng.choice(len(options), size, p=p / p.sum())
    return tuple(np.array([o[k] for o in options])[idx] for k in range(len(options[0]) - 1))


def mutation_calls(rng: np.random.Generator, patient_ids: np.ndarray, baseline: pd.DataFrame,
                   bio: pd.DataFrame, panel_size_mb: float = PANEL_SIZE_MB,
                   ) -> tuple[pd.DataFrame, np.ndarray]:
    """MAF rows consistent with each patient's TMB over the panel, and the counted calls.

    The number of TMB-counting calls is round(true TMB x panel Mb) (at least the patient's
    drivers); flagged drivers and the Wnt gene are always present; Silent calls are added on top.
    """
    n = len(patient_ids)
    driver_pid, driver_gene = [], []
    for gene, flag in FLAGGED_GENES.items():
        idx = np.flatnonzero(baseline[flag].to_numpy() == 1)
        driver_pid.append(idx)
        driver_gene.append(np.full(len(idx), gene, dtype=object))
    wnt_idx = np.flatnonzero(bio["wnt_mut"].to_numpy() == 1)
    driver_pid.append(wnt_idx)
    driver_gene.append(bio["wnt_gene"].to_numpy()[wnt_idx].astype(object))
    d_pid, d_gene = np.concatenate(driver_pid), np.concatenate(driver_gene)
    d_class = np.empty(len(d_pid), dtype=object)
    d_prot = np.empty(len(d_pid), dtype=object)
    for gene in np.unique(d_gene):
        m = d_gene == gene
        d_class[m], d_prot[m] = _pick(rng, DRIVER_VARIANTS.get(gene, DEFAULT_DRIVER), m.sum())
    n_drivers = np.bincount(d_pid, minlength=n)
    n_counted = np.maximum(np.rint(baseline["tmb"].to_numpy() * panel_size_mb).astype(int),
                           n_drivers)
    n_pass = n_counted - n_drivers
    p_pid = np.repeat(np.arange(n), n_pass)
    p_gene = np.array(PASSENGER_GENES, dtype=object)[rng.integers(0, len(PASSENGER_GENES),
                                                                   len(p_pid))]
    (p_class,) = _pick(rng, [(k, v) for k, v in PASSENGER_MIX.items()], len(p_pid))
    n_silent = rng.poisson(SILENT_PER_NONSYN * n_counted)
    s_pid = np.repeat(np.arange(n), n_silent)
    s_gene = np.array(PASSENGER_GENES, dtype=object)[rng.integers(0, len(PASSENGER_GENES),
                                                                   len(s_pid))]
    pid = np.concatenate([d_pid, p_pid, s_pid])
    gene = np.concatenate([d_gene, p_gene, s_gene])
    vclass = np.concatenate([d_class, p_class.astype(object),
                             np.full(len(s_pid), "Silent", dtype=object)])
    prot = np.concatenate([d_prot, np.full(len(p_pid) + len(s_pid), "", dtype=object)])
    clonal = np.concatenate([np.ones(len(d_pid), bool), rng.random(len(p_pid) + len(s_pid)) < 0.7])
    ccf = np.where(clonal, 1.0, rng.uniform(0.1, 1.0, len(pid)))
    vaf = bio["purity"].to_numpy()[pid] * ccf / 2
    depth = np.maximum(rng.negative_binomial(DEPTH_SHAPE, DEPTH_SHAPE / (DEPTH_SHAPE + MEAN_DEPTH),
                                             len(pid)), 50)
    alt = np.clip(rng.binomial(depth, vaf), MIN_ALT_READS, depth)
    indel = np.isin(vclass, ["Frame_Shift_Del", "In_Frame_Del"])
    ins = np.isin(vclass, ["Frame_Shift_Ins", "In_Frame_Ins"])
    order = np.lexsort((gene.astype(str), pid))
    maf = pd.DataFrame({
        "Hugo_Symbol": gene, "Variant_Classification": vclass,
        "Variant_Type": np.where(indel, "DEL", np.where(ins, "INS", "SNP")),
        "Tumor_Sample_Barcode": patient_ids[pid], "HGVSp_Short": prot,
        "t_alt_count": alt, "t_depth": depth,
    }).iloc[order].reset_index(drop=True)
    return maf, n_counted


def _gene_parameters() -> pd.DataFrame:
    """Fixed per-gene base level, inflamed loading and noise (same in every trial)."""
    rng = np.random.default_rng(GENE_PARAMETER_SEED)
    genes = np.array(EXPRESSED_GENES)
    immune = set(signature_genes()) - set(GEP_HOUSEKEEPING)
    low = {g for grp in LOW_LOADING_GROUPS for g in DANAHER_CELL_TYPES[grp]}
    is_imm = np.isin(genes, list(immune))
    is_hk = np.isin(genes, GEP_HOUSEKEEPING)
    base = np.where(is_hk, rng.uniform(5, 8, len(genes)),
                    np.where(is_imm, rng.uniform(4.5, 8.0, len(genes)), rng.uniform(0.5, 9,
                                                                                   len(genes))))
    loading = np.where(is_imm, rng.uniform(0.7, 1.4, len(genes)), 0.0)
    loading[np.isin(genes, list(low))] *= 0.35
    loading[np.isin(genes, CYT)] = 1.3
    noise = np.where(is_hk, 0.15, np.where(is_imm, 0.55, 0.6))
    return pd.DataFrame({"gene": genes, "base": base, "loading": loading, "noise": noise})


def expression(rng: np.random.Generator, patient_ids: np.ndarray, biopsy: np.ndarray,
               ) -> pd.DataFrame:
    """Genes x patients TPM: immune genes read the biopsy's immune state, housekeeping stay stable.

    ``biopsy`` is the RNA biopsy's immune readout b (cohorts.simulate.latent): a sampled, noisy
    view of the tumour's inflamed state, so no gene reveals the hidden biology exactly. Immune
    gene levels sit high enough (log2 TPM 4.5-8) that clipping at TPM 0 is negligible.
    """
    g = _gene_parameters()
    x = (g["base"].to_numpy()[:, None] + g["loading"].to_numpy()[:, None] * biopsy[None, :]
         + g["noise"].to_numpy()[:, None] * rng.standard_normal((len(g), len(patient_ids))))
    tpm = np.round(np.maximum(np.exp2(x) - 1, 0), 3)
    return pd.concat([g[["gene"]], pd.DataFrame(tpm, columns=patient_ids)], axis=1)


def biopsy_readout(expr: pd.DataFrame) -> tuple[np.ndarray, float]:
    """Generalised least-squares estimate of b per patient from the written TPM, and its variance.

    What an observer who knew every gene's base, loading and noise could infer from
    expression.tsv: the sufficient statistic for b (the conditional truth conditions on it).
    """
    g = _gene_parameters().set_index("gene").loc[expr["gene"].to_numpy()]
    use = g["loading"].to_numpy() > 0
    x = np.log2(expr.drop(columns="gene").to_numpy(dtype=float)[use] + 1)
    lam = g["loading"].to_numpy()[use]
    prec = lam / g["noise"].to_numpy()[use] ** 2
    info = float(prec @ lam)
    return prec @ (x - g["base"].to_numpy()[use][:, None]) / info, 1.0 / info


def _junctions(rng: np.random.Generator, j_idx: np.ndarray) -> np.ndarray:
    """CDR3beta junctions 'CASS' + N/D region + TRBJ-encoded end, as a numpy bytes array."""
    m = len(j_idx)
    ends = list(TRBJ_ENDS.values())
    width = len(JUNCTION_START) + 8 + max(map(len, ends))
    mat = np.zeros((m, width), np.uint8)
    mat[:, :4] = np.frombuffer(JUNCTION_START.encode(), np.uint8)
    n_len = rng.integers(2, 9, m)
    aa = np.frombuffer(N_REGION_AA.encode(), np.uint8)
    middle = aa[rng.choice(len(aa), (m, 8), p=N_REGION_P)]
    cols = np.arange(8)
    mat[:, 4:12] = np.where(cols[None, :] < n_len[:, None], middle, 0)
    end_mat = np.zeros((len(ends), 8), np.uint8)
    for k, e in enumerate(ends):
        end_mat[k, :len(e)] = np.frombuffer(e.encode(), np.uint8)
    rows = np.repeat(np.arange(m), 8)
    dest = (4 + n_len)[:, None] + cols[None, :]
    src = end_mat[j_idx]
    mat_pos = np.zeros((m, width), np.uint8)
    mat_pos[rows, dest.ravel()] = src.ravel()
    keep = mat_pos != 0
    mat[keep] = mat_pos[keep]
    return mat.view(f"S{width}").ravel()


def _clone_sizes(rng: np.random.Generator, m: int) -> np.ndarray:
    """Blood clone sizes: heavy-tailed, most clones seen once or twice (power law)."""
    return np.minimum(np.floor(rng.pareto(1.3, m) * 1.5).astype(int) + 1, 20000)


def repertoires(rng: np.random.Generator, n: int, induced: np.ndarray, rt: np.ndarray,
                clones: int = CLONES_PER_REPERTOIRE) -> pd.DataFrame:
    """Baseline and week-6 repertoires of every patient, long format (patient index, timepoint).

    Pre-existing clones are resampled at week 6; some expand (more and more strongly when the
    immune response is induced, most after RT), new clones appear.
    """
    n_v, n_j = len(TRBV), len(TRBJ_ENDS)
    b_pid = np.repeat(np.arange(n), clones)
    m = len(b_pid)
    b_v, b_j = rng.integers(0, n_v, m), rng.integers(0, n_j, m)
    b_junc = _junctions(rng, b_j)
    b_count = _clone_sizes(rng, m)
    # week 6: resample pre-existing clones, expand some
    lam = (EXPANDED_CLONES["base"] + induced * EXPANDED_CLONES["induced"]
           + induced * rt * EXPANDED_CLONES["induced_rt"])
    p_exp = np.minimum(lam / clones, 1.0)[b_pid]
    expanded = rng.random(m) < p_exp
    log_fold = (EXPANSION_LOG_FOLD["base"] + induced * (EXPANSION_LOG_FOLD["induced"]
                - EXPANSION_LOG_FOLD["base"]) + induced * rt * (EXPANSION_LOG_FOLD["induced_rt"]
                - EXPANSION_LOG_FOLD["induced"]))[b_pid]
    fold = np.where(expanded, np.exp(log_fold + 0.5 * rng.standard_normal(m)), 1.0)
    o_count = rng.poisson(b_count * fold)
    n_new = rng.poisson(NEW_CLONES["base"] + induced * rt * NEW_CLONES["induced_rt"])
    n_pid = np.repeat(np.arange(n), n_new)
    new_v, new_j = rng.integers(0, n_v, len(n_pid)), rng.integers(0, n_j, len(n_pid))
    n_junc = _junctions(rng, new_j)
    n_count = _clone_sizes(rng, len(n_pid)) * np.where(
        (induced * rt)[n_pid] > 0, 1 + rng.poisson(2, len(n_pid)), 1)
    keep = o_count > 0
    v_names = np.array([f"{v}*01" for v in TRBV], dtype=object)
    j_names = np.array([f"{j}*01" for j in TRBJ_ENDS], dtype=object)
    pid = np.concatenate([b_pid, b_pid[keep], n_pid])
    tp = np.concatenate([np.zeros(m, np.int8), np.ones(keep.sum() + len(n_pid), np.int8)])
    count = np.concatenate([b_count, o_count[keep], n_count])
    order = np.lexsort((-count, pid, tp))
    return pd.DataFrame({
        "patient": pid[order], "timepoint": tp[order],
        "junction_aa": pd.arrays.ArrowStringArray(pa.array(
            np.concatenate([b_junc, b_junc[keep], n_junc])[order], pa.binary()).cast(pa.string())),
        "v_call": v_names[np.concatenate([b_v, b_v[keep], new_v])[order]],
        "j_call": j_names[np.concatenate([b_j, b_j[keep], new_j])[order]],
        "duplicate_count": count[order],
    })


def ctdna(rng: np.random.Generator, patient_ids: np.ndarray, latent_ldh_z: np.ndarray,
          pfs_true: np.ndarray, responder: np.ndarray) -> pd.DataFrame:
    """Max VAF at baseline and week 6: burden-linked at baseline, then following response."""
    n = len(patient_ids)
    base = 10 ** (-1.6 + 0.3 * latent_ldh_z + 0.6 * rng.standard_normal(n))
    early_pd = pfs_true < 2.0
    log_ratio = np.where(responder, np.log(0.1), np.where(early_pd, np.log(1.6), np.log(0.7)))
    week6 = base * np.exp(log_ratio + 0.6 * rng.standard_normal(n))
    vals = np.round(np.clip(np.stack([base, week6], 1), 0, 0.6), 5)
    vals[vals < CTDNA_LOD] = 0.0
    return pd.DataFrame({
        "patient_id": np.repeat(patient_ids, 2),
        "timepoint": np.tile(["baseline", "on_treatment"], n),
        "max_vaf": vals.ravel(),
    })
