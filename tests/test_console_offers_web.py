"""The console's offer pages through the Flask client: the wizard (scope search, messages beside
their fields), draft, forecast, submission, approval by another user, pause, the audit trail;
category managers limited to their categories; segments, members at risk, content, dashboard."""
from __future__ import annotations

import re
from datetime import datetime, time, timedelta, timezone

import pytest
from sqlalchemy import select

from console_chain import AS_OF, chain, chain_dir, national_brand  # noqa: F401  (fixtures)
from console_support import add_user, post_form, sign_in
from loyalty_engine.clock import FixedClock
from loyalty_engine.console.settings import set_maker_checker
from loyalty_engine.db import session_scope
from loyalty_engine.models.offers import ContentItem, Offer

TODAY = datetime.combine(AS_OF - timedelta(days=3), time(10), tzinfo=timezone.utc)


def wizard_data(brand: str, maker: str, **changes: str) -> dict[str, str]:
    data = {
        "action": "save", "slug": "coffee-web", "name": "Coffee from the console", "description": "Any of the coffee",
        "funder": "manufacturer", "manufacturer": maker, "scope_kind": "brand", "scope_values": brand,
        "within_category": "Coffee", "benefit_kind": "amount_off", "benefit_low": "0.50", "benefit_medium": "0.75",
        "benefit_high": "1.00", "min_quantity": "1", "limit": "1", "share": "100", "handling_fee": "0.08",
        "budget": "400", "max_redemptions": "", "valid_from": AS_OF.isoformat(),
        "valid_to": (AS_OF + timedelta(weeks=6)).isoformat(), "holdout_share": "10", "match_on": "scope",
        "segment_category": "Coffee", "min_probability": "",
    }
    data.update(changes)
    return data


@pytest.fixture
def staff(app, engine, chain):  # type: ignore[no-untyped-def]
    """The chain, the app's clock a few days before the period, and one user per staff part."""
    app.extensions["loyalty_engine"]["clock"] = FixedClock(TODAY)
    add_user(engine, "carla", "category_manager", categories=["Coffee", "Cereal"])
    add_user(engine, "dave", "category_manager", categories=["Milk"])
    add_user(engine, "aaron", "approver")
    add_user(engine, "anna", "analyst")
    add_user(engine, "mo", "manufacturer", manufacturer_id=national_brand(engine)[1])
    return app


def _as(app, username: str):  # type: ignore[no-untyped-def]
    client = app.test_client()
    assert sign_in(client, username).status_code == 302
    return client


def _errors(html: str) -> dict[str, str]:
    return dict(re.findall(r'id="([a-z_]+)-error">([^<]+)<', html))


def test_offer_wizard_to_approval(staff, engine) -> None:  # type: ignore[no-untyped-def]
    brand, maker, _ = national_brand(engine)
    carla = _as(staff, "carla")
    new = carla.get("/console/offers/new")
    assert new.status_code == 200 and 'name="csrf_token"' in new.get_data(as_text=True)
    # scope search with product counts, and "Use" puts the brand into the scope
    found = post_form(carla, "/console/offers/new", {"action": "search", "search_kind": "brand", "search": brand[:5]})
    html = found.get_data(as_text=True)
    assert found.status_code == 200 and f'value="brand|{brand}|' in html
    picked = post_form(carla, "/console/offers/new", {"pick": f"brand|{brand}|Coffee", "scope_kind": "skus"})
    picked_html = picked.get_data(as_text=True)
    assert f'>{brand}</textarea>' in picked_html
    assert re.search(r'id="scope-size">The scope is \d+ products? in Coffee', picked_html)
    # server-side validation, each message beside its field (the offer files' rules)
    bad = post_form(carla, "/console/offers/new", wizard_data(brand, maker, share="120", valid_to="2020-01-01",
                                                                   benefit_high="0.10", slug="bad slug"))
    assert bad.status_code == 400
    errors = _errors(bad.get_data(as_text=True))
    assert set(errors) >= {"share", "valid_to", "benefit_low", "slug"}
    assert "between 0 and 100" in errors["share"]
    # the catalog's rules too: a budget below one redemption
    poor = post_form(carla, "/console/offers/new", wizard_data(brand, maker, budget="0.10"))
    assert poor.status_code == 400 and "below one redemption" in _errors(poor.get_data(as_text=True))["budget"]
    # a scope outside carla's categories is refused, nothing saved
    dave = _as(staff, "dave")
    outside = post_form(dave, "/console/offers/new", wizard_data(brand, maker, slug="not-mine"))
    assert outside.status_code == 403 and "your categories are Milk" in outside.get_data(as_text=True)

    saved = post_form(carla, "/console/offers/new", wizard_data(brand, maker), page_url="/console/offers/new")
    assert saved.status_code == 302
    url = saved.headers["Location"]
    offer_id = int(url.rsplit("/", 1)[1])
    page = carla.get(url).get_data(as_text=True)
    assert "No forecast yet" in page and re.search(r'<button type="submit" class="primary" disabled>Submit', page)
    assert dave.get(f"/console/offers/{offer_id}/edit").status_code == 403
    assert post_form(dave, f"/console/offers/{offer_id}/forecast", {}, page_url=url).status_code == 403

    assert post_form(carla, f"/console/offers/{offer_id}/forecast", {}, page_url=url).status_code == 302
    page = carla.get(url).get_data(as_text=True)
    assert "<svg" in page and "Expected redemptions per cell" in page and "total" in page
    assert post_form(carla, f"/console/offers/{offer_id}/submit", {}, page_url=url).status_code == 302
    assert post_form(carla, f"/console/offers/{offer_id}/approve", {}, page_url=url).status_code == 403

    aaron = _as(staff, "aaron")
    queue = aaron.get("/console/approvals").get_data(as_text=True)
    assert "Coffee from the console" in queue and "carla" in queue
    assert post_form(aaron, f"/console/offers/{offer_id}/approve", {}, page_url=url).status_code == 302
    with session_scope(engine) as s:
        offer = s.get(Offer, offer_id)
        assert (offer.status, offer.submitted_by, offer.approved_by) == ("active", "carla", "aaron")
    assert post_form(carla, f"/console/offers/{offer_id}/pause", {}, page_url=url).status_code == 302
    # a small chain turns maker-checker off: the manager's submission activates the offer
    with session_scope(engine) as s:
        set_maker_checker(s, staff.extensions["loyalty_engine"]["config"], False, actor="test", at=TODAY)
    page = carla.get(url).get_data(as_text=True)
    assert ">Activate</button>" in page
    assert post_form(carla, f"/console/offers/{offer_id}/submit", {}, page_url=url).status_code == 302
    with session_scope(engine) as s:
        assert s.get(Offer, offer_id).status == "active"
    trail = carla.get(url).get_data(as_text=True)
    for action in ("offer.create", "offer.submit", "offer.approve", "offer.pause", "offer.activate"):
        assert action in trail
    listing = _as(staff, "anna").get("/console/offers?status=active").get_data(as_text=True)
    assert "Coffee from the console" in listing and "$400.00" in listing
    assert _as(staff, "mo").get(url).status_code == 403  # the portal is the manufacturer's
    _read_pages_and_content(staff, engine)


def _read_pages_and_content(staff, engine) -> None:  # type: ignore[no-untyped-def]
    anna = _as(staff, "anna")
    for path in ("/console/dashboard", "/console/segments", "/console/members-at-risk", "/console/content",
                 "/console/offers", "/console/segments?category=Coffee",
                 "/console/offers?page=" + "9" * 30):  # a page number past any offset: clamped, not a 500
        response = anna.get(path)
        assert response.status_code == 200, path
        assert "Content-Security-Policy" in response.headers
    segments = anna.get("/console/segments?category=Coffee").get_data(as_text=True)
    assert "<svg" in segments and "national:high" in segments and AS_OF.isoformat() in segments
    risk = anna.get("/console/members-at-risk").get_data(as_text=True)
    assert "chance still shopping here" in risk or "trips fell" in risk or "no trip for" in risk
    mo = _as(staff, "mo")
    for path in ("/console/members-at-risk", "/console/segments", "/console/dashboard", "/console/offers/new"):
        assert mo.get(path).status_code == 403, path
    assert anna.get("/console/content/new").status_code == 403

    carla = _as(staff, "carla")
    content = {"slug": "coffee-tip", "kind": "tip", "title": "Keep coffee fresh", "body": "Airtight, room temperature.",
               "category": "Coffee", "priority": "1", "min_value_tier": "0", "status": "active",
               "valid_from": AS_OF.isoformat(), "valid_to": (AS_OF - timedelta(days=1)).isoformat()}
    bad = post_form(carla, "/console/content/new", content)
    assert bad.status_code == 400 and "before it starts" in _errors(bad.get_data(as_text=True))["valid_to"]
    assert post_form(carla, "/console/content/new", {**content, "category": "Milk", "valid_to": ""}).status_code == 403
    assert post_form(carla, "/console/content/new", {**content, "valid_to": ""}).status_code == 302
    with session_scope(engine) as s:
        item = s.execute(select(ContentItem).where(ContentItem.slug == "coffee-tip")).scalar_one()
        item_id = item.id
    assert _as(staff, "dave").get(f"/console/content/{item_id}/edit").status_code == 403
    edited = post_form(carla, f"/console/content/{item_id}/edit", {**content, "valid_to": "", "status": "paused"})
    assert edited.status_code == 302
    with session_scope(engine) as s:
        assert s.get(ContentItem, item_id).status == "paused"
