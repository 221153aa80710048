"""Manufacturer statements built from a ledger written by the real lane API (sales, partial
returns, returns by card, voids, funded shares under 100 %, handling fees, a late return).

Every expected figure below is computed by hand from the offers' terms.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import text

from loyalty_engine.clock import FixedClock
from loyalty_engine.db import session_scope
from loyalty_engine.models import Manufacturer
from loyalty_engine.render.settings import RenderSettings
from loyalty_engine.render.statement_pdf import render_statement_pdf
from loyalty_engine.results.statements import get_statement
from test_checkout_support import NOON, PERIOD, Chain, basket, chain  # noqa: F401

COMPLETE = "/api/v1/checkout/complete"
QUOTE = "/api/v1/checkout/quote"
PERIOD2 = (date(2027, 3, 18), date(2027, 3, 31))
WEEK1, WEEK2 = date(2027, 3, 4), date(2027, 3, 11)


def _at(app, moment: datetime) -> datetime:  # type: ignore[no-untyped-def]
    app.extensions["loyalty_engine"]["clock"] = FixedClock(moment)
    service = app.extensions["loyalty_engine"].get("checkout_service")
    if service is not None:  # created on the first lane call, with the clock of that moment
        service.clock = FixedClock(moment)
    return moment


def _post(client, chain: Chain, body: dict) -> dict:  # type: ignore[no-untyped-def,type-arg]
    if any(line["quantity"] < 0 for line in body["lines"]):  # a refund tenders exactly what is due back
        quote = client.post(QUOTE, json={k: v for k, v in body.items() if k != "tender"}, headers=chain.headers())
        assert quote.status_code == 200, quote.json
        body["tender"]["amount_cents"] = quote.json["total_due_cents"]
    answer = client.post(COMPLETE, json=body, headers=chain.headers())
    assert answer.status_code == 200, answer.json
    return answer.json  # type: ignore[no-any-return]


def _return(sku: str, price: int, pos: str, at: datetime, **extra: str) -> dict:  # type: ignore[type-arg]
    body = basket((sku, -1, price), pos=pos, at=at, tender=True, **extra)
    body["lines"][0]["amount_cents"] = -price
    return body


def build_ledger(app, client, chain: Chain) -> None:  # type: ignore[no-untyped-def]
    """Period 1 (Mar 4-17) redemptions for MFR1 (relief, coffee) and MFR2 (dog)."""
    with chain.session() as s:
        s.add(Manufacturer(id="MFR2", name="Barkley Pet Co", gs1_company_prefix="0765432"))
        s.commit()
    chain.offer("relief", ["000111"], "amount_off", 100, redemption_limit=2, handling_fee_cents=8)
    chain.offer("coffee", ["000311"], "percent_off", 2500, funded_share_bp=5000, handling_fee_cents=10)
    chain.offer("dog", ["000511"], "amount_off", 300, manufacturer_id="MFR2", handling_fee_cents=0)
    ann = chain.shopping_list("ann", "M1", [{"offer": "relief", "limit": 2}, {"offer": "coffee"}])
    bob = chain.shopping_list("bob", "M2", [{"offer": "relief", "limit": 2}, {"offer": "dog"}])
    noon = _at(app, NOON)  # Wed Mar 10: week 1
    # Ann: 2 x relief (2 applications: 200 off, fee 16) and coffee 25 % of 7.49 = 1.87, funded half = 0.94
    _post(client, chain, basket(("000111", 2, 899), ("000311", 1, 749), identifier=ann, pos="P1", at=noon, tender=True))
    # partial return of one relief unit against the sale: one application back (-100, fee -8)
    _post(client, chain, _return("000111", 899, "R1", noon, original_transaction_id="S1:1:P1"))
    # Bob: relief + dog, then the whole basket is voided
    _post(client, chain, basket(("000111", 1, 899), ("000511", 1, 2199), identifier=bob, pos="P2", at=noon, tender=True))
    void = client.post("/api/v1/checkout/S1:1:P2/void", json={"store": "S1", "lane": "1"}, headers=chain.headers())
    assert void.status_code == 200, void.json
    friday = _at(app, NOON + timedelta(days=2))  # Fri Mar 12: week 2
    # Bob again: 2 x relief and the dog food; then returns one relief unit by card (no receipt)
    _post(client, chain, basket(("000111", 2, 899), ("000511", 1, 2199), identifier=bob, pos="P3", at=friday, tender=True))
    _post(client, chain, _return("000111", 899, "R2", friday, identifier="4000002"))


def _sql_due(engine, mfr: str, period_start: date) -> int:  # type: ignore[no-untyped-def]
    """The independent sum: what the funder owes for the period's lists, straight off the ledger."""
    with engine.connect() as conn:
        return int(conn.execute(text(
            "SELECT COALESCE(SUM(r.funded_cents + r.handling_fee_cents), 0) FROM redemptions r "
            "JOIN shopping_lists l ON l.id = r.list_id WHERE r.manufacturer_id = :m AND l.period_start = :p"),
            {"m": mfr, "p": period_start}).scalar_one())


def _lines(doc) -> dict[tuple[str, str, date], tuple[int, int, int, int, int]]:  # type: ignore[no-untyped-def]
    return {(x.kind, x.offer_name, x.week_start): (x.redemptions, x.face_value_cents, x.funded_cents,
                                                   x.handling_fee_cents, x.total_due_cents) for x in doc.lines}


def test_statements_by_offer_and_week_net_of_returns_and_voids(app, client, chain: Chain, cli, engine,
                                                               tmp_path: Path) -> None:
    build_ledger(app, client, chain)
    out = tmp_path / "out"
    result = cli("statements", "issue", "--period", "2027-03-04", "--as-of", "2027-03-18", "--out", str(out))
    assert "ST-20270304-MFR1" in result.output and "ST-20270304-MFR2" in result.output
    with session_scope(engine) as session:
        acme = get_statement(session, "ST-20270304-MFR1")
        barkley = get_statement(session, "ST-20270304-MFR2")
    assert acme is not None and barkley is not None
    assert _lines(acme) == {
        # Ann's 2 - 1 returned; Bob's voided sale nets to nothing in the same week
        ("current", "relief", WEEK1): (1, 100, 100, 8, 108),
        # Bob's 2 - 1 returned by card
        ("current", "relief", WEEK2): (1, 100, 100, 8, 108),
        # 25 % of $7.49 = $1.87 face, half funded = $0.94 (half up), fee $0.10
        ("current", "coffee", WEEK1): (1, 187, 94, 10, 104),
    }
    assert acme.total_due_cents == 320 == _sql_due(engine, "MFR1", PERIOD[0])
    assert _lines(barkley) == {("current", "dog", WEEK1): (0, 0, 0, 0, 0), ("current", "dog", WEEK2): (1, 300, 300, 0, 300)}
    assert barkley.total_due_cents == 300 == _sql_due(engine, "MFR2", PERIOD[0])
    rec = acme.reconciliation
    assert rec["ledger_due_cents"] == 320 and rec["this_due_cents"] == 320 and rec["unbilled_due_cents"] == 0
    assert rec["this_rows"] == 7  # relief: sale, return, sale, void, sale, return; coffee: one sale
    csv_text = (out / "ST-20270304-MFR1.csv").read_text()
    assert csv_text.splitlines()[-1].endswith(",3,3,3.87,2.94,0.26,3.20")

    # issuing again returns the stored statement and renders the very same bytes
    first_pdf = (out / "ST-20270304-MFR1.pdf").read_bytes()
    again = cli("statements", "issue", "--period", "2027-03-04", "--funder", "MFR1", "--as-of", "2027-04-30",
                "--out", str(out))
    assert "already issued" in again.output
    assert (out / "ST-20270304-MFR1.pdf").read_bytes() == first_pdf
    assert render_statement_pdf(acme, RenderSettings()) == render_statement_pdf(acme, RenderSettings())
    assert first_pdf.startswith(b"%PDF")

    # a late return after issue: Ann brings back the coffee on Mar 19 (period 2 is running)
    chain.shopping_list("cy", "M3", [{"offer": "relief", "limit": 1}], period=PERIOD2)
    late = _at(app, datetime(2027, 3, 19, 18, 0, tzinfo=timezone.utc))
    _post(client, chain, basket(("000111", 1, 899), identifier="4000003", pos="P4", at=late, tender=True))
    _post(client, chain, _return("000311", 749, "R3", late, original_transaction_id="S1:1:P1", identifier="4000001"))
    cli("statements", "issue", "--period", "2027-03-18", "--funder", "MFR1", "--as-of", "2027-04-01",
        "--out", str(out))
    with session_scope(engine) as session:
        second = get_statement(session, "ST-20270318-MFR1")
        first_again = get_statement(session, "ST-20270304-MFR1")
    assert second is not None and first_again == acme  # the issued statement did not change
    assert _lines(second) == {
        ("current", "relief", PERIOD2[0]): (1, 100, 100, 8, 108),
        ("adjustment", "coffee", date(2027, 3, 18)): (-1, -187, -94, -10, -104),
    }
    assert second.total_due_cents == 4 and second.adjustments_due_cents == -104
    # every ledger row of the funder is billed exactly once: statements sum to the ledger
    assert acme.total_due_cents + second.total_due_cents == (
        _sql_due(engine, "MFR1", PERIOD[0]) + _sql_due(engine, "MFR1", PERIOD2[0]))
    rec2 = second.reconciliation
    assert rec2["earlier_due_cents"] == 320 and rec2["ledger_due_cents"] == 324 and rec2["unbilled_due_cents"] == 0


def _nothing_written(engine, out: Path) -> None:  # type: ignore[no-untyped-def]
    assert not out.exists() or not any(out.iterdir())
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM statements")).scalar_one() == 0
        assert conn.execute(text("SELECT COUNT(*) FROM statement_coverage")).scalar_one() == 0


BAD_INPUT = [
    (["--period", "2027-03-04", "--funder", "NOPE", "--as-of", "2027-03-18"], "unknown funder 'NOPE'"),
    (["--period", "2027-03-05", "--as-of", "2027-03-18"], "unknown period 2027-03-05"),
    (["--period", "2027-03-04", "--as-of", "2027-03-17"], "still open"),
    (["--period", "2027-03-04", "--funder", "MFR1", "--as-of", "2027-03-17"], "still open"),
    (["--period", "notadate"], "notadate"),
]


def test_bad_input_exits_2_and_writes_nothing(app, client, chain: Chain, cli, engine, tmp_path: Path) -> None:
    build_ledger(app, client, chain)
    out = tmp_path / "out"
    for args, message in BAD_INPUT:
        result = cli("statements", "issue", *args, "--out", str(out), expect=2)
        assert message in result.output, (args, result.output)
        _nothing_written(engine, out)


def test_an_empty_period_is_refused_and_a_draft_of_an_open_one_records_nothing(chain: Chain, cli, engine,
                                                                              tmp_path: Path) -> None:
    chain.offer("relief", ["000111"], "amount_off", 100)
    chain.shopping_list("ann", "M1", [{"offer": "relief"}])  # a period with lists but no redemption
    out = tmp_path / "out"
    for funder in ([], ["--funder", "MFR1"]):
        result = cli("statements", "issue", "--period", "2027-03-04", *funder, "--as-of", "2027-03-18",
                     "--out", str(out), expect=2)
        assert "nothing to bill" in result.output
    _nothing_written(engine, out)
    assert "unknown statement" in cli("statements", "show", "ST-nope", expect=2).output
    assert "no statements issued yet" in cli("statements", "list").output


def test_a_draft_of_an_open_period_is_written_but_not_recorded(app, client, chain: Chain, cli, engine,
                                                              tmp_path: Path) -> None:
    build_ledger(app, client, chain)
    out = tmp_path / "out"
    result = cli("statements", "issue", "--period", "2027-03-04", "--funder", "MFR1", "--draft",
                 "--as-of", "2027-03-12", "--out", str(out))
    assert "draft" in result.output
    assert (out / "ST-20270304-MFR1-DRAFT.pdf").read_bytes().startswith(b"%PDF")
    assert "3.20" in (out / "ST-20270304-MFR1-DRAFT.csv").read_text()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM statements")).scalar_one() == 0
        assert conn.execute(text("SELECT COUNT(*) FROM statement_coverage")).scalar_one() == 0
    # issued later, the statement is the same money; list and show read it back
    cli("statements", "issue", "--period", "2027-03-04", "--as-of", "2027-03-18", "--out", str(out))
    listed = cli("statements", "list").output
    assert "ST-20270304-MFR1" in listed and "ST-20270304-MFR2" in listed
    shown = cli("statements", "show", "ST-20270304-MFR1", "--json").output
    assert '"total_due_cents": 320' in shown


def test_the_scheduler_job_issues_statements_once_the_grace_period_for_returns_is_over(
        app, client, chain: Chain, config, engine) -> None:  # type: ignore[no-untyped-def]
    from jobs.runtime import RunContext
    from jobs.schedule import run_now

    build_ledger(app, client, chain)
    settings = config.with_overrides(statement_grace_days=7)

    def run(day: date):  # type: ignore[no-untyped-def]
        clock = FixedClock(datetime(day.year, day.month, day.day, 9, 0, tzinfo=timezone.utc))
        return run_now(RunContext(engine, settings, clock, holder="test"), "statements", day)

    # the period ended Mar 17: on Mar 24 returns may still come (7 days of grace)
    early = run(date(2027, 3, 24))
    assert early.status == "ok" and early.counts["statements_issued"] == 0
    due = run(date(2027, 3, 25))
    assert due.counts["statements_issued"] == 2 and due.counts["total_due_cents"] == 320 + 300
    assert (config.instance_path / "statements" / "ST-20270304-MFR1.pdf").exists()
    again = run(date(2027, 3, 26))
    assert again.counts["statements_issued"] == 0
