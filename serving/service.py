"""The BentoML 1.4 service: ``POST /predict``, ``GET /model`` (model card), ``/livez``, ``/readyz``
and Prometheus ``/metrics``; the web page at ``/`` and the API docs at ``/docs`` (Swagger UI from
BentoML's own local assets) and ``/docs.json``, all offline (serving/static/).

Start it with ``abscopal serve`` or ``bentoml serve serving.service:BenefitService``. The model
(``ABSCOPAL_MODEL_URI``, default the ``champion`` of ``rt-benefit``) is loaded once per worker at
start-up; without a registered model the worker refuses to start and says how to train one. When
the alias moves, each worker loads, warms and swaps in the new version (serving/hot_swap.py).

Latency under load: after loading, ``gc.freeze()`` moves the model's millions of objects (trees,
arrays, pandas indexes) out of the collector's reach, so full collections triggered by request
garbage no longer walk them (150-380 ms stalls before); requests keep no state after responding.
"""

from __future__ import annotations

import gc
from pathlib import Path

# common first: it sets the offline defaults (common.OFFLINE_ENV) before bentoml is imported
import common

# isort: split
import bentoml
import orjson
from fastapi import FastAPI
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.staticfiles import StaticFiles

from common.settings import get_settings
from serving.guard import KNOWN_PATHS, ApiGuard, document_guard
from serving.hot_swap import HotSwap
from serving.predictor import Predictor, RequestError, dumps, error_document
from serving.schemas import Patient, PredictRequest, PredictResponse, allow_as_given
from training.loading import load_model

card_app = FastAPI(title="abscopal model card", openapi_url=None, docs_url=None, redoc_url=None)
# The page and the docs page: plain files, no build step, nothing fetched from elsewhere. Mounted
# apps are matched before BentoML's own "/" (its Swagger page loads a tag manager from the
# internet) and "/docs.json", so these replace them.
STATIC = Path(__file__).parent / "static"
card_app.mount("/static", StaticFiles(directory=STATIC), name="page-static")

TITLE = "abscopal: benefit of adding stereotactic RT to immunotherapy in metastatic NSCLC"
PDL1_FRACTION_NOTE = (
    "pdl1_tps is a percentage (0-100), but every pdl1_tps in this request is <= 1 and some are "
    "fractional: were fractions sent? 0.5 means 0.5 %, not 50 %; send 50 for 50 %")


def pdl1_looks_like_fractions(patients: list[Patient]) -> bool:
    """Every PD-L1 TPS sent is <= 1 and one is fractional: 0.5 was probably meant as 50 %.
    A request of 0s and 1s alone is not flagged: 0 % and 1 % are everyday percentages."""
    fractional = False
    for patient in patients:  # stops at the first value above 1 (~1 us in a usual batch)
        value = patient.pdl1_tps
        if value is not None:
            if value > 1:
                return False
            fractional = fractional or not value.is_integer()
    return fractional


def with_pdl1_note(document: dict, patients: list[Patient]) -> dict:
    if pdl1_looks_like_fractions(patients):
        for prediction, patient in zip(document["predictions"], patients, strict=True):
            if patient.pdl1_tps is not None:
                prediction["warnings"] = [*prediction["warnings"], PDL1_FRACTION_NOTE]
    return document


def openapi_document(spec: dict, model: dict) -> dict:
    """BentoML's generated OpenAPI document with the science filled in: a title, the package and
    model versions, the research-use notice, and bearer auth; BentoML's boilerplate description
    (badges and links loaded from the internet) and contact are dropped."""
    trained_on = ("SYNTHETIC training data: the model was trained on simulated patients; its "
                  "predictions demonstrate the software only and carry no clinical meaning."
                  if model.get("synthetic") else "Trained on real patient data.")
    # the package's own constant: a Bento carries the code, not the installed distribution
    version = f"{common.__version__} (model {model.get('name')} version {model.get('version')})"
    description = "\n".join([
        f"**Research use only; not a medical device.** {trained_on}",
        "",
        "For one patient with metastatic non-small cell lung cancer: progression-free survival "
        "(PFS) curves under immune checkpoint inhibitors (ICI) alone and under stereotactic "
        "radiotherapy (RT) then ICI, the absolute benefit of adding RT (6- and 12-month PFS "
        "gain, 12-month restricted mean PFS gain) with bootstrap intervals, P(gain >= MCID), a "
        "recommendation, the inputs that drive it, and warnings.",
        "",
        f"- Model: `{model.get('name')}` version {model.get('version')}.",
        "- Every patient field is optional: missing ones are imputed and listed in `warnings`. "
        "Units, ranges and examples are in the `Patient` schema; PD-L1 TPS is in percent.",
        "- `GET /model`: the model card (training data and its fingerprint, metrics, features, "
        "intended use, limits). With `ABSCOPAL_API_TOKEN` set, `/predict`, `/model` and "
        "`/metrics` need `Authorization: Bearer <token>` (button Authorize).",
        "- The web page for people: [/](./).",
    ])
    spec = {**spec, "info": {"title": TITLE, "version": version, "description": description,
                             # readable without the token (like the page): no more than
                             # which model answers; the rest is in GET /model
                             "x-model": {k: model.get(k) for k in (
                                 "name", "version", "synthetic")}}}
    components = {**spec.get("components", {})}
    components["securitySchemes"] = {"bearer": {
        "type": "http", "scheme": "bearer",
        "description": "the server's ABSCOPAL_API_TOKEN (only when one is set)"}}
    spec["components"] = components
    paths = {}
    for path, item in spec.get("paths", {}).items():
        if path in ("/predict", "/model", "/metrics"):
            item = {method: {**op, "security": [{"bearer": []}, {}]} if isinstance(op, dict)
                    else op for method, op in item.items()}
        paths[path] = item
    spec["paths"] = paths
    return document_guard(spec)  # 400/401/408/413/415/503/504 as ApiGuard answers them


def load_predictor(uri: str | None = None) -> Predictor:
    """Load the model (raising ModelNotFoundError with the training command), then freeze GC."""
    predictor = Predictor(load_model(uri))
    allow_as_given(predictor.bundle.extra_columns)
    gc.collect()
    gc.freeze()  # the model's objects are permanent: keep them out of every future collection
    return predictor


def to_json_response(document: dict, status: int = 200) -> Response:
    return Response(dumps(document), status_code=status, media_type="application/json")


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
        settings = get_settings()
        # this worker's model, and the thread that swaps in a new champion (serving/hot_swap.py)
        self.models = HotSwap(load_predictor(settings.model_uri),
                              settings.model_poll_seconds).start()
        self._openapi: tuple[dict, bytes] | None = None

    @bentoml.on_shutdown
    def stop_following(self) -> None:
        """A worker that shuts down stops polling the registry."""
        self.models.stop()

    @property
    def predictor(self) -> Predictor:
        """The model now served; a request reads it once and keeps it to the end."""
        return self.models.current

    @bentoml.api(route="/predict", input_spec=PredictRequest, output_spec=PredictResponse)
    async def predict(self, patients: list[Patient], curve_bands: bool = False
                      ) -> PredictResponse:
        """Survival curves, benefit with intervals, recommendation, drivers and warnings for
        1 to 1,000 patients; every field optional (imputed and flagged). ``curve_bands``: the
        curves' pointwise intervals too."""
        predictor = self.predictor  # this request's model, even if a new one swaps in now
        try:
            return to_json_response(with_pdl1_note(predictor.predict(patients, curve_bands),
                                                   patients))
        except RequestError as exc:
            return to_json_response(error_document(exc.problems), status=400)

    @card_app.get("/model")
    def model_card(self) -> JSONResponse:
        """The model card: training data, metrics, features with units, intended use, limits."""
        return JSONResponse({**self.predictor.card, "serving": self.models.status})

    @card_app.get("/docs.json", include_in_schema=False)
    def openapi(self) -> Response:
        """The OpenAPI document (built once per worker and model: it changes only with it)."""
        model = self.predictor.model_info
        if self._openapi is None or self._openapi[0] is not model:
            spec = BenefitService.openapi_spec.asdict()
            self._openapi = (model, orjson.dumps(openapi_document(spec, model),
                                                 option=orjson.OPT_NON_STR_KEYS))
        return Response(self._openapi[1], media_type="application/json")


@card_app.get("/", include_in_schema=False)
def page() -> FileResponse:
    """The web page: one patient or a cohort CSV, scored through POST /predict."""
    return FileResponse(STATIC / "index.html")


@card_app.get("/docs", include_in_schema=False)
def docs() -> FileResponse:
    """Swagger UI on /docs.json, from BentoML's local copy of its assets (no internet)."""
    return FileResponse(STATIC / "docs.html")


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
    max_request_values=_settings.max_request_values,
    metrics_require_token=_settings.metrics_require_token,
)
