"""The HTTP contract of ``POST /predict``: pydantic models built FROM cohorts.schema.

The baseline fields, their ranges and their vocabularies are defined once (cohorts/schema.py,
the clinical.csv contract) and turned into request fields here, so a value the cohort format
refuses is refused over HTTP with the same bounds. Every field is optional: missing values are
imputed by the model and flagged in the response ``warnings``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model, model_validator

from abscopal.settings import get_settings
from cohorts.schema import (
    CATEGORICAL_BASELINE,
    MAF_VARIANT_CLASSIFICATIONS,
    MUTATION_FLAGS,
    NUMERIC_BASELINE,
)

# Numbers must be JSON numbers (no "12" strings, no booleans, no NaN/Infinity).
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
TPMValue = Annotated[Number, Field(ge=0)]
MAX_PATIENTS = get_settings().max_patients_per_request
MAX_GENES = 60_000  # more than every human gene symbol: a bound, not a vocabulary
MAX_MUTATIONS = 10_000  # per patient; hypermutated tumours reach a few thousand calls


class Mutation(BaseModel):
    """One somatic call, as in a MAF row (Hugo_Symbol, Variant_Classification)."""

    model_config = ConfigDict(extra="forbid")

    gene: Annotated[str, Field(min_length=1, max_length=64, strict=True)]
    variant_classification: Literal[tuple(MAF_VARIANT_CLASSIFICATIONS)]  # type: ignore[valid-type]


def _numeric(lo: float, hi: float):
    return Annotated[Number | None, Field(default=None, ge=lo, le=hi)]


def _bool_to_int(value):
    return int(value) if isinstance(value, bool) else value


def _flag():
    # 0/1 as in clinical.csv; JSON booleans are accepted too.
    return Annotated[Literal[0, 1] | None, BeforeValidator(_bool_to_int)]


PatientBase = create_model(
    "PatientBase",
    __config__=ConfigDict(extra="forbid"),
    patient_id=(Annotated[str | None, Field(min_length=1, max_length=128, strict=True)], None),
    **{name: (_numeric(lo, hi), None) for name, (lo, hi) in NUMERIC_BASELINE.items()},
    **{name: (Literal[tuple(values)] | None, None)  # type: ignore[valid-type]
       for name, values in CATEGORICAL_BASELINE.items()},
    **{name: (_flag(), None) for name in MUTATION_FLAGS},
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
        Field(max_length=MAX_GENES, description="{gene symbol: TPM}, one tumour sample"),
    ] = None
    mutations: Annotated[
        list[Mutation] | None,
        Field(max_length=MAX_MUTATIONS,
              description="somatic calls; an empty list means sequenced, none found"),
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
    """``{"patients": [...]}``: 1 to max_patients_per_request patients, nothing else."""

    model_config = ConfigDict(extra="forbid")

    patients: Patients


# --- response ------------------------------------------------------------------------------

class Interval(BaseModel):
    estimate: float
    lower: float
    upper: float


class Benefit(BaseModel):
    """Absolute gains from adding RT: PFS probability at 6 and 12 months, 12-month RMST
    (months); ``lower``/``upper`` bound the model's (1 - alpha) bootstrap interval."""

    pfs_gain_6mo: Interval
    pfs_gain_12mo: Interval
    rmst_gain_12mo: Interval


class Survival(BaseModel):
    months: list[float]
    ici: list[float]
    rt_ici: list[float]


class Driver(BaseModel):
    feature: str
    value: float | None
    contribution_months: float
    direction: str


class Prediction(BaseModel):
    patient_id: str
    survival: Survival
    benefit: Benefit
    probability_of_benefit: float
    recommendation: Literal["add_rt", "no_added_benefit", "uncertain"]
    drivers: list[Driver]
    warnings: list[str]


class ModelInfo(BaseModel):
    name: str | None
    version: str | None
    run_id: str | None
    uri: str
    training_data_fingerprint: str | None
    synthetic: bool
    notice: str
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
    predictions: list[Prediction]
    model: ModelInfo
