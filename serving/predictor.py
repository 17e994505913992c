"""From validated request patients to the response document; no web framework in here.

The BentoML service (serving/service.py) and the plain FastAPI reference app of the benchmark
both call ``Predictor.predict``, so the benchmark compares servers, not code paths. Features
come from ``ModelBundle.raw_from_records`` -> ``features_for``: the code ``abscopal predict``
and training use.
"""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import orjson

from cohorts.contract import json_path  # noqa: F401  (the API's paths: one helper, in cohorts)
from features import FeatureWarning, RecordError
from models.base import ESTIMANDS
from serving.card import model_card, notice
from serving.schemas import Patient
from training.bundle import ModelBundle
from training.loading import LoadedModel

TOP_DRIVERS = 5
OVERLAP_MIN_PATIENTS = 200


class RequestError(ValueError):
    """A request the model cannot score; ``problems`` are (JSON path, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{p}: {m}" for p, m in problems))


MAX_PROBLEMS = 20  # problems listed in an error document; the rest are only counted
MAX_ECHO = 100  # characters of an echoed path or message


def clip(text: str, limit: int = MAX_ECHO) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def error_document(problems: list[tuple[str, str]], error: str = "invalid request",
                   more: int = 0) -> dict:
    """The one error body of the API: a message per offending JSON path, at most MAX_PROBLEMS
    of them (paths and messages clipped to MAX_ECHO characters); ``more_problems`` counts the
    rest."""
    listed = problems[:MAX_PROBLEMS]
    more += len(problems) - len(listed)
    document = {"error": error,
                "problems": [{"path": clip(p), "message": clip(m)} for p, m in listed]}
    if more:
        document["more_problems"] = more
    return document


class Predictor:
    """A loaded model plus its card; ``predict`` scores up to max_patients_per_request patients."""

    def __init__(self, loaded: LoadedModel):
        self.loaded = loaded
        self.bundle: ModelBundle = loaded.bundle
        self.card = model_card(loaded)
        fingerprint = self.bundle.training.get("fingerprint") or {}
        self.model_info = {
            "name": loaded.name,
            "version": loaded.version,
            "run_id": loaded.run_id,
            "uri": loaded.uri,
            "training_data_fingerprint": fingerprint.get("sha256"),
            "synthetic": self.bundle.synthetic,
            "notice": notice(self.bundle.synthetic),
            "effect": "average" if self.bundle.serves_average else "individual",
            "heterogeneity": self.bundle.heterogeneity_report,
            "baseline": self.bundle.__dict__.get("baseline", "trial"),
            "prognosis": self.bundle.training.get("prognosis"),
        }
        # Warm-up: builds the ensemble's compiled trees, RMST and TreeSHAP tables (~1-2 s) and
        # loads both tree kernels (one patient: the walk; several: the vectorised one) now, at
        # load time, instead of in the first requests; ``gc.freeze()`` then covers them too.
        for curve_bands in (False, True):
            self.predict([Patient()], curve_bands)
            self.predict([Patient(), Patient()], curve_bands)

    def predict(self, patients: list[Patient], curve_bands: bool = False) -> dict:
        """The response document; its curves are numpy rows: write it with ``dumps``.

        ``curve_bands`` adds each curve's pointwise interval: asked for by the page (one
        patient), not by default, since it adds ~60 % to a large batch's body and ~10 ms of
        work per 1,000 patients (docs/benchmarks.md, "Curve intervals")."""
        records = [p.to_record() for p in patients]
        bundle = self.bundle
        try:
            with warnings.catch_warnings():
                # Per-request feature notes (e.g. too few signature genes) are reported per
                # patient below through the NaN -> "imputed" warnings, not logged per request.
                warnings.simplefilter("ignore", FeatureWarning)
                raw = bundle.raw_from_records(records)
                X = bundle.features_for(raw)
        except RecordError as exc:
            raise RequestError(exc.problems) from None
        if len(X) >= OVERLAP_MIN_PATIENTS:
            # the ensemble's numeric work runs outside the GIL: build the drivers and warnings
            # (mostly Python) on this thread meanwhile
            with ThreadPoolExecutor(1) as pool:
                model = pool.submit(bundle.predict, X, bands=curve_bands)
                drivers = bundle.drivers(X, top_k=TOP_DRIVERS)
                notes = bundle.prediction_warnings(X)
                prediction = model.result()
        else:
            prediction = bundle.predict(X, bands=curve_bands)
            drivers = bundle.drivers(X, top_k=TOP_DRIVERS)
            notes = bundle.prediction_warnings(X)
        # Curves stay numpy rows: orjson writes them (``dumps``) without a Python float per
        # value (~20 ms less per 1,000 patients than ``.tolist()``); NaN becomes null.
        months_row = prediction.months
        s_ici = np.round(prediction.survival_ici, 6)
        s_rt = np.round(prediction.survival_rt_ici, 6)
        # rounding is monotone: a band that contains its curve still does
        band = {} if prediction.bands is None else {
            name: (None if values is None else np.round(values, 6))
            for name, values in prediction.bands._asdict().items()}
        no_band = [None] * len(s_ici)
        benefit = {k: [{"estimate": e, "lower": lo, "upper": hi} for e, lo, hi in _floats(
            np.column_stack(prediction.interval(k)))] for k in ESTIMANDS}
        p_benefit = _floats(prediction.probability_of_benefit)
        recommendation = prediction.recommendation.tolist()
        predictions = []
        for i, pid in enumerate(X.index.tolist()):
            predictions.append({
                "patient_id": str(pid),
                "survival": {"months": months_row, "ici": s_ici[i], "rt_ici": s_rt[i],
                             **{name: (no_band if values is None else values)[i]
                                for name, values in band.items()}},
                "benefit": {k: benefit[k][i] for k in ESTIMANDS},
                "probability_of_benefit": p_benefit[i],
                "recommendation": recommendation[i],
                "drivers": drivers[i],
                "warnings": notes[i],
            })
        return {"predictions": predictions, "model": self.model_info}


def dumps(document: dict) -> bytes:
    """A response document as JSON bytes: numpy rows as arrays, NaN as null (orjson is ~9x
    faster than json.dumps on a 1,000-patient response of ~4 MB)."""
    return orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY)


def _floats(values: np.ndarray) -> list:
    """Python floats (nested lists for 2-D), None where not finite: JSON has no NaN."""
    values = np.asarray(values, dtype=float)
    if np.isfinite(values).all():
        return values.tolist()
    return np.where(np.isfinite(values), values, None).tolist()
