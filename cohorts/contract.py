"""The clinical input contract, defined once: every patient field, its kind, range, vocabulary and
meaning, and the pydantic models built from that table.

Everything that reads a patient derives from ``FIELDS``: the pandera CLINICAL_SCHEMA of
clinical.csv (cohorts/schema.py), the record reader of the serving path and the Python API
(``features.raw_inputs_from_records``), the HTTP request model and so the OpenAPI document
(serving/schemas.py), the web page's form (built from that document) and the table of
docs/cohort-format.md (``markdown_table``; a test keeps the file equal to it).

Why pydantic is the source, with pandera derived from it: a request patient is one JSON object,
and pydantic gives what the API needs from one definition: the JSON schema (OpenAPI), an error
per field with its path (``patients[3].ecog``) and a message, and a record validated in
microseconds; pandera has no JSON schema or per-record paths. A data frame of thousands of rows
is what pandera is for (vectorised checks that name every offending line), so CLINICAL_SCHEMA
keeps checking clinical.csv, its columns generated from the same table, and the message of each
offending cell is the pydantic field's own (``value_message``). So one bad value reads the same
on every path: ``ecog`` 2.5 is "Input should be a whole number" in a CSV (with file, line and
column), from ``raw_inputs_from_records`` and over HTTP.

Unknown names: one that looks like a misspelling of a field (``likely_field``: ``pdl1_tsp``,
``Age``) is refused on every path with the same message (``near_miss_message``). Other unknown
names are refused in a record and over HTTP ("Extra inputs are not permitted"), but carried in a
CSV: a trial's own columns are features a model may use "as given" (``--features``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    create_model,
)
from pydantic_core import PydanticCustomError

SEXES = ["F", "M"]
HISTOLOGIES = ["adenocarcinoma", "squamous", "other"]
SMOKING_STATUSES = ["never", "former", "current"]
BEST_RESPONSES = ["CR", "PR", "SD", "PD"]

# Variant classifications of the MAF specification (GDC / TCGA MAF).
MAF_VARIANT_CLASSIFICATIONS = [
    "Frame_Shift_Del", "Frame_Shift_Ins", "In_Frame_Del", "In_Frame_Ins", "Missense_Mutation",
    "Nonsense_Mutation", "Silent", "Splice_Site", "Translation_Start_Site", "Nonstop_Mutation",
    "3'UTR", "3'Flank", "5'UTR", "5'Flank", "IGR", "Intron", "RNA", "Targeted_Region",
    "Splice_Region", "De_novo_Start_InFrame", "De_novo_Start_OutOfFrame", "Start_Codon_SNP",
    "Start_Codon_Del", "Start_Codon_Ins", "Stop_Codon_Del", "Stop_Codon_Ins", "Unknown",
]

MAX_GENES = 60_000  # more than every human gene symbol: a bound, not a vocabulary
MAX_MUTATIONS = 10_000  # per patient; hypermutated tumours reach a few thousand calls
MAX_ID_LENGTH = 128

Kind = Literal["id", "number", "category", "flag"]


@dataclass(frozen=True)
class FieldSpec:
    """One patient field: what it holds (kind, range, whole numbers, vocabulary) and what it
    means for people (label, group, unit, explanation, example)."""

    name: str
    kind: Kind
    label: str
    group: str  # clinical, biomarkers, mutations, blood markers
    unit: str
    explanation: str
    example: object
    range: tuple[float, float] | None = None
    whole: bool = False
    values: tuple[str, ...] = ()


def _number(name, label, group, unit, text, example, lo, hi, whole=False) -> FieldSpec:
    return FieldSpec(name, "number", label, group, unit, text, example, (lo, hi), whole)


def _category(name, label, text, example, values) -> FieldSpec:
    return FieldSpec(name, "category", label, "clinical", "", text, example, values=tuple(values))


def _mutation_flag(gene: str, example: int) -> FieldSpec:
    return FieldSpec(f"{gene.lower()}_mut", "flag", f"{gene} mutation", "mutations", "0/1",
                     f"1 if {gene} carries a pathogenic (nonsynonymous) mutation, 0 if not; taken "
                     "from `mutations` instead when that list is sent.", example)


# The table. Order: the id, the numbers, the categories, the mutation flags (the order of the
# request schema's properties and of the feature pipeline's columns).
FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("patient_id", "id", "Patient ID", "clinical", "",
              "Your identifier for the patient, echoed in the response (default patient-<n>; "
              "an integer is read as its text). Never a name or a record number.", "P1"),
    _number("age", "Age", "clinical", "years", "Age at the start of treatment.", 64, 18, 110),
    _number("ecog", "ECOG performance status", "clinical", "grade",
            "0 fully active, 1 restricted in strenuous activity, 2 ambulatory, 3 limited "
            "self-care, 4 bedbound.", 1, 0, 4, whole=True),
    _number("pack_years", "Pack-years", "clinical", "pack-years",
            "Cumulative tobacco exposure: packs a day times years smoked.", 30, 0, 300),
    _number("pdl1_tps", "PD-L1 TPS", "biomarkers", "%",
            "PD-L1 tumour proportion score (22C3 assay) in PERCENT: send 50 for 50 %, not 0.5. "
            "A request whose pdl1_tps values are all <= 1, one of them fractional, gets a "
            "warning (fractions sent?).", 0, 0, 100),
    _number("tmb", "TMB", "biomarkers", "mut/Mb",
            "Tumour mutational burden: nonsynonymous mutations per megabase; computed from "
            "`mutations` instead when that list is sent.", 4.2, 0, 1000),
    _number("nlr", "NLR", "blood markers", "ratio",
            "Neutrophil-to-lymphocyte ratio in peripheral blood before treatment.", 3.1, 0, 500),
    _number("ldh", "LDH", "blood markers", "U/L", "Serum lactate dehydrogenase before treatment.",
            220, 0, 20000),
    _number("albumin", "Albumin", "blood markers", "g/dL", "Serum albumin before treatment.", 3.9,
            0.5, 7.0),
    # Counts and grades are whole numbers (an ECOG of 2.5 or 1.7 prior lines is a data error).
    _number("prior_lines", "Prior lines of therapy", "clinical", "lines",
            "Prior systemic therapy lines for advanced disease.", 1, 0, 20, whole=True),
    _category("sex", "Sex", "Sex as recorded at enrolment.", "F", SEXES),
    _category("histology", "Histology", "Histology of the NSCLC.", "adenocarcinoma", HISTOLOGIES),
    _category("smoking_status", "Smoking status", "Tobacco smoking history.", "former",
              SMOKING_STATUSES),
    # Gene flags, then the Wnt/beta-catenin pathway flag (any gene of cohorts.genesets
    # .WNT_PATHWAY): each is also derived from a MAF or a request's mutation list, which then
    # takes precedence.
    *(_mutation_flag(g, int(g in ("STK11", "TP53")))
      for g in ("STK11", "KEAP1", "EGFR", "KRAS", "TP53")),
    FieldSpec("wnt_mut", "flag", "Wnt pathway mutation", "mutations", "0/1",
              "1 if a Wnt/beta-catenin pathway gene (CTNNB1, APC, AXIN1, AXIN2, RNF43, ZNRF3, "
              "TCF7L2, LRP5, LRP6) carries a pathogenic (nonsynonymous) mutation, 0 if none; "
              "taken from `mutations` instead when that list is sent.", 0),
)
FIELD = {spec.name: spec for spec in FIELDS}
BASELINE_FIELDS = tuple(spec for spec in FIELDS if spec.kind != "id")

# The columns of clinical.csv that are not patient inputs: the trial's arm and outcomes (a CSV
# for training or evaluation has them; a request never does). (name, required, values, meaning)
TRIAL_COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    ("arm", "yes", "0 or 1", "0 = ICI alone, 1 = RT then ICI"),
    ("pfs_months", "yes", "number > 0", "progression-free survival time, months"),
    ("pfs_event", "yes", "0 or 1", "1 progressed or died, 0 censored"),
    ("os_months", "no", "number > 0", "overall survival time, months"),
    ("os_event", "no", "0 or 1", "1 died, 0 censored"),
    ("best_response", "no", ", ".join(BEST_RESPONSES), "best overall response (RECIST 1.1)"),
)

# --- the pydantic models -------------------------------------------------------------------

# Numbers must be JSON numbers (no "12" strings, no booleans, no NaN/Infinity).
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
TPMValue = Annotated[Number, Field(ge=0)]


def _doc(spec: FieldSpec, range_text: str = "") -> dict:
    """pydantic Field arguments that document one patient field in the JSON schema (OpenAPI)."""
    return {"title": spec.label,
            "description": f"{spec.explanation}{range_text} Optional: imputed when missing.",
            "examples": [spec.example],
            # OpenAPI 3.0 (what BentoML writes) reads the singular ``example``
            "json_schema_extra": {"x-group": spec.group, "x-unit": spec.unit,
                                  "example": spec.example}}


def _bool_to_int(value):
    return int(value) if isinstance(value, bool) else value


def _whole(value: float | None) -> float | None:
    if value is not None and value % 1:
        raise PydanticCustomError("whole_number", "Input should be a whole number")
    return value


def _int_to_str(value):
    # a record read from a table may carry numeric ids; a boolean is no id
    return str(value) if type(value) is int else value


def _annotation(spec: FieldSpec):
    """The pydantic type of one field (every field optional: missing values are imputed)."""
    if spec.kind == "id":
        return Annotated[str | None,
                         Field(min_length=1, max_length=MAX_ID_LENGTH, strict=True,
                               **_doc(spec)),
                         BeforeValidator(_int_to_str)]
    if spec.kind == "number":
        lo, hi = spec.range
        unit = f" {spec.unit}" if spec.unit else ""
        whole = ", whole numbers" if spec.whole else ""
        doc = _doc(spec, f" Range {lo:g}-{hi:g}{unit}{whole}.")
        if not spec.whole:
            return Annotated[Number | None, Field(ge=lo, le=hi, **doc)]
        doc["json_schema_extra"]["multipleOf"] = 1
        return Annotated[Number | None, Field(ge=lo, le=hi, **doc), AfterValidator(_whole)]
    if spec.kind == "category":
        return Annotated[Literal[spec.values] | None,  # type: ignore[valid-type]
                         Field(**_doc(spec, f" One of {', '.join(spec.values)}."))]
    # 0/1 as in clinical.csv; JSON booleans are accepted too.
    return Annotated[Literal[0, 1] | None, BeforeValidator(_bool_to_int), Field(**_doc(spec))]


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


_EXPRESSION_EXAMPLE = {"CD8A": 35.2, "GZMB": 12.0, "IFNG": 3.1}
_MUTATIONS_EXAMPLE = [{"gene": "STK11", "variant_classification": "Nonsense_Mutation"}]

PatientFields = create_model(
    "PatientFields",
    __config__=ConfigDict(extra="forbid"),
    __doc__="The fields of ``FIELDS``, all optional.",
    **{spec.name: (_annotation(spec), None) for spec in FIELDS},
)


class PatientRecord(PatientFields):  # type: ignore[misc, valid-type]
    """One patient: the clinical fields plus the optional raw modalities (what a request patient
    and a record of ``features.raw_inputs_from_records`` hold)."""

    expression: Annotated[
        dict[str, TPMValue] | None,
        Field(max_length=MAX_GENES, title="RNA expression",
              description="{HGNC gene symbol: TPM (>= 0)} of one baseline tumour sample; the "
                          "immune signatures are computed from it (GET /model lists the genes "
                          "read; others are ignored). Optional: signatures imputed without it.",
              examples=[_EXPRESSION_EXAMPLE],
              json_schema_extra={"x-group": "raw files", "x-unit": "TPM",
                                 "example": _EXPRESSION_EXAMPLE}),
    ] = None
    mutations: Annotated[
        list[Mutation] | None,
        Field(max_length=MAX_MUTATIONS, title="Somatic mutation calls",
              description="MAF rows of the tumour (gene, variant classification); when sent, "
                          "TMB (with the model's panel size) and the gene flags come from "
                          "them. An empty list means sequenced, nothing found.",
              examples=[_MUTATIONS_EXAMPLE],
              json_schema_extra={"x-group": "raw files", "x-unit": "",
                                 "example": _MUTATIONS_EXAMPLE}),
    ] = None


RECORD_FIELDS = frozenset(PatientRecord.model_fields)
MODALITY_KEYS = frozenset({"expression", "mutations"})
NUMBER = TypeAdapter(Number | None)  # a field a model uses "as given"

# --- one way to say what is wrong ----------------------------------------------------------

ERROR_OPTIONS = {"include_url": False, "include_input": False, "include_context": False}
NEAR_MISS_CUTOFF = 0.8  # difflib ratio: pdl1_tsp/pdl1_tps 0.88; ACTG 320's columns all < 0.6
EXTRA_FIELD = "Extra inputs are not permitted"  # pydantic's words (extra="forbid")
NOT_AN_OBJECT = "Input should be a valid dictionary or object"  # a patient that is no object


def likely_field(name: str, known: Iterable[str]) -> str | None:
    """The known name ``name`` is probably a misspelling of (case-insensitive), or None."""
    known = list(known)
    if name in known:
        return None
    lowered = {k.lower(): k for k in known}
    if name.lower() in lowered:
        return lowered[name.lower()]
    # a ratio >= 0.8 needs lengths within a factor 1.5: a long name (a 1 MB key) is no near miss
    if not known or len(name) > 1.5 * max(map(len, known)) + 1:
        return None
    match = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=NEAR_MISS_CUTOFF)
    return lowered[match[0]] if match else None


def near_miss_message(likely: str) -> str:
    """The message for a name that is probably a misspelling of the field ``likely``."""
    return f"unknown field; did you mean {likely!r}?"


def unknown_field_message(name: str, known: Iterable[str]) -> str:
    """Why an unknown name in a record or request is refused: a likely misspelling is named."""
    likely = likely_field(name, known)
    return EXTRA_FIELD if likely is None else near_miss_message(likely)


def json_path(loc: tuple | list, root: str = "") -> str:
    """pydantic ``loc`` ("patients", 0, "age") -> JSON path ``patients[0].age``."""
    path = root
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "body"


def error_problems(exc: ValidationError, root: tuple = (), limit: int | None = None,
                   known: Iterable[str] = RECORD_FIELDS) -> list[tuple[str, str]]:
    """The first ``limit`` errors of a validation as (JSON path, message) pairs; an unknown
    field that looks like a misspelling of one of ``known`` names it."""
    problems = []
    for err in exc.errors(**ERROR_OPTIONS)[:limit]:
        message = err["msg"]
        if err["type"] == "extra_forbidden" and err["loc"] and len(err["loc"]) == 1:
            message = unknown_field_message(str(err["loc"][-1]), known)
        problems.append((json_path((*root, *err["loc"])), message))
    return problems


@cache
def _adapter(name: str) -> TypeAdapter:
    return TypeAdapter(_annotation(FIELD[name]))


def value_message(name: str, value) -> str | None:
    """What the contract says of one value of field ``name`` (None when it is valid): the message
    a CSV cell gets, the same as a record's or a request's."""
    try:
        _adapter(name).validate_python(value)
    except ValidationError as exc:
        return exc.errors(**ERROR_OPTIONS)[0]["msg"]
    return None


# --- the docs table ------------------------------------------------------------------------

def _values_text(spec: FieldSpec) -> str:
    if spec.kind == "id":
        return "text, unique"
    if spec.kind == "category":
        return ", ".join(spec.values)
    if spec.kind == "flag":
        return "0 or 1"
    lo, hi = spec.range
    return f"{lo:g}-{hi:g}{', whole' if spec.whole else ''}"


DOCS_TABLE_START = ("<!-- the table below is generated from cohorts/contract.py: "
                    "python -m cohorts.docs rewrites it -->")
DOCS_TABLE_END = "<!-- end of the generated table -->"


def markdown_table() -> str:
    """The table of clinical.csv's columns in docs/cohort-format.md, rendered from the contract
    (``tests/cohorts/test_contract.py`` keeps the file equal to it)."""
    rows = ["| column | required | type / values | unit | name | meaning |",
            "|---|---|---|---|---|---|"]
    patient_id, *baseline = FIELDS
    rows.append(f"| `patient_id` | yes | {_values_text(patient_id)} | | | links every file of "
                "the cohort; in a request optional (default patient-<n>), never a name or a "
                "record number |")
    rows += [f"| `{name}` | {required} | {values} | | | {meaning} |"
             for name, required, values, meaning in TRIAL_COLUMNS]
    rows += [f"| `{s.name}` | no | {_values_text(s)} | {'' if s.kind == 'flag' else s.unit} | "
             f"{s.label} | {s.explanation.replace('|', '/')} |" for s in baseline]
    return "\n".join(rows) + "\n"


def docs_with_table(text: str) -> str:
    """``text`` (docs/cohort-format.md) with the part between the markers rendered anew."""
    head, start, rest = text.partition(DOCS_TABLE_START)
    _, end, tail = rest.partition(DOCS_TABLE_END)
    if not start or not end:
        raise ValueError("the table markers of the contract are missing")
    return f"{head}{start}\n\n{markdown_table()}\n{end}{tail}"
