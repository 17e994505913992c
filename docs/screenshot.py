"""The README's picture of the web page: docs/img/page.png, taken in Debian's chromium.

    .venv/bin/python docs/screenshot.py                                 # serves the champion
    .venv/bin/python docs/screenshot.py --url http://127.0.0.1:3000     # e.g. after `make run`

Without ``--url`` it starts ``abscopal serve`` on a free loopback port with the model of
``--model`` (default: the champion of the MLflow store in ``MLFLOW_TRACKING_URI``), scores the
README's example patient through the page's form and saves the window. Needs ``chromium``
(``apt-get install chromium``) and the dev extra (Playwright, which drives that executable;
never ``playwright install``).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
# The README's curl example, typed into the form.
EXAMPLE = {"patient_id": "P1", "age": "64", "sex": "F", "ecog": "1", "smoking_status": "former",
           "pdl1_tps": "0", "tmb": "4.2", "stk11_mut": "1"}


def capture(url: str, out: Path, token: str | None, chromium: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 1180})
        page.goto(url.rstrip("/") + "/")
        if token:
            expect(page.locator("#auth")).to_be_visible()
            page.fill("#token", token)
            page.press("#token", "Enter")
        expect(page.locator("#predict-button")).to_be_enabled(timeout=60_000)
        for name, value in EXAMPLE.items():
            field = page.locator(f"#f-{name}")
            if field.evaluate("e => e.tagName") == "SELECT":
                field.select_option(value)
            else:
                field.fill(value)
        page.click("#predict-button")
        expect(page.locator("#curve-chart")).to_be_visible()
        page.evaluate("window.scrollTo(0, 0)")
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out))
        browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running server (default: start one)")
    parser.add_argument("--model", help="model URI for the server started here")
    parser.add_argument("--token", help="the server's ABSCOPAL_API_TOKEN, if it has one")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "page.png")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    if not Path(args.chromium).is_file():
        print(f"no chromium at {args.chromium}: apt-get install -y chromium", file=sys.stderr)
        return 1
    if args.url:
        capture(args.url, args.out, args.token, args.chromium)
    else:
        sys.path.insert(0, str(ROOT))
        from serving.process import ServerProcess

        with tempfile.TemporaryDirectory() as tmp:
            server = ServerProcess.abscopal(Path(tmp) / "server.log", model_uri=args.model,
                                            env={"ABSCOPAL_WORKERS": "1",
                                                 "ABSCOPAL_API_TOKEN": None})
            try:
                server.wait_ready()
                capture(server.url, args.out, None, args.chromium)
            finally:
                server.stop()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
