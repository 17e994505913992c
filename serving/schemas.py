"""The HTTP contract of ``POST /predict``: pydantic models built FROM cohorts.schema.

The baseline fields, their ranges and their vocabularies are defined once (cohorts/schema.py,
the clinical.csv contract) and turned into request fields here, so a value the cohort format
refuses is refused over HTTP with the same bounds. Every field is optional: missing values are
imputed by the model and flagged in the response ``warnings``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    create_model,
    model_validator,
)

from cohorts.schema import (
    CATEGORICAL_BASELINE,
    MAF_VARIANT_CLASSIFICATIONS,
    MUTATION_FLAGS,
    NUMERIC_BASELINE,
)
from common.settings import get_settings

# Numbers must be JSON numbers (no "12" strings, no booleans, no NaN/Infinity).
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
TPMValue = Annotated[Number, Field(ge=0)]
MAX_PATIENTS = get_settings().max_patients_per_request
MAX_GENES = 60_000  # more than every human gene symbol: a bound, not a vocabulary
MAX_MUTATIONS = 10_000  # per patient; hypermutated tumours reach a few thousand calls


class Mutation(BaseModel):
    """One somatic call, as in a MAF row (Hugo_Symbol, Variant_Classification)."""

    model_config = ConfigDict(extra="forbid")

    gene: Annotated[str, Field(min_length=1, max_length=64, strict=True,
                               description="HGNC gene symbol (MAF Hugo_Symbol)",
                               examples=["STK11"])]
    variant_classification: Annotated[
        Literal[tuple(MAF_VARIANT_CLASSIFICATIONS)],  # type: ignore[valid-type]
        Field(description="MAF Variant_Classification; the nonsynonymous classes count for TMB "
                          "and the gene flags (docs/features.md)",
              examples=["Nonsense_Mutation"])]


# What each patient field means, for people: (label, group, unit, explanation, example). The
# OpenAPI document (/docs) and the web page's form (/) are built from these; ranges and
# vocabularies come from cohorts/schema.py. Groups: clinical, biomarkers, mutations, blood markers.
def _mutation_doc(gene: str, example: int) -> tuple[str, str, str, str, object]:
    return (f"{gene} mutation", "mutations", "0/1",
            f"1 if {gene} carries a pathogenic (nonsynonymous) mutation, 0 if not; taken from "
            "`mutations` instead when that list is sent.", example)


FIELD_DOCS: dict[str, tuple[str, str, str, str, object]] = {
    "patient_id": ("Patient ID", "clinical", "",
                   "Your identifier for the patient, echoed in the response (default "
                   "patient-<n>). Never a name or a record number.", "P1"),
    "age": ("Age", "clinical", "years", "Age at the start of treatment.", 64),
    "sex": ("Sex", "clinical", "", "Sex as recorded at enrolment.", "F"),
    "ecog": ("ECOG performance status", "clinical", "grade",
             "0 fully active, 1 restricted in strenuous activity, 2 ambulatory, 3 limited "
             "self-care, 4 bedbound.", 1),
    "histology": ("Histology", "clinical", "", "Histology of the NSCLC.", "adenocarcinoma"),
    "smoking_status": ("Smoking status", "clinical", "", "Tobacco smoking history.", "former"),
    "pack_years": ("Pack-years", "clinical", "pack-years",
                   "Cumulative tobacco exposure: packs a day times years smoked.", 30),
    "prior_lines": ("Prior lines of therapy", "clinical", "lines",
                    "Prior systemic therapy lines for advanced disease.", 1),
    "pdl1_tps": ("PD-L1 TPS", "biomarkers", "%",
                 "PD-L1 tumour proportion score (22C3 assay) in PERCENT: send 50 for 50 %, not "
                 "0.5. A request whose pdl1_tps values are all <= 1, one of them fractional, "
                 "gets a warning (fractions sent?).", 0),
    "tmb": ("TMB", "biomarkers", "mut/Mb",
            "Tumour mutational burden: nonsynonymous mutations per megabase; computed from "
            "`mutations` instead when that list is sent.", 4.2),
    **{f"{g.lower()}_mut": _mutation_doc(g, int(g in ("STK11", "TP53")))
       for g in ("STK11", "KEAP1", "EGFR", "KRAS", "TP53")},
    "wnt_mut": ("Wnt pathway mutation", "mutations", "0/1",
                "1 if a Wnt/beta-catenin pathway gene (CTNNB1, APC, AXIN1, AXIN2, RNF43, ZNRF3, "
                "TCF7L2, LRP5, LRP6) carries a pathogenic (nonsynonymous) mutation, 0 if none; "
                "taken from `mutations` instead when that list is sent.", 0),
    "nlr": ("NLR", "blood markers", "ratio",
            "Neutrophil-to-lymphocyte ratio in peripheral blood before treatment.", 3.1),
    "ldh": ("LDH", "blood markers", "U/L", "Serum lactate dehydrogenase before treatment.", 220),
    "albumin": ("Albumin", "blood markers", "g/dL", "Serum albumin before treatment.", 3.9),
}


def _doc(name: str, range_text: str = "") -> dict:
    """pydantic Field arguments that document one patient field in the OpenAPI schema."""
    label, group, unit, text, example = FIELD_DOCS[name]
    return {"title": label, "description": f"{text}{range_text} Optional: imputed when missing.",
            "examples": [example],
            # OpenAPI 3.0 (what BentoML writes) reads the singular ``example``
            "json_schema_extra": {"x-group": group, "x-unit": unit, "example": example}}


def _numeric(name: str, lo: float, hi: float):
    unit = FIELD_DOCS[name][2]
    doc = _doc(name, f" Range {lo:g}-{hi:g}{' ' + unit if unit else ''}.")
    return Annotated[Number | None, Field(default=None, ge=lo, le=hi, **doc)]


def _bool_to_int(value):
    return int(value) if isinstance(value, bool) else value


def _flag(name: str):
    # 0/1 as in clinical.csv; JSON booleans are accepted too.
    return Annotated[Literal[0, 1] | None, BeforeValidator(_bool_to_int), Field(**_doc(name))]


PatientBase = create_model(
    "PatientBase",
    __config__=ConfigDict(extra="forbid"),
    patient_id=(Annotated[str | None, Field(min_length=1, max_length=128, strict=True,
                                            **_doc("patient_id"))], None),
    **{name: (_numeric(name, lo, hi), None) for name, (lo, hi) in NUMERIC_BASELINE.items()},
    **{name: (Annotated[Literal[tuple(values)] | None,  # type: ignore[valid-type]
                        Field(**_doc(name, f" One of {', '.join(values)}."))], None)
       for name, values in CATEGORICAL_BASELINE.items()},
    **{name: (_flag(name), None) for name in MUTATION_FLAGS},
)


# Numeric fields the loaded model was trained on "as given" (a trial's own clinical columns, e.g.
# cd4 for an ACTG 320 model): set once at model load (allow_as_given), empty for the champion of
# the virtual trial. They are accepted at the top level of a patient like any baseline field.
_AS_GIVEN: set[str] = set()


def allow_as_given(names) -> None:
    _AS_GIVEN.clear()
    _AS_GIVEN.update(names)


class Patient(PatientBase):  # type: ignore[misc, valid-type]
    """Baseline fields of clinical.csv (all optional) plus optional raw modalities."""

    as_given: Annotated[
        dict[str, Number] | None,
        Field(description="numeric fields the served model uses as given (see GET /model); "
                          "may also be sent at the top level of the patient"),
    ] = None

    @model_validator(mode="before")
    @classmethod
    def _collect_as_given(cls, data):
        """Move the model's own numeric fields into ``as_given``; other unknown fields stay and
        are refused (extra="forbid") with their JSON path, in the same validation pass."""
        if isinstance(data, dict) and _AS_GIVEN and (moved := _AS_GIVEN.intersection(data)):
            given = {**(data.get("as_given") or {}), **{k: data[k] for k in moved}}
            data = {k: v for k, v in data.items() if k not in moved} | {"as_given": given}
        return data

    expression: Annotated[
        dict[str, TPMValue] | None,
        Field(max_length=MAX_GENES, title="RNA expression",
              description="{HGNC gene symbol: TPM (>= 0)} of one baseline tumour sample; the "
                          "immune signatures are computed from it (GET /model lists the genes "
                          "read; others are ignored). Optional: signatures imputed without it.",
              examples=[{"CD8A": 35.2, "GZMB": 12.0, "IFNG": 3.1}],
              json_schema_extra={"x-group": "raw files", "x-unit": "TPM",
                                 "example": {"CD8A": 35.2, "GZMB": 12.0, "IFNG": 3.1}}),
    ] = None
    mutations: Annotated[
        list[Mutation] | None,
        Field(max_length=MAX_MUTATIONS, title="Somatic mutation calls",
              description="MAF rows of the tumour (gene, variant classification); when sent, "
                          "TMB (with the model's panel size) and the gene flags come from "
                          "them. An empty list means sequenced, nothing found.",
              examples=[[{"gene": "STK11", "variant_classification": "Nonsense_Mutation"}]],
              json_schema_extra={"x-group": "raw files", "x-unit": "", "example": [
                  {"gene": "STK11", "variant_classification": "Nonsense_Mutation"}]}),
    ] = None

    def to_record(self) -> dict:
        """The plain record ``features.raw_inputs_from_records`` reads (unset fields left out)."""
        # the validated attributes as they are (model_dump costs ~2 us per patient more)
        record = {k: v for k, v in self.__dict__.items()
                  if v is not None and k not in ("mutations", "as_given")}
        record.update(self.as_given or {})
        if self.mutations is not None:
            record["mutations"] = [m.model_dump() for m in self.mutations]
        return record


Patients = Annotated[list[Patient], Field(min_length=1, max_length=MAX_PATIENTS)]


class PredictRequest(BaseModel):
    """``{"patients": [...], "curve_bands": false}``: 1 to max_patients_per_request patients,
    and whether to return the curves' intervals; nothing else."""

    model_config = ConfigDict(extra="forbid")

    patients: Patients
    curve_bands: StrictBool = Field(
        False, description="also return each survival curve's pointwise interval "
        "(`survival.ici_lower`, `ici_upper`, `rt_ici_lower`, `rt_ici_upper`); off by default: "
        "they add ~60 % to the body of a large batch")


# --- response ------------------------------------------------------------------------------

class Interval(BaseModel):
    """A point estimate with the model's (1 - alpha) bootstrap interval (90 % by default;
    GET /model, model.interval_level)."""

    estimate: float = Field(description="point estimate")
    lower: float = Field(description="lower bound of the interval")
    upper: float = Field(description="upper bound of the interval")


class Benefit(BaseModel):
    """Absolute gains from adding RT: PFS probability at 6 and 12 months, 12-month RMST
    (months); ``lower``/``upper`` bound the model's (1 - alpha) bootstrap interval."""

    pfs_gain_6mo: Interval = Field(description="absolute gain in P(progression-free at 6 "
                                   "months), a probability difference (0.10 = 10 points)")
    pfs_gain_12mo: Interval = Field(description="absolute gain in P(progression-free at 12 "
                                    "months), a probability difference")
    rmst_gain_12mo: Interval = Field(description="gain in restricted mean PFS time up to 12 "
                                     "months, in months")


_BAND = ("pointwise (1 - alpha) interval of the curve at each month, at the level of the "
         "benefit intervals (GET /model, model.interval_level) and from the same sampling "
         "distribution: the bootstrap members' percentiles (the mean curve may leave the band "
         "where the members are skewed), or for an average-effect model the Kaplan-Meier "
         "curve's exponential Greenwood interval")


class Survival(BaseModel):
    """Predicted progression-free survival curves on one grid, with pointwise intervals."""

    months: list[float] = Field(description="time grid, months: 0, 0.5, ..., 24")
    ici: list[float] = Field(description="P(progression-free) under ICI alone at each month")
    rt_ici: list[float] = Field(description="P(progression-free) under stereotactic RT then "
                                            "ICI at each month")
    ici_lower: list[float] | None = Field(
        None, description=f"lower bound of `ici`'s {_BAND}; only when the request sets "
        "`curve_bands`; null when the ICI-alone curve is the real-world prognosis model's "
        "(model.baseline = real-world): taken as known, it has no interval")
    ici_upper: list[float] | None = Field(
        None, description="upper bound of the same interval of `ici`; present and null as "
        "`ici_lower`")
    rt_ici_lower: list[float] | None = Field(
        None, description=f"lower bound of `rt_ici`'s {_BAND}; on a real-world baseline, over the "
        "draws of the trial's relative effect; only when the request sets `curve_bands`")
    rt_ici_upper: list[float] | None = Field(
        None, description="upper bound of the same interval of `rt_ici`; only with `curve_bands`")


class Driver(BaseModel):
    """One input's contribution to the predicted 12-month RMST gain (TreeSHAP of a surrogate)."""

    feature: str = Field(description="model feature (GET /model, features)")
    value: float | None = Field(description="the patient's value; null when imputed")
    contribution_months: float = Field(description="months of 12-month RMST gain this value "
                                                   "adds (> 0) or removes (< 0)")
    direction: str = Field(description="'increases benefit' or 'decreases benefit'")


class Prediction(BaseModel):
    """One patient's answer."""

    patient_id: str = Field(description="as sent, or patient-<n> (1-based) when not sent")
    survival: Survival
    benefit: Benefit
    probability_of_benefit: float = Field(
        description="P(12-month RMST gain >= MCID): share of bootstrap members with a gain of "
                    "at least the MCID (GET /model, model.recommendation_rule.mcid_months)")
    recommendation: Literal["add_rt", "no_added_benefit", "uncertain"] = Field(
        description="add_rt when probability_of_benefit >= level, no_added_benefit when "
                    "P(gain < MCID) >= level, else uncertain (level: "
                    "model.recommendation_rule.level of GET /model); always uncertain when the "
                    "model serves the trial's average effect")
    drivers: list[Driver] = Field(description="the inputs that move the predicted gain most, "
                                              "largest first; empty for an average-effect model")
    warnings: list[str] = Field(description="imputed (missing) inputs, values outside the "
                                            "training range, PD-L1 sent as a fraction, and why "
                                            "an average effect is served")


class ModelInfo(BaseModel):
    """Which model answered, and what it may be used for."""

    name: str | None = Field(description="registered MLflow model name")
    version: str | None = Field(description="registered MLflow model version")
    run_id: str | None = Field(description="MLflow run that trained it")
    uri: str = Field(description="MLflow model URI the server loaded")
    training_data_fingerprint: str | None = Field(
        description="sha256 of the training data (GET /model, training_data.fingerprint)")
    synthetic: bool = Field(description="true when trained on simulated patients: the "
                                        "predictions then carry no clinical meaning")
    notice: str = Field(description="research-use notice (and the SYNTHETIC notice)")
    effect: Literal["individual", "average"] = Field(
        "individual", description="individual: per-patient effects; average: heterogeneity was "
        "not shown on held-out patients, every patient gets the trial's average effect")
    heterogeneity: dict[str, float | int | str | bool] | None = Field(
        None, description="the pre-specified best-linear-predictor test on held-out patients")
    baseline: Literal["trial", "real-world"] = Field(
        "trial", description="ICI-alone curve under the benefit: the trial's own ICI arm, or the "
        "real-world prognosis model (ici-prognosis) with the trial's relative effect of RT on top "
        "(assumes that relative effect transports; docs/models.md)")
    prognosis: dict[str, str | None] | None = Field(
        None, description="the prognosis model this model uses (uri, version, input, baseline)")


class PredictResponse(BaseModel):
    """One prediction per patient, in request order, and the model that made them."""

    predictions: list[Prediction]
    model: ModelInfo
