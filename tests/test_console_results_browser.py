"""The results pages in headless chromium on a simulated chain (members responded to their
offers): the console's lift charts and the portal's lift, analytics and statements render
without a CSP violation. ``LOYALTY_SAVE_SCREENSHOTS=1`` writes ``docs/console-results.png``,
``docs/portal-lift.png`` and ``docs/portal-analytics.png``."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from console_support import add_user
from browser_support import CHROMIUM, Shots, served_page
from test_console_browser import _sign_in, _sign_out
from test_console_results_pages import ISSUE_ON, PERIOD, _chain, _funders, _staff


def test_results_and_portal_pages_in_chromium(app, cli, engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    if not Path(CHROMIUM).exists():
        pytest.skip("SKIPPED: headless chromium is not installed (apt-get install -y chromium)")
    pytest.importorskip("playwright.sync_api", reason="SKIPPED: the playwright package is not installed")
    from loyalty_engine.results.store import compute_period

    _chain(cli, engine, tmp_path)
    compute_period(engine, date.fromisoformat(PERIOD))
    cli("statements", "issue", "--period", PERIOD, "--as-of", ISSUE_ON, "--out", str(tmp_path / "st"))
    _staff(engine)
    funder = _funders(engine)[0]
    add_user(engine, "maker", "manufacturer", manufacturer_id=funder)
    shots = Shots(tmp_path)
    with served_page(app, 1280, 900) as run:
        page, base, violations = run.page, run.base, run.violations
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
