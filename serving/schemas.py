"""The HTTP contract of ``POST /predict``: the request patient is the one input contract,
cohorts/contract.py, plus the server-only ``as_given`` hook.

The patient fields, their ranges, vocabularies and documentation (so the OpenAPI document and
the web page's form), and the ``Mutation`` model are defined once there, and clinical.csv and
``features.raw_inputs_from_records`` check the same rules with the same messages. Every field is
optional: missing values are imputed by the model and flagged in the response ``warnings``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, model_validator
from pydantic_core import InitErrorDetails

from cohorts.contract import (  # noqa: F401  (the request's vocabulary, importable from here)
    FIELD,
    MAX_GENES,
    MAX_MUTATIONS,
    NUMBER,
    Mutation,
    Number,
    PatientRecord,
    TPMValue,
)
from common.settings import get_settings

MAX_PATIENTS = get_settings().max_patients_per_request

# What each patient field means, for people: (label, group, unit, explanation, example), from
# the contract's table (the OpenAPI document and the page's form show them).
FIELD_DOCS: dict[str, tuple[str, str, str, str, object]] = {
    name: (spec.label, spec.group, spec.unit, spec.explanation, spec.example)
    for name, spec in FIELD.items()
}


# Numeric fields the loaded model was trained on "as given" (a trial's own clinical columns, e.g.
# cd4 for an ACTG 320 model): set once at model load (allow_as_given), empty for the champion of
# the virtual trial. They are accepted at the top level of a patient like any baseline field.
_AS_GIVEN: set[str] = set()


def allow_as_given(names) -> None:
    _AS_GIVEN.clear()
    _AS_GIVEN.update(names)


class Patient(PatientRecord):
    """The contract's patient (cohorts.contract.PatientRecord) plus the fields the served model
    uses as given: a hook of the server, whose model is known only once loaded."""

    as_given: Annotated[
        dict[str, Number] | None,
        Field(description="numeric fields the served model uses as given (see GET /model); "
                          "may also be sent at the top level of the patient"),
    ] = None

    @model_validator(mode="wrap")
    @classmethod
    def _collect_as_given(cls, data, handler):
        """Move the model's own numeric fields into ``as_given``, each checked as a number at its
        own path (``patients[0].cd4``, as features.raw_inputs_from_records reports it); other
        unknown fields stay and are refused (extra="forbid"), in the same validation pass."""
        if not (isinstance(data, dict) and _AS_GIVEN and (moved := _AS_GIVEN.intersection(data))):
            return handler(data)
        given, errors = {}, []
        for key in data:
            if key in moved:
                try:
                    if (value := NUMBER.validate_python(data[key])) is not None:
                        given[key] = value
                except ValidationError as exc:
                    errors += [InitErrorDetails(type=e["type"], loc=(key, *e["loc"]),
                                                input=data[key], ctx=e.get("ctx", {}))
                               for e in exc.errors()]
        rest = {k: v for k, v in data.items() if k not in moved}
        if given:
            rest["as_given"] = {**(rest.get("as_given") or {}), **given}
        try:
            patient = handler(rest)
        except ValidationError as exc:
            errors = [*exc.errors(), *errors]
        if errors:
            raise ValidationError.from_exception_data(cls.__name__, errors)
        return patient

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
        description="P(12-month RMST gain >= MCID) under the distribution behind the "
                    "intervals: the share of bootstrap members with a gain of at least the MCID "
                    "(individual effects), or the normal approximation of the trial's average "
                    "effect when that is served (GET /model, "
                    "model.recommendation_rule.mcid_months)")
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
        None, description="the pre-specified best-linear-predictor test on held-out patients "
        "(slope: 1 = calibrated individual effects, 0 = no information; passed: p_value < alpha) "
        "and beats_average_p_value, the one-sided p of slope <= 1/2 (individual effects no more "
        "accurate than the average)")
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
