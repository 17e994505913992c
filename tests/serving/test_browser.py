"""The web page in a real browser: Debian's chromium, driven by Playwright, against a real
``abscopal serve`` on 127.0.0.1 with an API token (one server for the module).

Playwright's own browser download is never used (not reachable offline): the OS's chromium is
launched by path. ``.ci/run`` installs it when missing; without it these tests skip, saying so.
Every test checks that each URL the page requested is on the server (no CDN, font or tracker).
Screenshots of each state are saved in the test's temporary folder.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import httpx
import pandas as pd
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.serving.conftest import records_from_csv, token_server

TOKEN = "page-test-token"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def find_chromium() -> str | None:
    """The OS's chromium (ABSCOPAL_CHROMIUM overrides); Debian's package is /usr/bin/chromium."""
    for candidate in (os.environ.get("ABSCOPAL_CHROMIUM"), shutil.which("chromium"),
                      "/usr/bin/chromium", shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


CHROMIUM = find_chromium()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium not found (apt-get install -y chromium; .ci/run installs it): the "
           "browser tests of the web page cannot run")]


@pytest.fixture(scope="module")
def server(trained_model, tmp_path_factory):
    log = tmp_path_factory.mktemp("page-server") / "server.log"
    with token_server(trained_model.tracking_uri, log, TOKEN) as process:
        yield process


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def open_page(browser, server, *, send_token: bool = False) -> tuple[Page, list[str]]:
    """A fresh tab on the page; the URLs it requests are recorded. ``send_token``: the browser
    adds the token to every request itself, so the page sees a server that needs none."""
    context = browser.new_context(viewport={"width": 1366, "height": 900}, accept_downloads=True)
    if send_token:
        context.set_extra_http_headers({"Authorization": f"Bearer {TOKEN}"})
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{server.url}/")
    return page, requested


def assert_all_local(requested: list[str], server) -> None:
    assert requested
    outside = [u for u in requested
               if not (u.startswith(f"{server.url}/") or u.startswith(f"blob:{server.url}/")
                       or u.startswith("data:"))]
    assert outside == [], f"the page requested URLs outside the server: {outside}"


def fill_patient(page: Page, record: dict) -> None:
    for name, value in record.items():
        field = page.locator(f"#f-{name}")
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(str(int(value)) if isinstance(value, float) else str(value))
        else:
            field.fill(str(value))


def pdf_pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page[^s]", pdf))


def path_points(d: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in re.findall(r"[ML]\s*(-?[\d.]+) (-?[\d.]+)", d)]


def assert_curve_bands_drawn(page: Page, survival: dict) -> None:
    """Each arm's interval is shaded behind its curve: one area per arm, along the API's upper
    bound and back along its lower one at the curve's own months, enclosing the curve exactly
    where the API's interval contains it; the legend and the chart's text name it."""
    n = len(survival["months"])
    for arm in ("ici", "rt_ici"):
        curve = path_points(page.locator(f'#curve-chart path[data-arm="{arm}"]')
                            .get_attribute("d"))
        band = page.locator(f'#curve-chart path.curve-band[data-band-arm="{arm}"]')
        assert band.count() == 1
        points = path_points(band.get_attribute("d"))
        upper, lower = points[:n], points[n:][::-1]
        assert len(points) == 2 * n
        assert [p[0] for p in upper] == [p[0] for p in lower] == [p[0] for p in curve]
        # the chart's y of a probability, from the curve's own points (SVG y grows downwards)
        (v0, y0), (v1, y1) = ((survival[arm][i], curve[i][1]) for i in (0, n - 1))
        per_unit = (y1 - y0) / (v1 - v0)  # pixels per unit of probability (negative)
        for i in range(n):
            lo, hi, v = (survival[f"{arm}_lower"][i], survival[f"{arm}_upper"][i],
                         survival[arm][i])
            # coordinates are drawn to 0.1 pixel
            assert upper[i][1] == pytest.approx(y0 + per_unit * (hi - v0), abs=0.25)
            assert lower[i][1] == pytest.approx(y0 + per_unit * (lo - v0), abs=0.25)
            assert upper[i][1] <= lower[i][1]
            if lo <= v <= hi:  # drawn around the curve where the interval contains it
                assert upper[i][1] - 0.05 <= curve[i][1] <= lower[i][1] + 0.05
        assert max(p[1] for p in lower) - min(p[1] for p in upper) > 0  # not a line
        assert band.locator("title").text_content() == (
            f"{'ICI alone' if arm == 'ici' else 'RT then ICI'}: 90 % interval")
    # behind the curves: drawn before them
    order = page.eval_on_selector_all("#curve-chart path", "ps => ps.map(p => p.getAttribute("
                                      "'data-band-arm') ? 'band' : 'curve')")
    assert order == ["band", "band", "curve", "curve"]
    expect(page.locator("#curve-chart .band-legend")).to_have_text("90 % interval of each curve")
    expect(page.locator("#curve-desc")).to_contain_text("the 90 % interval of each curve")


def test_token_prompt_then_one_patient_matches_the_api(browser, server, champion, tmp_path):
    page, requested = open_page(browser, server)
    expect(page.locator("#auth")).to_be_visible()  # the server has a token: the page asks
    expect(page.locator("#predict-button")).to_be_disabled()
    page.screenshot(path=tmp_path / "1-token-prompt.png")
    page.fill("#token", "wrong")
    page.click("#auth-form button")
    expect(page.locator("#token-error")).to_contain_text("refused")
    page.fill("#token", TOKEN)
    page.press("#token", "Enter")  # the keyboard submits
    expect(page.locator("#auth")).to_be_hidden()
    expect(page.locator("#predict-button")).to_be_enabled()
    expect(page.locator("#synthetic-banner")).to_contain_text("SYNTHETIC")

    record = records_from_csv(champion.cohort, 1)[0]
    record.pop("albumin", None)  # left empty: shown as imputed afterwards
    fill_patient(page, record)
    page.click("#predict-button")
    expect(page.locator("#curve-chart")).to_be_visible()
    page.screenshot(path=tmp_path / "2-result.png", full_page=True)

    answer = httpx.post(f"{server.url}/predict", json={"patients": [record], "curve_bands": True},
                        headers={"authorization": f"Bearer {TOKEN}"}).json()
    expected = answer["predictions"][0]
    assert page.locator("#result-title").inner_text() == f"Result for {record['patient_id']}"
    for key in ("pfs_gain_6mo", "pfs_gain_12mo", "rmst_gain_12mo"):
        row = page.locator(f'tr[data-key="{key}"]')
        shown = {k: float(row.get_attribute(f"data-{k}")) for k in ("estimate", "lower", "upper")}
        assert shown == expected["benefit"][key]
        scale, digits = (1, 2) if key.startswith("rmst") else (100, 1)
        assert row.locator("td.estimate").inner_text().startswith(
            f"{expected['benefit'][key]['estimate'] * scale:+.{digits}f}")
    p_row = page.locator('tr[data-key="probability_of_benefit"]')
    assert float(p_row.get_attribute("data-estimate")) == expected["probability_of_benefit"]
    expect(page.locator(".recommendation")).to_contain_text(expected["recommendation"])
    expect(page.locator(".rule").first).to_contain_text("Rule: add RT when P(12-month RMST gain")
    for arm in ("ici", "rt_ici"):  # both curves drawn, one point per month of the grid
        path = page.locator(f'#curve-chart path[data-arm="{arm}"]').get_attribute("d")
        assert path.count("L") + path.count("M") == len(expected["survival"]["months"]) == 49
    # the gain intervals at 6 and 12 months
    assert page.locator("#curve-chart rect.band[data-month]").count() == 2
    assert_curve_bands_drawn(page, expected["survival"])
    assert page.locator("#drivers-chart rect").count() == len(expected["drivers"]) > 0
    assert page.locator("ul.warnings li").count() == len(expected["warnings"])
    expect(page.locator("#imputed-albumin")).to_contain_text("imputed by the model")
    expect(page.locator(".model-block")).to_contain_text(
        answer["model"]["training_data_fingerprint"])
    expect(page.locator("#result .banner-synthetic")).to_contain_text("Research use only")

    page.emulate_media(media="print")
    page.screenshot(path=tmp_path / "3-print.png", full_page=True)
    assert pdf_pages(page.pdf(format="A4", print_background=True)) == 1  # one patient, one page
    assert_all_local(requested, server)


def test_invalid_values_are_shown_beside_their_fields(browser, server, tmp_path):
    page, requested = open_page(browser, server, send_token=True)
    expect(page.locator("#predict-button")).to_be_enabled()
    expect(page.locator("#auth")).to_be_hidden()  # no token asked for: none needed here
    page.fill("#f-age", "200")
    page.fill("#f-tmb", "high")
    page.click("#predict-button")
    expect(page.locator("#error-age")).to_contain_text("less than or equal to 110")
    expect(page.locator("#error-tmb")).to_contain_text("valid number")
    expect(page.locator("#f-age")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-age")).to_be_focused()
    expect(page.locator("#error-pdl1_tps")).to_be_empty()
    page.screenshot(path=tmp_path / "invalid.png", full_page=True)
    assert_all_local(requested, server)


def test_raw_files_are_sent_as_expression_and_mutations(browser, server, tmp_path):
    (tmp_path / "expression.tsv").write_text("gene\tP9\tOTHER\nCD8A\t35.2\t1\nGZMB\t12\t2\n")
    maf = ("Hugo_Symbol\tVariant_Classification\tTumor_Sample_Barcode\n"
           "STK11\tNonsense_Mutation\tP9\nKRAS\tMissense_Mutation\tOTHER\n")
    (tmp_path / "calls.maf").write_text(maf)
    page, requested = open_page(browser, server, send_token=True)
    expect(page.locator("#predict-button")).to_be_enabled()
    page.fill("#f-patient_id", "P9")
    page.set_input_files("#expression-file", str(tmp_path / "expression.tsv"))
    page.set_input_files("#maf-file", str(tmp_path / "calls.maf"))
    with page.expect_request("**/predict") as sent:
        page.click("#predict-button")
    assert sent.value.post_data_json["curve_bands"] is True  # the page shades the bands
    patient = sent.value.post_data_json["patients"][0]
    assert patient["expression"] == {"CD8A": 35.2, "GZMB": 12}  # the patient's own column
    assert patient["mutations"] == [{"gene": "STK11",
                                     "variant_classification": "Nonsense_Mutation"}]
    expect(page.locator("#curve-chart")).to_be_visible()

    (tmp_path / "bad.maf").write_text(maf.replace("Nonsense_Mutation", "Stop_Gained"))
    page.set_input_files("#maf-file", str(tmp_path / "bad.maf"))
    page.click("#predict-button")
    expect(page.locator("#error-mutations")).to_contain_text("Input should be")
    expect(page.locator("#maf-file")).to_have_attribute("aria-invalid", "true")
    assert_all_local(requested, server)


def test_cohort_csv_gives_a_table_a_histogram_and_the_predict_csv(browser, server, champion,
                                                                   tmp_path):
    from training.scoring import predict_cohort

    cohort = tmp_path / "cohort.csv"
    pd.read_csv(champion.cohort / "clinical.csv").head(25).to_csv(cohort, index=False)
    page, requested = open_page(browser, server, send_token=True)
    expect(page.locator("#cohort-button")).to_be_enabled()
    page.set_input_files("#cohort-file", str(cohort))
    page.click("#cohort-button")
    expect(page.locator("#cohort-result")).to_be_visible()
    assert page.locator("#cohort-table tbody tr").count() == 25
    counts = [int(c) for c in page.locator("#histogram-chart rect.hist-bar").evaluate_all(
        "bars => bars.map(b => b.dataset.count)")]
    assert sum(counts) == 25
    expect(page.locator("#cohort-summary")).to_contain_text("ignored: arm, pfs_months, pfs_event")
    page.screenshot(path=tmp_path / "cohort.png", full_page=True)
    with page.expect_download() as download:
        page.click("#cohort-download")
    downloaded = tmp_path / "from-page.csv"
    download.value.save_as(downloaded)

    expected = predict_cohort(None, cohort, tmp_path / "from-cli.csv")
    cli = pd.read_csv(tmp_path / "from-cli.csv", dtype={"patient_id": str})
    got = pd.read_csv(downloaded, dtype={"patient_id": str})
    assert list(got.columns) == list(cli.columns) == list(expected.columns)
    assert got["patient_id"].tolist() == cli["patient_id"].tolist()
    assert got["recommendation"].tolist() == cli["recommendation"].tolist()
    numeric = [c for c in cli.columns if c not in ("patient_id", "recommendation", "warnings")]
    pd.testing.assert_frame_equal(got[numeric], cli[numeric], atol=2e-6, rtol=1e-5)
    assert_all_local(requested, server)


def test_a_server_that_is_not_ready_says_so(browser, server):
    context = browser.new_context()
    page = context.new_page()
    page.route("**/readyz", lambda route: route.fulfill(status=503, body=""))
    page.goto(f"{server.url}/")
    expect(page.locator("#status")).to_contain_text("not ready (HTTP 503)")
    expect(page.locator("#predict-button")).to_be_disabled()
    context.close()


def test_swagger_ui_at_docs_renders_offline(browser, server, tmp_path):
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{server.url}/docs")
    expect(page.locator(".opblock-summary-path", has_text="/predict")).to_be_visible()
    expect(page.locator(".info .title")).to_contain_text("NSCLC")
    page.wait_for_load_state("networkidle")
    page.screenshot(path=tmp_path / "docs.png")
    assert f"{server.url}/docs.json" in requested
    assert_all_local(requested, server)
    context.close()
