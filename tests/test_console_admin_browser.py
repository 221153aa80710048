"""The admin pages and the portal in headless chromium: sign in as admin, create a user, issue a
lane key (shown once), read the audit log; a manufacturer signs in and sees its own offers only.
No page breaks the CSP (the browser reports any blocked inline script or style). Screenshots
go to the test's tmp dir, and to ``docs/`` when ``LOYALTY_SAVE_SCREENSHOTS=1``."""
from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from browser_support import CHROMIUM, Shots, served_page
from console_support import PASSWORD, add_user, seed_catalog
from loyalty_engine.checkout.lanes import authenticate
from loyalty_engine.offers.definition import OfferDefinition
from loyalty_engine.offers.service import save_offer

def _offers(engine) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        for n, (maker, name) in enumerate((("MFR1", "Crunchy snacks, 50c off"), ("MFR2", "Other maker's dairy deal"))):
            definition = OfferDefinition.model_validate({
                "slug": f"browser-{n}", "name": name, "funder": "manufacturer", "manufacturer": maker,
                "scope": {"category": ["Snacks" if n == 0 else "Dairy"]},
                "benefit": {"kind": "amount_off", "low": "0.50", "medium": "0.50", "high": "0.50"},
                "validity": {"from": "2027-03-01", "to": "2027-03-28"},
            })
            save_offer(session, definition, date(2027, 2, 1))
        session.commit()


def test_admin_creates_a_user_and_issues_a_lane_key_in_chromium(app, engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    if not Path(CHROMIUM).exists():
        pytest.skip("SKIPPED: headless chromium is not installed (apt-get install -y chromium)")
    pytest.importorskip("playwright.sync_api", reason="SKIPPED: the playwright package is not installed")
    shots = Shots(tmp_path)
    seed_catalog(engine)
    _offers(engine)
    add_user(engine, "alice", "admin", display_name="Alice Admin")
    with served_page(app, 1366, 800) as run:
        page, base, browser, blocked = run.page, run.base, run.browser, run.violations
        page.goto(f"{base}/")  # the root sends a signed-out visitor to the sign-in page
        assert page.url.startswith(f"{base}/console/sign-in")
        shots.take(page, "sign-in", prefix="console")
        page.fill("#username", "alice")
        page.fill("#password", PASSWORD)
        page.click("button:has-text('Sign in')")
        page.wait_for_load_state()

        # a user: the form shows the server's message beside the field, then creates it
        page.goto(f"{base}/console/admin/users/new")
        page.fill("#username", "mo")
        page.select_option("#role", "manufacturer")
        page.fill("#password", "a long passphrase here")
        page.click("button:has-text('Create user')")
        assert "must be bound to a manufacturer" in page.inner_text(".field.has-error")
        page.fill("#password", "a long passphrase here")
        page.select_option("#manufacturer_id", "MFR1")
        page.click("button:has-text('Create user')")
        page.wait_for_load_state()
        assert page.url.endswith("/console/admin/users")
        assert "User mo created." in page.inner_text(".flash")
        assert page.locator("table.grid td a", has_text="mo").count() == 1
        shots.take(page, "users", prefix="console")

        # a lane key, shown once
        page.goto(f"{base}/console/admin/lanes")
        page.select_option("#store_id", "S1")
        page.fill("#lane_code", "03")
        page.click("button:has-text('Issue key')")
        key = page.inner_text("#issued-key").strip()
        assert re.fullmatch(r"lk_[0-9a-f]{12}\.[A-Za-z0-9_-]{43}", key)
        with engine.connect() as conn:
            assert authenticate(conn, key).lane_code == "03"
        shots.take(page, "lanes", prefix="console")
        page.goto(f"{base}/console/admin/lanes")
        assert key not in page.content()

        page.goto(f"{base}/console/admin/audit")
        text = page.inner_text("table.audit")
        assert "user.create" in text and "lane_key.issue" in text
        shots.take(page, "audit-log", prefix="console")
        page.click("button:has-text('Sign out')")
        page.wait_for_load_state()
        assert page.url.startswith(f"{base}/console/sign-in")

        # the manufacturer: its own offer, not the other funder's
        page.fill("#username", "mo")
        page.fill("#password", "a long passphrase here")
        page.click("button:has-text('Sign in')")
        page.wait_for_load_state()
        assert page.url == f"{base}/portal/offers"
        body = page.inner_text("main")
        assert "Crunchy snacks" in body and "Other maker" not in body
        shots.take(page, "offers", prefix="portal")
        assert page.goto(f"{base}/console/admin/users").status == 403
        page.close()

        # the API's Swagger UI renders with every request to another host refused (offline)
        docs = browser.new_page(viewport={"width": 1366, "height": 800})
        elsewhere: list[str] = []

        def only_here(route) -> None:  # type: ignore[no-untyped-def]
            if route.request.url.startswith(base):
                route.continue_()
            else:
                elsewhere.append(route.request.url)
                route.abort()

        docs.route("**/*", only_here)
        docs.goto(f"{base}/api/v1/docs/swagger/")
        docs.wait_for_selector(".swagger-ui .info .title", timeout=20_000)
        assert "lane API" in docs.inner_text(".swagger-ui .info .title")
        assert docs.locator(".opblock").count() >= 3  # the operations are listed
        assert not [u for u in elsewhere if not u.startswith("data:")], elsewhere
        docs.close()
    assert not blocked, blocked
