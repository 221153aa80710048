"""Print runs from lists built in the database: CLI, manifest, idempotency, and the lane round trip."""
from __future__ import annotations

import csv
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pytest
import zxingcpp
from sqlalchemy import select, update

from loyalty_engine.checkout.lanes import issue_key
from loyalty_engine.clock import FixedClock
from loyalty_engine.db import session_scope
from loyalty_engine.models.lists import ShoppingList, ShoppingListLine
from loyalty_engine.models.members import Member
from loyalty_engine.offers.definition import parse_definitions
from loyalty_engine.offers.service import save_definitions
from loyalty_engine.render import coupon_8110
from loyalty_engine.render.from_db import iter_period_documents
from loyalty_engine.render.settings import RenderSettings
from loyalty_engine.shopping_lists.build import build_lists
from loyalty_engine.shopping_lists.settings import ListSettings
from test_lists_helpers import hand_model, make_small_chain

PERIOD = date(2027, 3, 1)  # a Monday; cohort A's turn in the helpers' cadence or B's: the builder decides
TODAY = date(2027, 2, 20)
OFFERS = {
    "offers": [
        {
            "slug": "tylenol-save", "name": "Save on Tylenol", "description": "Any Tylenol pain reliever",
            "funder": "manufacturer", "manufacturer": "MFR1", "scope": {"brand": ["Tylenol"]},
            "benefit": {"kind": "amount_off", "value": "1.00"},
            "funding": {"share": 100, "handling_fee": "0.08", "budget": "500.00"},
            "validity": {"from": "2027-02-01", "to": "2027-06-30"}, "status": "active",
        },
        {
            "slug": "pampers-pct", "name": "Pampers", "description": "Pampers diapers, any size",
            "funder": "manufacturer", "manufacturer": "MFR3", "scope": {"brand": ["Pampers"]},
            "benefit": {"kind": "percent_off", "value": 20},
            "validity": {"from": "2027-02-01", "to": "2027-06-30"}, "status": "active",
        },
        {
            "slug": "milk", "name": "Milk", "description": "Store-brand milk, any gallon", "funder": "retailer",
            "scope": {"category": ["MILK"]}, "benefit": {"kind": "amount_off", "value": "0.50"},
            "validity": {"from": "2027-02-01", "to": "2027-06-30"}, "status": "active",
        },
    ],
    "content": [
        {"slug": "soup", "kind": "recipe", "title": "Chicken soup", "body": "Simmer a whole chicken for an hour."},
    ],
}
SETTINGS = RenderSettings(retailer_gs1_prefix="0712345", contact="Questions? Call 1-800-555-0142")
ENV = {"LOYALTY_RETAILER_GS1_PREFIX": "0712345", "LOYALTY_PROGRAM_CONTACT": "Questions? Call 1-800-555-0142"}


@pytest.fixture
def built(engine):  # type: ignore[no-untyped-def]
    """Real lists from the list builder for a small chain; members spread over postal codes."""
    chain = make_small_chain(engine, n_members=24)
    with session_scope(engine) as s:
        save_definitions(s, parse_definitions(OFFERS), TODAY)
        for i, key in enumerate(chain.member_keys.tolist()):
            s.execute(update(Member).where(Member.id == key).values(
                postal_code=["53818", "53813", "52001", "61036"][i % 4],
                first_name=["Zoë", "José", "Søren", "Amélie"][i % 4],
                last_name=["Ødegård", "Núñez", "Müller", "Łukasiewicz"][i % 4],
            ))
    n = chain.member_keys.shape[0]
    probs = np.tile(np.array([0.6, 0.3, 0.1, 0.1, 0.9, 0.7]), (n, 1))
    view = hand_model(chain, np.full(n, 5000), probs)
    with session_scope(engine) as s:
        result = build_lists(s, PERIOD, lambda as_of: view, ListSettings(holdout_share=0.0))
    assert result.created and result.counts["lists"] > 0
    return chain


def _manifest(out: Path) -> list[dict[str, str]]:
    with (out / "manifest.csv").open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_render_command_writes_lists_print_run_and_manifest(cli, engine, built, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "run"
    result = cli("lists", "render", "--period-start", PERIOD.isoformat(), "--out", str(out), "--workers", "1")
    assert "print run S1" in result.output and "manifest" in result.output
    rows = _manifest(out)
    with session_scope(engine) as s:
        lists = s.execute(select(ShoppingList).where(ShoppingList.period_start == PERIOD)).scalars().all()
        mailed = {m.id for m in s.execute(select(Member).where(Member.mail_opt_in.is_(True))).scalars()}
        assert sorted(r["list_number"] for r in rows) == sorted(l.list_number for l in lists)
        expected_mailed = sorted(l.list_number for l in lists if l.member_key in mailed)
    # every list has its own PDF with the page count the manifest says
    for row in rows:
        pdf = pdfium.PdfDocument(str(out / row["file"]))
        assert len(pdf) == int(row["pages"]) and 1 <= len(pdf) <= 2
        assert row["status"] == "rendered" and row["warnings"] == ""
    # the print run holds the mailed lists in postal-code order, at the pages the manifest says
    run_rows = [r for r in rows if r["mailed"] == "yes"]
    assert sorted(r["list_number"] for r in run_rows) == expected_mailed
    postal = [r["postal_code"] for r in run_rows]
    assert postal == sorted(postal)
    run = pdfium.PdfDocument(str(out / run_rows[0]["print_run"]))
    # duplex by default: a blank back page after each list with an odd page count
    assert "duplex: every list starts on a new sheet" in result.output
    assert len(run) == sum(int(r["pages"]) + int(r["pages"]) % 2 for r in run_rows)
    assert all(int(r["print_run_first_page"]) % 2 == 1 and r["print_mode"] == "duplex" for r in run_rows)
    for row in run_rows:
        page = run[int(row["print_run_first_page"]) - 1]
        image = page.render(scale=200 / 72, grayscale=True).to_numpy()
        image = image[..., 0] if image.ndim == 3 else image
        top = image[: image.shape[0] // 6]  # the list barcode sits in the header
        reads = zxingcpp.read_barcodes(top, formats=zxingcpp.BarcodeFormat.EAN13)
        assert [r.text for r in reads] == [row["list_number"]]


def test_rerun_is_byte_identical_and_skips_unchanged_lists(cli, engine, built, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "run"
    cli("lists", "render", "--period-start", PERIOD.isoformat(), "--out", str(out), "--workers", "1")
    files = sorted(p for p in out.rglob("*.pdf"))
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files}
    manifest = (out / "manifest.csv").read_bytes()
    again = cli("lists", "render", "--period-start", PERIOD.isoformat(), "--out", str(out), "--workers", "1")
    assert "0 rendered" in again.output
    assert sorted(p for p in out.rglob("*.pdf")) == files
    for path, (data, mtime) in before.items():
        assert path.read_bytes() == data, path
        if "lists" in path.parts:
            assert path.stat().st_mtime_ns == mtime, f"{path} was rewritten"
    assert [r["status"] for r in _manifest(out)] == ["unchanged"] * len(_manifest(out))
    assert [dict(r, status="") for r in _manifest(out)] == [
        dict(r, status="") for r in csv.DictReader(manifest.decode().splitlines())]

    # one list changes: only it is rendered again; forced re-render gives the same bytes
    with session_scope(engine) as s:
        line = s.execute(select(ShoppingListLine).order_by(ShoppingListLine.id)).scalars().first()
        line.description = "Changed description"
        changed_number = s.get(ShoppingList, line.list_id).list_number
    third = cli("lists", "render", "--period-start", PERIOD.isoformat(), "--out", str(out), "--workers", "1")
    assert "1 rendered" in third.output
    statuses = {r["list_number"]: r["status"] for r in _manifest(out)}
    assert statuses.pop(changed_number) == "rendered" and set(statuses.values()) == {"unchanged"}
    forced_out = tmp_path / "forced"
    cli("lists", "render", "--period-start", PERIOD.isoformat(), "--out", str(forced_out), "--workers", "2", "--force")
    for path in out.rglob("*.pdf"):
        assert (forced_out / path.relative_to(out)).read_bytes() == path.read_bytes(), path


def test_store_filter_and_bad_input(cli, built, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    missing = cli("lists", "render", "--period-start", PERIOD.isoformat(), "--store", "NOPE",
                  "--out", str(tmp_path / "x"), expect=2)
    assert "no lists" in missing.output
    bad_date = cli("lists", "render", "--period-start", "2027-13-01", "--out", str(tmp_path / "y"), expect=2)
    assert "period-start" in bad_date.output
    only = cli("lists", "render", "--period-start", PERIOD.isoformat(), "--store", "S1",
               "--paper", "a4", "--out", str(tmp_path / "a4"), "--workers", "1")
    assert "print run S1" in only.output
    page = pdfium.PdfDocument(str(next((tmp_path / "a4").glob("print-run-*.pdf"))))[0]
    assert round(page.get_size()[0]) == 595 and round(page.get_size()[1]) == 842


def test_coupons_of_built_lists_carry_the_line_serial(engine, built) -> None:  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        items = list(iter_period_documents(s, PERIOD, SETTINGS))
    serials = set()
    coupons = 0
    for item in items:
        doc = item.document
        for line in doc.lines:
            if line.funded_by_manufacturer and line.coupon is not None:
                coupons += 1
                parsed = coupon_8110.parse(line.coupon_element_string or "")
                assert parsed.serial_number == f"{int(doc.list_number[2:12]):010d}{line.line_no:02d}"
                assert parsed.retailer_id == "0712345" and parsed.expiration == line.expires
                serials.add(parsed.serial_number)
            elif not line.funded_by_manufacturer:
                assert line.coupon is None and line.funder_text() == "Store offer"
    assert coupons > 0 and len(serials) == coupons  # unique per member and list line
    assert [i.document.address.postal_code for i in items] == sorted(i.document.address.postal_code for i in items)
    percent = [l for i in items for l in i.document.lines if l.benefit_text.startswith("20%")]
    assert percent and all(l.coupon is not None and l.coupon.misc is not None
                           and l.coupon.misc.save_value_code == coupon_8110.SaveValueCode.PERCENT_OFF
                           and l.coupon.save_value == 20 for l in percent)


def test_documents_stream_in_chunks_with_the_same_result(engine, built) -> None:  # type: ignore[no-untyped-def]
    """A run longer than one chunk: each chunk's objects leave the session, the stream goes on."""
    with session_scope(engine) as s:
        whole = [i.document for i in iter_period_documents(s, PERIOD, SETTINGS)]
    with session_scope(engine) as s:
        chunked = [i.document for i in iter_period_documents(s, PERIOD, SETTINGS, chunk=2)]
        assert len(s.identity_map) < 60  # the catalog and one chunk, not the whole period
    assert len(whole) > 4 and chunked == whole


def test_lane_round_trip_scanned_list_number_applies_its_offers(engine, app, client, built, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Print the list, scan its barcode off the page, send it to the checkout API: the offers apply."""
    from loyalty_engine.render.paper import LETTER
    from loyalty_engine.render.pdf import render_list_pdf

    app.extensions["loyalty_engine"]["clock"] = FixedClock(datetime(2027, 3, 2, 18, 0, tzinfo=timezone.utc))
    with session_scope(engine) as s:
        item = next(i for i in iter_period_documents(s, PERIOD, SETTINGS)
                    if any(l.description == "Any Tylenol pain reliever" for l in i.document.lines))
    with engine.begin() as conn:
        key = issue_key(conn, "S1", "7", datetime(2027, 3, 1, tzinfo=timezone.utc)).api_key
    doc = item.document
    pdf, _ = render_list_pdf(doc, LETTER, SETTINGS)
    page = pdfium.PdfDocument(pdf)[0].render(scale=200 / 72, grayscale=True).to_numpy()
    page = page[..., 0] if page.ndim == 3 else page
    (scanned,) = zxingcpp.read_barcodes(page, formats=zxingcpp.BarcodeFormat.EAN13)
    assert scanned.text == doc.list_number

    tylenol = next(l for l in doc.lines if l.description == "Any Tylenol pain reliever")
    body = {
        "store": "S1", "lane": "7", "pos_transaction_id": "RT-1", "scanned_at": "2027-03-02T12:00:00-06:00",
        "identifier": scanned.text,
        "lines": [{"sku": "300450449108", "quantity": 1, "unit_price_cents": 999, "amount_cents": 999}],
    }
    answer = client.post("/api/v1/checkout/quote", json=body, headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200, answer.json
    quote = answer.json
    assert quote["shopping_list"]["list_number"] == doc.list_number
    applied = {r["list_line_no"]: r for r in quote["redemptions"]}
    assert applied[tylenol.line_no]["discount_cents"] == 100
    assert applied[tylenol.line_no]["funded_by"] == "manufacturer"
    assert quote["total_discount_cents"] == 100
    not_applied = {n["list_line_no"] for n in quote["not_applied"]}
    assert not_applied == {l.line_no for l in doc.lines} - {tylenol.line_no}
