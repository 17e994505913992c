"""Bounded validation of ``POST /predict`` bodies: the first problems, a count of the rest.

pydantic (serving/schemas.py) holds the rules; this module decides how much work a bad request
may cost. A body is parsed once (orjson); unknown fields are counted per record by a set
difference (never validated, never echoed with their value); the many-valued parts of a record
(``expression`` values, ``mutations`` items) are checked by a cheap per-element predicate and
only their first failing elements go through pydantic for the message; the rest of each record
is validated by pydantic, whose errors are turned into dicts only while fewer than
``MAX_PROBLEMS`` problems are listed. So the work is linear in the body size with a small
constant, whatever the body holds (the body itself is bounded by ``max_request_bytes``).
"""

from __future__ import annotations

import math
from itertools import repeat
from operator import ge, itemgetter

import orjson
from pydantic import TypeAdapter, ValidationError

from cohorts.contract import ERROR_OPTIONS as _ERRORS
from cohorts.contract import error_problems, json_path, unknown_field_message
from serving.predictor import MAX_PROBLEMS, clip
from serving.schemas import (
    _AS_GIVEN,
    MAX_GENES,
    MAX_MUTATIONS,
    MAX_PATIENTS,
    Mutation,
    Patient,
    PredictRequest,
    TPMValue,
)

_REQUEST_FIELDS = frozenset(PredictRequest.model_fields)
_PATIENT_FIELDS = frozenset(Patient.model_fields)
_MUTATION_FIELDS = frozenset(Mutation.model_fields)
_VOCABULARY = frozenset(Mutation.model_fields["variant_classification"].annotation.__args__)
_TPM = TypeAdapter(TPMValue)


class Problems:
    """The first ``cap`` (path, message) pairs and the number of further problems."""

    def __init__(self, cap: int = MAX_PROBLEMS):
        self.cap = cap
        self.items: list[tuple[str, str]] = []
        self.more = 0

    @property
    def room(self) -> bool:
        return len(self.items) < self.cap

    def add(self, path: str, message: str) -> None:
        if self.room:
            self.items.append((clip(path), clip(message)))
        else:
            self.more += 1

    def count(self, n: int) -> None:
        """``n`` further problems not worth describing (the list is full)."""
        self.more += n

    def __len__(self) -> int:
        return len(self.items) + self.more

    def extend_from(self, exc: ValidationError, root: tuple, known=_PATIENT_FIELDS) -> None:
        """The errors of one validation, in the contract's words (cohorts.contract
        .error_problems, as features.raw_inputs_from_records reports them)."""
        n = exc.error_count()
        if not self.room:
            return self.count(n)
        for path, message in error_problems(exc, root, self.cap - len(self.items), known):
            self.add(path, message)
        self.count(max(0, n - self.cap))  # errors beyond what the list could take
        return None


class BodyError(ValueError):
    """A body that is not JSON: the message says where, never what."""


def parse(body: bytes):
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BodyError(clip(f"malformed JSON: {exc}")) from None


def check_request(data) -> Problems:
    """The problems of a parsed ``{"patients": [...], "curve_bands": ...}`` body (empty when
    pydantic accepts it)."""
    problems = Problems()
    if type(data) is not dict:
        problems.add("body", "Input should be a valid dictionary or object")
        return problems
    for key in data:
        if key not in _REQUEST_FIELDS:
            problems.add(key, "Extra inputs are not permitted")
    if "curve_bands" in data and type(data["curve_bands"]) is not bool:
        problems.add("curve_bands", "Input should be a valid boolean")
    if "patients" not in data:
        problems.add("patients", "Field required")
        return problems
    patients = data["patients"]
    if type(patients) is not list:
        problems.add("patients", "Input should be a valid list")
        return problems
    if not patients:
        problems.add("patients", "List should have at least 1 item after validation, not 0")
        return problems
    if len(patients) > MAX_PATIENTS:
        problems.add("patients", f"List should have at most {MAX_PATIENTS} items after "
                                 f"validation, not {len(patients)}")
        return problems
    allowed = _PATIENT_FIELDS | _AS_GIVEN
    for i, record in enumerate(patients):
        if type(record) is not dict:
            problems.add(f"patients[{i}]", "Input should be a valid dictionary or object")
            continue
        clean = record
        if not record.keys() <= allowed:
            listed = len(problems.items)
            known = record.keys() & allowed
            if problems.room:
                for key in record:
                    if key not in known:
                        problems.add(json_path(("patients", i, key)),
                                     unknown_field_message(key, allowed))
                        if not problems.room:  # the rest of this record: only counted
                            break
            problems.more += len(record) - len(known) - (len(problems.items) - listed)
            clean = {k: record[k] for k in known}
        root = ("patients", i)
        # the many-valued parts: a cheap check per element, pydantic only for the first bad ones
        modalities = {}
        if type(clean.get("expression")) is dict:
            modalities["expression"] = _check_expression
        if type(clean.get("mutations")) is list:
            modalities["mutations"] = _check_mutations
        for key, check in modalities.items():
            check(clean[key], (*root, key), problems)
        if modalities:
            clean = {k: v for k, v in clean.items() if k not in modalities}
        try:
            Patient.model_validate(clean)
        except ValidationError as exc:
            problems.extend_from(exc, root, allowed)
    return problems


_NUMBER_TYPES = frozenset({int, float})
_gene = itemgetter("gene")
_classification = itemgetter("variant_classification")


def _all_tpm(values) -> bool:
    """Every value a finite number >= 0, in C loops (the happy path of 1,000 expressions)."""
    if not values:
        return True
    if not set(map(type, values)) <= _NUMBER_TYPES:
        return False
    return 0 <= min(values) and max(values) < math.inf


def _all_mutations(mutations: list) -> bool:
    """Every item ``{"gene": str of 1-64 characters, "variant_classification": known}``."""
    if not mutations:
        return True
    if set(map(type, mutations)) != {dict} or set(map(len, mutations)) != {2}:
        return False
    try:  # two keys, both present: exactly the two fields
        genes = list(map(_gene, mutations))
        classifications = set(map(_classification, mutations))
    except (KeyError, TypeError):  # a missing field, an unhashable classification
        return False
    return (set(map(type, genes)) == {str} and 0 < min(map(len, genes))
            and max(map(len, genes)) <= 64 and classifications <= _VOCABULARY)


def _good_tpm(value) -> bool:
    return (type(value) is float or type(value) is int) and 0 <= value and math.isfinite(value)


def _check_expression(expression: dict, root: tuple, problems: Problems) -> bool:
    """True if pydantic may validate ``expression`` (every value passes the cheap check or
    pydantic's own); else its problems are listed and counted."""
    if len(expression) > MAX_GENES:
        problems.add(json_path(root), f"Dictionary should have at most {MAX_GENES} items after "
                                      f"validation, not {len(expression)}")
        return False
    if not problems.room:  # the request is refused already: only count, in one pass
        bad = _count_bad_tpm(list(expression.values()))
        problems.count(bad)
        return not bad
    if _all_tpm(expression.values()):
        return True
    before = len(problems)
    genes, values = list(expression), list(expression.values())
    for k, value in enumerate(values):
        if not problems.room:  # the rest is only counted, in C loops
            problems.count(_count_bad_tpm(values[k:]))
            break
        if _good_tpm(value):
            continue
        try:
            _TPM.validate_python(value)
        except ValidationError as exc:
            problems.add(json_path((*root, genes[k])), exc.errors(**_ERRORS)[0]["msg"])
    return len(problems) == before


def _count_bad_tpm(values: list) -> int:
    numbers = [v for v, t in zip(values, map(type, values), strict=True) if t is float or t is int]
    good = sum(map(ge, numbers, repeat(0))) - numbers.count(math.inf)
    return len(values) - good


def _good_mutation(item) -> bool:
    return (type(item) is dict and item.keys() <= _MUTATION_FIELDS
            and type(gene := item.get("gene")) is str and 0 < len(gene) <= 64
            and type(vc := item.get("variant_classification")) is str and vc in _VOCABULARY)


def _check_mutations(mutations: list, root: tuple, problems: Problems) -> bool:
    if len(mutations) > MAX_MUTATIONS:
        problems.add(json_path(root), f"List should have at most {MAX_MUTATIONS} items after "
                                      f"validation, not {len(mutations)}")
        return False
    if not problems.room:  # the request is refused already: only count, in one pass
        bad = len(mutations) - sum(map(_good_mutation, mutations))
        problems.count(bad)
        return not bad
    if _all_mutations(mutations):
        return True
    before = len(problems)
    for j, item in enumerate(mutations):
        if not problems.room:  # the rest is only counted: no loop body per item
            rest = mutations[j:]
            problems.count(len(rest) - sum(map(_good_mutation, rest)))
            break
        if _good_mutation(item):
            continue
        if type(item) is dict and not item.keys() <= _MUTATION_FIELDS:
            for key in item:
                if key not in _MUTATION_FIELDS:
                    problems.add(json_path((*root, j, key)), "Extra inputs are not permitted")
            item = {k: v for k, v in item.items() if k in _MUTATION_FIELDS}
        try:
            Mutation.model_validate(item)
        except ValidationError as exc:
            problems.extend_from(exc, (*root, j), _MUTATION_FIELDS)
    return len(problems) == before
