"""The BentoML 1.4 service: ``POST /predict``, ``GET /model`` (model card), ``/livez``, ``/readyz``
and Prometheus ``/metrics``.

Start it with ``abscopal serve`` or ``bentoml serve serving.service:BenefitService``. The model
(``ABSCOPAL_MODEL_URI``, default the ``champion`` of ``rt-benefit``) is loaded once per worker at
start-up; without a registered model the worker refuses to start and says how to train one.

Latency under load: after loading, ``gc.freeze()`` moves the model's millions of objects (trees,
arrays, pandas indexes) out of the collector's reach, so full collections triggered by request
garbage no longer walk them (150-380 ms stalls before); requests keep no state after responding.
"""

from __future__ import annotations

import gc
import os

os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import bentoml
import orjson
from fastapi import FastAPI
from starlette.responses import JSONResponse, Response

from abscopal.settings import get_settings
from serving.guard import KNOWN_PATHS, ApiGuard
from serving.predictor import Predictor, RequestError, error_document
from serving.schemas import Patient, PredictRequest, PredictResponse, allow_as_given
from training.loading import load_model

card_app = FastAPI(title="abscopal model card", openapi_url=None, docs_url=None, redoc_url=None)


def load_predictor(uri: str | None = None) -> Predictor:
    """Load the model (raising ModelNotFoundError with the training command), then freeze GC."""
    predictor = Predictor(load_model(uri))
    allow_as_given(predictor.bundle.extra_columns)
    gc.collect()
    gc.freeze()  # the model's objects are permanent: keep them out of every future collection
    return predictor


def to_json_response(document: dict, status: int = 200) -> Response:
    """orjson: ~9x faster than json.dumps on a 1,000-patient response (~4 MB)."""
    return Response(orjson.dumps(document), status_code=status, media_type="application/json")


@bentoml.asgi_app(card_app, path="/")
@bentoml.service(
    name="abscopal",
    workers=get_settings().workers,
    traffic={"timeout": 120},
    metrics={"enabled": True},
    endpoints={"livez": "/livez", "readyz": "/readyz"},
)
class BenefitService:
    """Scores NSCLC patients: PFS with and without stereotactic RT added to ICI (research use)."""

    def __init__(self) -> None:
        self.predictor = load_predictor(get_settings().model_uri)

    @bentoml.api(route="/predict", input_spec=PredictRequest, output_spec=PredictResponse)
    async def predict(self, patients: list[Patient]) -> PredictResponse:
        """Survival curves, benefit with intervals, recommendation, drivers and warnings for
        1 to 1,000 patients; every field optional (imputed and flagged)."""
        try:
            return to_json_response(self.predictor.predict(patients))
        except RequestError as exc:
            return to_json_response(error_document(exc.problems), status=400)

    @card_app.get("/model")
    def model_card(self) -> JSONResponse:
        """The model card: training data, metrics, features with units, intended use, limits."""
        return JSONResponse(self.predictor.card)


def label_metrics_by_route() -> None:
    """BentoML's traffic metrics label series by the raw request path (one series per random
    path a client sends: 20,000 of them made /metrics 74.6 MB), and its access log writes that
    path on a line per request. Both middlewares sit in front of ours, so they are told here to
    see only the service's own routes; other paths are answered 404 by ApiGuard without a
    series, and logged by it as ``<unknown>``."""
    from bentoml._internal.server.http.access import AccessLogMiddleware
    from bentoml._internal.server.http.instruments import RunnerTrafficMetricsMiddleware

    for middleware in (RunnerTrafficMetricsMiddleware, AccessLogMiddleware):
        if getattr(middleware.__call__, "_abscopal", False):
            continue
        middleware.__call__ = _known_routes_only(middleware.__call__)


def _known_routes_only(call):
    async def known_only(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"] not in KNOWN_PATHS:
            return await self.app(scope, receive, send)
        return await call(self, scope, receive, send)

    known_only._abscopal = True
    return known_only


label_metrics_by_route()
_settings = get_settings()
BenefitService.add_asgi_middleware(
    ApiGuard, api_token=_settings.api_token, max_request_bytes=_settings.max_request_bytes,
    metrics_require_token=_settings.metrics_require_token,
)
