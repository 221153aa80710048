"""The member's web view: signed, expiring links; the list as HTML with SVG barcodes; its PDF."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pytest
import zxingcpp
from sqlalchemy import select, update

from browser_support import CHROMIUM, Shots, served_page
from loyalty_engine.clock import FixedClock
from loyalty_engine.db import session_scope
from loyalty_engine.models.lists import ShoppingList, ShoppingListLine
from loyalty_engine.money import format_money
from loyalty_engine.models.members import Member
from loyalty_engine.render.links import member_list_path, token_for_list
from loyalty_engine.render.tokens import make_member_token, read_member_token
from test_render_print_run import PERIOD, built  # noqa: F401  (fixture)

DURING = datetime(2027, 3, 5, 17, 0, tzinfo=timezone.utc)  # inside the period (Mar 1-14)


@pytest.fixture
def listed(app, engine, built):  # type: ignore[no-untyped-def]
    """A built list, its member, and the app's clock inside the list's period."""
    app.extensions["loyalty_engine"]["clock"] = FixedClock(DURING)
    with session_scope(engine) as s:
        lst = s.execute(select(ShoppingList).where(ShoppingList.period_start == PERIOD)
                        .order_by(ShoppingList.id)).scalars().first()
        member = s.get(Member, lst.member_key)
        token = token_for_list(app.config["SECRET_KEY"], lst)
        return {"token": token, "list_number": lst.list_number, "list_id": lst.id, "member_id": member.member_id,
                "name": member.display_name, "period_end": lst.period_end, "lines": len(lst.lines)}


def test_tokens_are_signed_and_expire_with_the_list() -> None:
    token = make_member_token("secret-1", 42, 7, date(2027, 3, 14))
    assert read_member_token("secret-1", token, date(2027, 3, 14)).list_id == 42  # type: ignore[union-attr]
    assert read_member_token("secret-1", token, date(2027, 3, 15)) is None  # past the last day
    assert read_member_token("secret-2", token, date(2027, 3, 1)) is None  # other deployment's key
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert read_member_token("secret-1", forged, date(2027, 3, 1)) is None
    assert read_member_token("secret-1", "", date(2027, 3, 1)) is None
    assert read_member_token("secret-1", "x" * 500, date(2027, 3, 1)) is None
    other = make_member_token("secret-1", 43, 7, date(2027, 3, 14))
    assert other != token and len(token) >= 40


def test_list_page_shows_the_list_with_svg_barcodes(client, listed) -> None:  # type: ignore[no-untyped-def]
    response = client.get(f"/m/{listed['token']}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert listed["list_number"][0] in html and listed["member_id"] in html
    assert "SCAN AT CHECKOUT" in html and "Download PDF" in html
    assert html.count("<svg") >= 1 + html.count("MANUFACTURER COUPON")
    assert f'href="/m/{listed["token"]}/list.pdf"' in html
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "noindex" in response.headers["X-Robots-Tag"]
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert '<meta name="viewport"' in html  # responsive
    # the list barcode SVG decodes to the list number once rasterized by a browser-like renderer
    assert re.search(r'<svg[^>]*class="ean"', html)


def test_list_page_marks_used_offers_and_shows_what_is_left(client, engine, listed) -> None:  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        lines = s.execute(select(ShoppingListLine).where(ShoppingListLine.list_id == listed["list_id"])
                          .order_by(ShoppingListLine.line_no)).scalars().all()
        faces = [line.face_value_cents for line in lines]
        first = lines[0]
        description = first.description
        s.execute(update(ShoppingListLine).where(ShoppingListLine.id == first.id)
                  .values(redeemed_count=first.redemption_limit))
    n = len(faces)
    assert n >= 2
    html = client.get(f"/m/{listed['token']}").get_data(as_text=True)
    offers_left, _, used = html.partition('aria-label="Offers used"')
    summary = f"{n - 1} offers left, you can still save {format_money(sum(faces[1:]))}"
    assert summary in html and "1 used" in html
    assert "You can still save" in html
    assert description in used and description not in offers_left.split('aria-label="Offers left"')[1]
    assert "Used" in used
    # every offer used: nothing left to show as available
    with session_scope(engine) as s:
        s.execute(update(ShoppingListLine).where(ShoppingListLine.list_id == listed["list_id"])
                  .values(redeemed_count=ShoppingListLine.redemption_limit))
    html = client.get(f"/m/{listed['token']}").get_data(as_text=True)
    assert f"All {n} offers used" in html and "Every offer on this list has been used" in html
    assert "MANUFACTURER COUPON" not in html  # no coupon barcode left to scan


def test_pdf_download_is_the_printed_list(client, listed) -> None:  # type: ignore[no-untyped-def]
    response = client.get(f"/m/{listed['token']}/list.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert f'shopping-list-{listed["list_number"]}.pdf' in response.headers["Content-Disposition"]
    pdf = pdfium.PdfDocument(response.data)
    image = pdf[0].render(scale=200 / 72, grayscale=True).to_numpy()
    image = image[..., 0] if image.ndim == 3 else image
    reads = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.EAN13)
    assert [r.text for r in reads] == [listed["list_number"]]
    a4 = client.get(f"/m/{listed['token']}/list.pdf?paper=a4")
    assert round(pdfium.PdfDocument(a4.data)[0].get_size()[0]) == 595


def test_wrong_or_expired_tokens_reveal_nothing(app, client, engine, listed) -> None:  # type: ignore[no-untyped-def]
    token = listed["token"]
    bodies = []
    for path in (
        "/m/not-a-token", f"/m/{token[:-3]}xyz", f"/m/{token}x", f"/m/{token[:-3]}xyz/list.pdf",
        "/m/" + make_member_token("another-secret", listed["list_id"], 1, listed["period_end"]),
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        bodies.append(response.data)
    # a token for a list of someone else's key is refused too
    with session_scope(engine) as s:
        lst = s.get(ShoppingList, listed["list_id"])
        stolen = make_member_token(app.config["SECRET_KEY"], lst.id, lst.member_key + 1000, lst.period_end)
    bodies.append(client.get(f"/m/{stolen}").data)
    # after the list's last day (store time), the same link is dead
    app.extensions["loyalty_engine"]["clock"] = FixedClock(datetime(2027, 3, 15, 4, 0, tzinfo=timezone.utc))
    assert client.get(f"/m/{token}").status_code == 200  # still 11 pm on Mar 14 in Wisconsin (CDT)
    app.extensions["loyalty_engine"]["clock"] = FixedClock(datetime(2027, 3, 15, 12, 0, tzinfo=timezone.utc))
    expired = client.get(f"/m/{token}")
    assert expired.status_code == 404
    bodies.append(expired.data)
    # a replaced list (rebuilt) is dead as well
    app.extensions["loyalty_engine"]["clock"] = FixedClock(DURING)
    with session_scope(engine) as s:
        s.execute(update(ShoppingList).where(ShoppingList.id == listed["list_id"]).values(status="replaced"))
    replaced = client.get(f"/m/{token}/list.pdf")
    assert replaced.status_code == 404
    bodies.append(replaced.data)
    assert len(set(bodies)) == 1  # the same page whatever went wrong
    assert listed["list_number"].encode() not in bodies[0] and listed["name"].encode() not in bodies[0]


def test_member_link_for_the_demo_and_emails(app, engine, listed) -> None:  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        path = member_list_path(s, app.config["SECRET_KEY"], listed["member_id"], DURING.date())
        assert path == f"/m/{listed['token']}"
        assert member_list_path(s, app.config["SECRET_KEY"], "no-such-member", DURING.date()) is None
        assert member_list_path(s, app.config["SECRET_KEY"], listed["member_id"], date(2027, 4, 1)) is None


def test_web_view_screenshot_in_headless_chromium(app, listed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The page as a phone and a desktop show it: rendered by chromium, nothing wider than the
    screen, its list barcode scanned off the screenshot, no Content Security Policy report."""
    if not Path(CHROMIUM).exists():
        pytest.skip("SKIPPED: headless chromium is not installed (apt-get install -y chromium); "
                    "the member web view screenshot test did not run")
    pytest.importorskip("playwright.sync_api", reason="SKIPPED: the playwright package is not installed")
    from PIL import Image

    shots = Shots(tmp_path)
    # twice the pixels of the screen, as a phone's: the barcode reads off the screenshot
    with served_page(app, 390, 844, scale=2) as run:
        page = run.page
        for name, (width, height) in (("phone", (390, 844)), ("desktop", (1200, 900))):
            page.set_viewport_size({"width": width, "height": height})
            response = page.goto(f"{run.base}/m/{listed['token']}", timeout=20_000)
            assert response is not None and response.status == 200
            assert page.evaluate("document.documentElement.scrollWidth") <= width  # responsive
            image = np.asarray(Image.open(shots.take(page, name, prefix="member")).convert("L"))
            reads = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.EAN13)
            assert listed["list_number"] in [r.text for r in reads]
            assert page.locator("text=Download PDF").count() == 1
        assert run.violations == []
