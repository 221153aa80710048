"""The manufacturer portal on real redemptions through the lane API: its own offers' results only,
no member identity anywhere, 403 on another funder's offer."""
from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy.orm import Session

from console_support import add_user, sign_in
from loyalty_engine.analytics.redemptions import refresh_redemption_days
from loyalty_engine.clock import FixedClock
from loyalty_engine.models import Manufacturer
from test_checkout_support import NOON, TODAY, Chain, basket, chain  # noqa: F401

COMPLETE = "/api/v1/checkout/complete"


def _redeem_both_funders(client, chain: Chain) -> str:  # type: ignore[no-untyped-def]
    with chain.session() as s:
        s.add(Manufacturer(id="MFR2", name="Other Maker", gs1_company_prefix="0765432"))
        s.commit()
    chain.offer("relief", ["000111", "000112"], "amount_off", 150)  # MFR1, fee 8 cents
    chain.offer("coffee", ["000311"], "percent_off", 2500, funded_share_bp=5000, manufacturer_id="MFR2")
    number = chain.shopping_list("ann", "M1", [{"offer": "relief"}, {"offer": "coffee"}])
    body = basket(("000111", 2, 899), ("000311", 1, 749), identifier=number, pos="P-1", tender=True)
    assert client.post(COMPLETE, json=body, headers=chain.headers()).status_code == 200
    return number


def test_portal_results_show_the_funders_own_redemptions(app, client, engine, chain: Chain) -> None:  # type: ignore[no-untyped-def]
    number = _redeem_both_funders(client, chain)
    add_user(engine, "mo", "manufacturer", manufacturer_id="MFR1")
    portal = app.test_client()
    assert sign_in(portal, "mo").status_code == 302

    page = portal.get("/portal/results").get_data(as_text=True)
    assert "relief" in page and "coffee" not in page  # the other funder's offer is not there
    assert "$1.50" in page and "$0.08" in page and "$1.58" in page  # funded 150 + fee 8 = due, from today's ledger
    shown = re.sub(r'name="csrf_token" value="[^"]*"', "", page)  # a random token may hold "M1" by chance
    for identity in ("Ann", "M1", "4000001", number):
        assert identity not in shown
    offer_page = portal.get(f"/portal/offers/{chain.offers['relief']}")
    assert offer_page.status_code == 200 and "<svg" in offer_page.get_data(as_text=True)
    assert portal.get(f"/portal/offers/{chain.offers['coffee']}").status_code == 403
    assert "coffee" not in portal.get("/portal/offers").get_data(as_text=True)

    # the next day the totals come from the nightly aggregate, the same figures
    with Session(engine) as s:
        refresh_redemption_days(s, TODAY, TODAY)
        s.commit()
    app.extensions["loyalty_engine"]["clock"] = FixedClock(NOON + timedelta(days=1))
    sign_in(portal, "mo")  # a day later the session has long been idle
    assert "$1.58" in portal.get("/portal/results").get_data(as_text=True)


def test_staff_cannot_open_the_portal_and_a_manufacturer_no_member_page(app, client, engine, chain: Chain) -> None:  # type: ignore[no-untyped-def]
    _redeem_both_funders(client, chain)
    add_user(engine, "mo", "manufacturer", manufacturer_id="MFR1")
    add_user(engine, "anna", "analyst")
    analyst, maker = app.test_client(), app.test_client()
    sign_in(analyst, "anna")
    sign_in(maker, "mo")
    assert analyst.get("/portal/results").status_code == 403
    assert maker.get("/console/members-at-risk").status_code == 403
    assert maker.get(f"/console/offers/{chain.offers['relief']}").status_code == 403


def test_portal_statements_are_the_funders_own_as_csv_and_pdf(app, client, chain: Chain, cli, engine) -> None:  # type: ignore[no-untyped-def]
    from test_results_statements import build_ledger

    from loyalty_engine.db import session_scope
    from loyalty_engine.results.statement_files import statement_csv
    from loyalty_engine.results.statements import get_statement

    build_ledger(app, client, chain)
    cli("statements", "issue", "--period", "2027-03-04", "--as-of", "2027-03-18")
    add_user(engine, "mo", "manufacturer", manufacturer_id="MFR1")
    portal = app.test_client()
    sign_in(portal, "mo")
    page = portal.get("/portal/statements").get_data(as_text=True)
    assert "ST-20270304-MFR1" in page and "ST-20270304-MFR2" not in page and "$3.20" in page
    csv_answer = portal.get("/portal/statements/ST-20270304-MFR1.csv")
    with session_scope(engine) as session:
        expected = statement_csv(get_statement(session, "ST-20270304-MFR1"))  # type: ignore[arg-type]
    assert csv_answer.status_code == 200 and csv_answer.data == expected  # the CLI's file, byte for byte
    assert "ST-20270304-MFR1.csv" in csv_answer.headers["Content-Disposition"]
    pdf = portal.get("/portal/statements/ST-20270304-MFR1.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF") and pdf.mimetype == "application/pdf"
    text = csv_answer.get_data(as_text=True)
    for identity in ("Ann", "Bob", "M1", "M2", "4000001"):
        assert identity not in text
    assert portal.get("/portal/statements/ST-20270304-MFR2.csv").status_code == 403
    assert portal.get("/portal/statements/ST-20270304-MFR2.pdf").status_code == 403
