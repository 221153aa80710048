"""The console in headless chromium: a category manager creates an offer in the wizard, sees its
forecast and submits it; an approver approves it; the lists are built; the offer is on a member's
list; a lane redeems it; the console shows the redemption. Screenshots of the main pages are
written to the test's tmp dir, and to ``docs/`` when ``LOYALTY_SAVE_SCREENSHOTS=1``."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from browser_support import CHROMIUM, Shots, served_page
from console_chain import AS_OF, chain, chain_dir, national_brand  # noqa: F401  (fixtures)
from console_support import PASSWORD, add_user
from loyalty_engine.checkout.lanes import issue_key
from loyalty_engine.clock import FixedClock
from loyalty_engine.db import session_scope
from loyalty_engine.models.catalog import Product
from loyalty_engine.models.lists import ShoppingList, ShoppingListLine
from loyalty_engine.models.offers import Offer, OfferProduct
from loyalty_engine.render.links import token_for_list

BEFORE = datetime.combine(AS_OF - timedelta(days=3), time(15), tzinfo=timezone.utc)  # the Friday before
DURING = datetime.combine(AS_OF + timedelta(days=1), time(17), tzinfo=timezone.utc)  # in the list period


def _sign_in(page, base: str, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/console/sign-in")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_load_state()


def _sign_out(page) -> None:  # type: ignore[no-untyped-def]
    page.click("button:has-text('Sign out')")
    page.wait_for_load_state()


def _results_and_statement(page, base: str, chain, engine, maker: str, shots: Shots) -> None:  # type: ignore[no-untyped-def]
    """The lane's redemption in the period's results (computed from the console), then on the
    manufacturer's statement in the portal."""
    page.goto(f"{base}/console/results")
    page.click(f"button:has-text('Compute the results of {AS_OF.isoformat()}')")
    row = page.locator("table.grid tr", has_text="coffee-console")
    assert row.locator("td.num").nth(1).inner_text() == "1"  # its one redemption, net
    assert page.locator("svg.chart").count() == 3  # lift with intervals: per offer, pooled per funder and per category
    shots.take(page, "results-redemption")
    _sign_out(page)

    chain("statements", "issue", "--period", AS_OF.isoformat(), "--funder", maker,
          "--as-of", (AS_OF + timedelta(days=60)).isoformat())
    add_user(engine, "mona", "manufacturer", manufacturer_id=maker)
    _sign_in(page, base, "mona")
    page.goto(f"{base}/portal/statements")
    page.click(f"a:has-text('ST-{AS_OF:%Y%m%d}-{maker}')")
    line = page.locator("table.grid tbody tr", has_text="Coffee trial from the console")
    assert line.locator("td.num").nth(1).inner_text() == "1"
    shots.take(page, "statements", prefix="portal")
    page.goto(f"{base}/portal/lift")
    assert "coffee-console" in page.inner_text("main")


def test_offer_from_wizard_to_redemption_in_chromium(app, engine, chain, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    if not Path(CHROMIUM).exists():
        pytest.skip("SKIPPED: headless chromium is not installed (apt-get install -y chromium)")
    pytest.importorskip("playwright.sync_api", reason="SKIPPED: the playwright package is not installed")
    brand, maker, _ = national_brand(engine)
    add_user(engine, "carla", "category_manager", categories=["Coffee"], display_name="Carla Manager")
    add_user(engine, "aaron", "approver", display_name="Aaron Approver")
    clock = FixedClock(BEFORE)
    app.extensions["loyalty_engine"]["clock"] = clock
    shots = Shots(tmp_path)
    with served_page(app, 1280, 900) as run:
        page, base, violations = run.page, run.base, run.violations
        _sign_in(page, base, "carla")
        page.goto(f"{base}/console/offers/new")
        # the scope: search brands, take this one
        page.select_option("#f-search_kind", "brand")
        page.fill("#f-search", brand[:5])
        page.click("button:has-text('Search')")
        page.click(f"button[name=pick][value^='brand|{brand}|']")
        page.fill("#f-name", "Coffee trial from the console")
        page.fill("#f-slug", "coffee-console")
        page.fill("#f-description", f"Any {brand} coffee")
        page.select_option("#f-manufacturer", maker)
        page.fill("#f-benefit_low", "0.50")
        page.fill("#f-benefit_medium", "0.75")
        page.fill("#f-benefit_high", "1.00")
        page.fill("#f-handling_fee", "0.08")
        page.fill("#f-budget", "300")
        page.fill("#f-valid_from", AS_OF.isoformat())
        page.fill("#f-valid_to", (AS_OF + timedelta(weeks=6)).isoformat())
        page.fill("#f-holdout_share", "150")  # a mistake: the message shows beside the field
        page.click("button:has-text('Show members per cell')")
        assert "members" in page.inner_text("table.grid-pick")
        page.click("button:has-text('Save draft')")
        assert "less than 1" in page.inner_text("#holdout_share-error")
        shots.take(page, "wizard")
        page.fill("#f-holdout_share", "5")
        page.click("button:has-text('Save draft')")
        page.click("button:has-text('Run forecast')")
        assert page.locator("#forecast svg").count() == 1
        assert "total" in page.inner_text("table.forecast")
        shots.take(page, "forecast")
        page.click("button:has-text('Submit for approval')")
        assert "waiting for an approver" in page.inner_text("main")
        _sign_out(page)

        _sign_in(page, base, "aaron")
        page.goto(f"{base}/console/approvals")
        assert "Coffee trial from the console" in page.inner_text("main")
        shots.take(page, "approvals")
        page.click("button:has-text('Approve')")
        assert "Approved by aaron" in page.inner_text("main")

        chain("lists", "build", "--period-start", AS_OF.isoformat(), "--as-of", AS_OF.isoformat())
        app.extensions["loyalty_engine"]["clock"] = FixedClock(DURING)
        with session_scope(engine) as s:
            offer = s.execute(select(Offer).where(Offer.slug == "coffee-console")).scalar_one()
            assert (offer.status, offer.approved_by) == ("active", "aaron")
            line = s.execute(select(ShoppingListLine).where(ShoppingListLine.offer_id == offer.id)
                             .order_by(ShoppingListLine.id)).scalars().first()
            assert line is not None, "no list carries the new offer"
            lst = s.get(ShoppingList, line.list_id)
            token = token_for_list(app.config["SECRET_KEY"], lst)
            sku, price = s.execute(select(Product.sku, Product.regular_price_cents)
                                   .join(OfferProduct, OfferProduct.product_key == Product.id)
                                   .where(OfferProduct.offer_id == offer.id).order_by(Product.sku)).first()
            list_number, store = lst.list_number, lst.store_id
            line_text = line.description
        member = run.browser.new_page(viewport={"width": 390, "height": 844})
        member.goto(f"{base}/m/{token}")
        assert line_text in member.inner_text("body")
        member.close()

        with engine.begin() as conn:
            key = issue_key(conn, store, "7", DURING).api_key
        body = {"store": store, "lane": "7", "pos_transaction_id": "CONSOLE-1",
                "scanned_at": DURING.isoformat(), "identifier": list_number,
                "tender": {"method": "card", "amount_cents": price},
                "lines": [{"sku": sku, "quantity": 1, "unit_price_cents": price, "amount_cents": price}]}
        answer = app.test_client().post("/api/v1/checkout/complete", json=body,
                                        headers={"Authorization": f"Bearer {key}"})
        assert answer.status_code == 200, answer.json
        assert [r["offer_id"] for r in answer.json["redemptions"]] == [offer.id], answer.json
        _sign_out(page)

        if shots.keep:  # the demo offer set beside it, for screenshots that look like a working chain
            chain("offers", "seed-demo", "--start", AS_OF.isoformat(), "--weeks", "8")
        _sign_in(page, base, "carla")
        page.goto(f"{base}/console/offers")
        row = page.locator("table.offers tr", has_text="Coffee trial from the console")
        assert row.locator("td.num").inner_text().startswith("1")
        shots.take(page, "offers")
        row.locator("a").click()
        # the offer's redemptions per day: today's bar, live from the ledger
        assert page.locator("#redemptions svg rect").count() == 56
        assert page.locator("#redemptions svg title", has_text=f"{DURING.date().isoformat()}: 1").count() == 1
        page.goto(f"{base}/console/dashboard")
        assert page.locator("svg.chart").count() == 2
        shots.take(page, "dashboard")
        page.goto(f"{base}/console/segments?category=Coffee")
        assert page.locator("svg.chart").count() == 1
        shots.take(page, "segments")
        page.goto(f"{base}/console/members-at-risk")
        shots.take(page, "members-at-risk")
        _results_and_statement(page, base, chain, engine, maker, shots)
        assert violations == []
