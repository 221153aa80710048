"""The results pages in headless chromium on a simulated chain (members responded to their
offers): the console's lift charts and the portal's lift, analytics and statements render
without a CSP violation. ``LOYALTY_SAVE_SCREENSHOTS=1`` writes ``docs/console-results.png``,
``docs/portal-lift.png`` and ``docs/portal-analytics.png``."""
from __future__ import annotations

import threading
from datetime import date
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from console_support import add_user
from test_console_browser import CHROMIUM, Shots, _free_port, _sign_in, _sign_out
from test_console_results_pages import ISSUE_ON, PERIOD, _chain, _funders, _staff


def test_results_and_portal_pages_in_chromium(app, cli, engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    if not Path(CHROMIUM).exists():
        pytest.skip("SKIPPED: headless chromium is not installed (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="SKIPPED: the playwright package is not installed")
    from loyalty_engine.results.store import compute_period

    _chain(cli, engine, tmp_path)
    compute_period(engine, date.fromisoformat(PERIOD))
    cli("statements", "issue", "--period", PERIOD, "--as-of", ISSUE_ON, "--out", str(tmp_path / "st"))
    _staff(engine)
    funder = _funders(engine)[0]
    add_user(engine, "maker", "manufacturer", manufacturer_id=funder)
    shots = Shots(tmp_path)
    port = _free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                violations: list[str] = []
                page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
                _sign_in(page, base, "analyst")
                page.goto(f"{base}/console/results?period={PERIOD}")
                assert page.locator("svg.chart circle").count() > 0  # estimates with their intervals
                shots.take(page, "results", full_page=False)  # the first screen: figures and the lift chart
                page.goto(f"{base}/console/dashboard")
                assert "units" in page.inner_text(".tiles")
                _sign_out(page)

                _sign_in(page, base, "maker")
                page.goto(f"{base}/portal/lift")
                assert page.locator("svg.chart circle").count() > 0
                shots.take(page, "lift", prefix="portal", full_page=False)
                page.goto(f"{base}/portal/analytics")
                assert "suppressed" in page.inner_text("main")
                shots.take(page, "analytics", prefix="portal", full_page=False)
                page.goto(f"{base}/portal/statements")
                assert page.locator("table.grid tbody tr").count() == 1
                assert violations == []
            finally:
                browser.close()
    finally:
        server.shutdown()
        thread.join(timeout=5)
