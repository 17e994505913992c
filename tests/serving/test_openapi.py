"""The API describes itself (issue 14, item 4) and the page's files are served, all offline:
OpenAPI info and field documentation, Swagger UI at /docs from local assets, the page at /, the
PD-L1-as-fraction warning. In-process (BentoML's ASGI app); the browser tests use a real server.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pandas as pd
import pytest
from starlette.testclient import TestClient

from cohorts.schema import BASELINE_COLUMNS, CATEGORICAL_BASELINE, NUMERIC_BASELINE
from serving.schemas import FIELD_DOCS

# Namespace names, never fetched by a browser.
XML_NAMESPACES = ("http://www.w3.org/2000/svg",)


def forget_bentoml_metrics() -> None:
    """BentoML's middleware registers its request metrics in prometheus' process-wide registry
    on an app's first request: a second app in this process (test_service.py's, when xdist's
    loadfile puts both modules in one worker) would register them again and fail. The app of a
    finished module does not need them any more."""
    from prometheus_client import REGISTRY

    for collector, names in list(REGISTRY._collector_to_names.items()):
        if any(name.startswith("bentoml_") for name in names):
            REGISTRY.unregister(collector)


@pytest.fixture(scope="module")
def client(trained_model):
    import os
    from unittest import mock

    from common.settings import get_settings
    from serving.service import BenefitService

    # no registry polling: this in-process service outlives the tests that set other stores
    # as MLflow's process-wide URI, and must not touch them (the hot swap has its own tests)
    env = {"MLFLOW_TRACKING_URI": trained_model.tracking_uri,
           "ABSCOPAL_TRACKING_URI": trained_model.tracking_uri,
           "ABSCOPAL_MODEL_POLL_SECONDS": "0"}
    forget_bentoml_metrics()
    try:
        with mock.patch.dict(os.environ, env):
            get_settings.cache_clear()
            with TestClient(BenefitService.to_asgi(), raise_server_exceptions=False) as test_client:
                yield test_client
    finally:
        get_settings.cache_clear()
        forget_bentoml_metrics()


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href") and value is not None:
                self.urls.append(value)


def linked_urls(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.urls


def external(text: str) -> list[str]:
    """Absolute or protocol-relative URLs in a text file (namespace names excepted)."""
    found = re.findall(r"(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}[^\s\"')]*", text)
    return [u for u in found if not u.startswith(XML_NAMESPACES)]


@pytest.mark.parametrize("path", ["/docs", "/"])
def test_pages_and_every_asset_they_load_are_local(client, path):
    page = client.get(path)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "googletagmanager" not in page.text
    urls = [u for u in linked_urls(page.text) if not u.startswith(("#", "data:"))]
    assert urls, "the page links its scripts and styles"
    for url in urls:
        assert not re.match(r"^([a-z]+:)?//", url), f"{path} links {url} outside the server"
        asset = client.get(("/" + url.lstrip("./")) if not url.startswith("/") else url)
        assert asset.status_code == 200, url
        if url.endswith((".js", ".css")) and "static_content" not in url:
            assert external(asset.text) == [], (url, external(asset.text))
    assert external(page.text) == []


def test_swagger_ui_is_configured_offline(client):
    docs = client.get("/docs").text
    assert "./static_content/swagger-ui-bundle.js" in docs
    script = client.get("/static/docs.js").text
    assert "validatorUrl: null" in script  # the default calls validator.swagger.io
    assert 'url: "./docs.json"' in script


def test_openapi_info_versions_and_notice(client, trained_model):
    from importlib.metadata import version

    import abscopal

    spec = client.get("/docs.json").json()
    info = spec["info"]
    assert "NSCLC" in info["title"] and "BentoML" not in info["title"]
    assert abscopal.__version__ == version("abscopal")
    assert info["version"] == (f"{abscopal.__version__} (model rt-benefit version "
                               f"{trained_model.result.version})")
    assert "Research use only; not a medical device." in info["description"]
    assert "SYNTHETIC" in info["description"]
    assert "contact" not in info
    assert external(info["description"]) == []  # BentoML's badges came from the internet
    assert info["x-model"]["synthetic"] is True
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert spec["paths"]["/predict"]["post"]["security"] == [{"bearer": []}, {}]
    # the page's own routes are not API operations
    assert not {"/", "/docs", "/docs.json"} & set(spec["paths"])


def test_every_patient_field_has_unit_range_and_example(client):
    props = client.get("/docs.json").json()["components"]["schemas"]["Patient"]["properties"]
    for name in ["patient_id", *BASELINE_COLUMNS]:
        prop = props[name]
        assert prop["description"] and prop["title"] == FIELD_DOCS[name][0], name
        assert prop["x-group"] in {"clinical", "biomarkers", "mutations", "blood markers"}
        assert "x-unit" in prop and "example" in prop, name
        (typed,) = [v for v in prop["anyOf"] if v["type"] != "null"]
        if name in NUMERIC_BASELINE:
            lo, hi = NUMERIC_BASELINE[name]
            assert (typed["minimum"], typed["maximum"]) == (lo, hi), name
            assert f"Range {lo:g}-{hi:g}" in prop["description"], name
            assert lo <= prop["example"] <= hi
        elif name in CATEGORICAL_BASELINE:
            assert prop["example"] in typed["enum"]
    assert props["pdl1_tps"]["x-unit"] == "%" and "PERCENT" in props["pdl1_tps"]["description"]
    for raw in ("expression", "mutations"):
        assert props[raw]["description"] and props[raw]["example"]


def test_response_fields_are_described(client):
    schemas = client.get("/docs.json").json()["components"]["schemas"]
    for model in ("Prediction", "Benefit", "Interval", "Survival", "Driver", "ModelInfo"):
        for name, prop in schemas[model]["properties"].items():
            if "$ref" in prop or "allOf" in prop:
                continue  # a nested model: described by its own schema
            assert prop.get("description"), f"{model}.{name}"
    assert schemas["Benefit"]["properties"]["rmst_gain_12mo"]["description"].endswith("months")


def test_pdl1_sent_as_fractions_is_flagged(client, champion):
    from serving.service import PDL1_FRACTION_NOTE

    def notes(patients):
        response = client.post("/predict", json={"patients": patients})
        assert response.status_code == 200, response.text
        return [PDL1_FRACTION_NOTE in p["warnings"] for p in response.json()["predictions"]]

    assert notes([{"pdl1_tps": 0.5}, {"pdl1_tps": 0}, {"tmb": 3}]) == [True, True, False]
    assert notes([{"pdl1_tps": 0}, {"pdl1_tps": 1}]) == [False, False]  # 0 % and 1 % are usual
    assert notes([{"pdl1_tps": 50}, {"pdl1_tps": 0.5}]) == [False, False]  # percent scale seen


def test_card_lists_the_columns_of_abscopal_predict(client, champion, tmp_path):
    from training.scoring import predict_cohort

    card = client.get("/model").json()
    table = predict_cohort(None, champion.cohort, tmp_path / "p.csv")
    written = list(pd.read_csv(tmp_path / "p.csv", nrows=0).columns)
    assert card["api"]["prediction_csv_columns"] == written == list(table.columns)
    assert card["api"]["max_patients_per_request"] >= 1


def test_page_paths_need_no_token_but_the_api_does():
    """The guard lets the page, the docs and their assets through without the token."""
    from serving.guard import ApiGuard

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    guarded = TestClient(ApiGuard(app, api_token="secret"))
    for path in ("/", "/docs", "/docs.json", "/static/page.js", "/static_content/swagger-ui.css"):
        assert guarded.get(path).status_code == 200, path
    assert guarded.get("/model").status_code == 401
    assert guarded.post("/predict", json={"patients": [{}]}).status_code == 401
    assert guarded.get("/static-not-a-page").status_code == 404


def test_openapi_document_has_no_duplicated_key(client):
    """Swagger UI parses the document as YAML and refuses a key written twice (the framework's
    integer status codes next to the guard's text ones once gave two "400")."""
    import json

    def unique(pairs):
        keys = [k for k, _ in pairs]
        assert len(keys) == len(set(keys)), f"duplicated keys in {keys}"
        return dict(pairs)

    spec = json.loads(client.get("/docs.json").text, object_pairs_hook=unique)
    assert "400" in spec["paths"]["/predict"]["post"]["responses"]
