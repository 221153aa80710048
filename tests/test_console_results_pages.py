"""The results pages of the console and the manufacturer portal on a small simulated chain:
lists built, members respond at the lanes, results computed and statements issued.

Each page for each role that may open it; a manufacturer sees only its own funder's offers
and statements (403 on another's); no portal page or download carries a member identifier.
"""
from __future__ import annotations

import csv
import io
import re
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from console_support import add_user, post_form, sign_in
from loyalty_engine.console.results_view import PAGE_ROWS, pool_groups
from loyalty_engine.models.checkout import Redemption
from loyalty_engine.models.console import AuditEntry
from loyalty_engine.models.results import ResultRow

START = "2026-03-02"
PERIOD = "2026-06-22"  # the first day after the generated history
ISSUE_ON = "2026-08-01"  # after the period (two weeks) closed


def _chain(cli, engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    cli("generate", "--members", "300", "--weeks", "16", "--seed", "5", "--start-date", START, str(data))
    for kind in ("manufacturers", "stores", "products", "members", "scans"):
        cli("import", kind, str(data / f"{kind}.csv"))
    cli("jobs", "run", "refresh_model", "--as-of", PERIOD)
    cli("offers", "seed-demo", "--start", PERIOD, "--weeks", "12")
    with engine.begin() as conn:  # large per-offer hold-outs, so every offer has a control group
        conn.execute(text("UPDATE offers SET holdout_share = 0.4"))
    cli("lists", "build", "--period-start", PERIOD, "--as-of", PERIOD)
    cli("simulate", "--period", PERIOD, "--seed", "3", "--out", str(tmp_path / "sim"))


def _staff(engine) -> None:  # type: ignore[no-untyped-def]
    """An analyst and a category manager of the chain's first category."""
    with engine.connect() as conn:
        category = conn.execute(text("SELECT MIN(category) FROM products")).scalar_one()
    add_user(engine, "analyst", "analyst")
    add_user(engine, "category-manager", "category_manager", categories=[category])


def _funders(engine) -> list[str]:  # type: ignore[no-untyped-def]
    """Funders with redemptions, most first."""
    with engine.connect() as conn:
        return [m for m, in conn.execute(
            select(Redemption.manufacturer_id).where(Redemption.manufacturer_id.is_not(None))
            .group_by(Redemption.manufacturer_id).order_by(func.count().desc(), Redemption.manufacturer_id))]


def _all_pages(client, url: str) -> str:  # type: ignore[no-untyped-def]
    """Every page of a paged results table, followed through its "next" links, as one text."""
    texts, page = [], 1
    while True:
        answer = client.get(f"{url}&page={page}")
        assert answer.status_code == 200, url
        texts.append(answer.get_data(as_text=True))
        assert texts[-1].count("<tr><td>") <= PAGE_ROWS + 1
        if f"page={page + 1}" not in texts[-1]:
            return "\n".join(texts)
        page += 1


def test_console_results_pages_for_each_role(app, cli, engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _chain(cli, engine, tmp_path)
    _staff(engine)
    analyst, manager = app.test_client(), app.test_client()
    sign_in(analyst, "analyst")
    sign_in(manager, "category-manager")

    page = analyst.get("/console/results").get_data(as_text=True)
    assert "not computed yet" in page and "Compute the results" not in page  # analysts only read
    assert analyst.post("/console/results/compute", data={"period": PERIOD}).status_code in (400, 403)
    assert "—" in analyst.get("/console/dashboard").get_data(as_text=True).split("Lift so far")[1][:200]

    answer = post_form(manager, "/console/results/compute", {"period": PERIOD}, page_url="/console/results")
    assert answer.status_code == 302
    with Session(engine) as s:
        assert s.execute(select(func.count()).select_from(AuditEntry)
                         .where(AuditEntry.action == "results.compute")).scalar_one() == 1
        offers = s.execute(select(ResultRow.data).where(ResultRow.dimension == "offer")).scalars().all()
        # the lift charts' column holds each row's stored lift (what they sort on)
        assert all(row.units_lift == row.data.get("units_cuped_lift") for row in s.execute(select(ResultRow)).scalars())
        ledger = s.execute(select(func.coalesce(func.sum(Redemption.discount_cents), 0))).scalar_one()

    page = analyst.get(f"/console/results?period={PERIOD}").get_data(as_text=True)
    assert "Lists delivered" in page and page.count("<circle") >= len([o for o in offers if o.get("units_cuped_lift")
                                                                       is not None])
    for o in offers:
        assert o["slug"] in page
    for by in ("offer_cell", "cell", "store", "week", "stage", "funder", "category", "program", "winback",
               "calibration"):
        pages = _all_pages(analyst, f"/console/results?period={PERIOD}&by={by}")
        with Session(engine) as s:
            keys = s.execute(select(ResultRow.key).where(ResultRow.dimension == by)).scalars().all()
        assert all(str(key).split(" ")[0] in pages for key in keys), by
        assert by != "offer_cell" or len(keys) > PAGE_ROWS  # the offer x cell table takes several pages
    rows = list(csv.DictReader(io.StringIO(analyst.get(f"/console/results.csv?period={PERIOD}&by=offer")
                                           .get_data(as_text=True))))
    assert len(rows) == len(offers) and sum(int(r["discount_cents"]) for r in rows) == ledger  # ties to the ledger
    assert analyst.get("/console/results?period=next-week").status_code == 400
    assert analyst.get("/console/results?period=2030-01-07").status_code == 404
    assert analyst.get(f"/console/results?period={PERIOD}&by=member").status_code == 400

    # the tile pools the stored per-funder pools; pooling the per-category pools instead gives the same
    with Session(engine) as s:
        pools = {dim: s.execute(select(ResultRow.data).where(ResultRow.dimension == dim)).scalars().all()
                 for dim in ("funder", "category")}
    by_funder, by_category = pool_groups(pools["funder"]), pool_groups(pools["category"])
    assert by_funder is not None and by_category is not None
    with_interval = [o for o in offers if o.get("units_cuped_ci_low") is not None
                     and o["units_cuped_ci_low"] < o["units_cuped_ci_high"]]  # a zero-width one has no weight
    assert by_funder[0] == by_category[0] == len(with_interval)
    assert by_funder[1:] == pytest.approx(by_category[1:], abs=1e-3)
    tile = analyst.get("/console/dashboard").get_data(as_text=True).split("Lift so far")[1][:600]
    assert re.search(r"[+-]\d+\.\d\d units", tile) and f"offers of the period {PERIOD}" in tile


def _identifiers(engine) -> set[str]:  # type: ignore[no-untyped-def]
    """Every member id, card number, name and list number of the chain (long enough to be telling)."""
    with engine.connect() as conn:
        found = set()
        for member_id, card, first, last, email, address in conn.execute(text(
                "SELECT member_id, card_number, first_name, last_name, email, address_line FROM members")):
            # a single first or last name can be a brand's or a product's word: the full name is telling
            found.update(v for v in (member_id, card, f"{first} {last}", email, address) if v and len(v.strip()) >= 4)
        found.update(conn.execute(text("SELECT list_number FROM shopping_lists")).scalars())
    return found


def test_portal_lift_analytics_and_statements(app, cli, engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _chain(cli, engine, tmp_path)
    from loyalty_engine.results.store import compute_period

    compute_period(engine, date.fromisoformat(PERIOD))
    cli("statements", "issue", "--period", PERIOD, "--as-of", ISSUE_ON, "--out", str(tmp_path / "st"))
    own, other = _funders(engine)[:2]
    add_user(engine, "maker", "manufacturer", manufacturer_id=own)
    _staff(engine)
    client = app.test_client()
    sign_in(client, "maker")

    with engine.connect() as conn:
        mine = conn.execute(select(ResultRow.data).where(ResultRow.dimension == "offer",
                                                         ResultRow.manufacturer_id == own)).scalars().all()
        others = conn.execute(select(ResultRow.data).where(ResultRow.dimension == "offer",
                                                           ResultRow.manufacturer_id == other)).scalars().all()
    lift = client.get("/portal/lift").get_data(as_text=True)
    assert mine and all(o["slug"] in lift for o in mine) and not any(o["slug"] in lift for o in others)
    lift_csv = client.get(f"/portal/lift.csv?period={PERIOD}").get_data(as_text=True)
    assert len(list(csv.DictReader(io.StringIO(lift_csv)))) == len(mine)

    analytics = client.get(f"/portal/analytics?period={PERIOD}")
    assert analytics.status_code == 200 and "Penetration" in analytics.get_data(as_text=True)
    analytics_csv = client.get(f"/portal/analytics.csv?period={PERIOD}")
    assert analytics_csv.status_code == 200 and analytics_csv.get_data(as_text=True).startswith("funder,period_start,level,")

    listing = client.get("/portal/statements").get_data(as_text=True)
    number, other_number = f"ST-{PERIOD.replace('-', '')}-{own}", f"ST-{PERIOD.replace('-', '')}-{other}"
    assert number in listing and other_number not in listing
    shown = client.get(f"/portal/statements/{number}").get_data(as_text=True)
    assert "Reconciliation" in shown
    pdf = client.get(f"/portal/statements/{number}.pdf").data
    assert pdf == (tmp_path / "st" / f"{number}.pdf").read_bytes()  # re-rendered: the same bytes as issued
    statement_csv = client.get(f"/portal/statements/{number}.csv").data
    assert statement_csv == (tmp_path / "st" / f"{number}.csv").read_bytes()
    for suffix in ("", ".csv", ".pdf"):  # another funder's statement: refused, per object
        assert client.get(f"/portal/statements/{other_number}{suffix}").status_code == 403
    assert client.get("/portal/statements/ST-20300101-NOPE").status_code == 404

    identifiers = _identifiers(engine)
    assert len(identifiers) > 600
    bodies = {"lift": lift, "lift.csv": lift_csv, "analytics": analytics.get_data(as_text=True),
              "analytics.csv": analytics_csv.get_data(as_text=True), "statements": listing, "statement": shown,
              "statement.csv": statement_csv.decode()}
    for name, body in bodies.items():
        leaked = [i for i in identifiers if i in body]
        assert not leaked, f"{name} shows member identifiers: {leaked[:5]}"
    assert not [i for i in identifiers if i.encode() in pdf]

    staff = app.test_client()
    sign_in(staff, "analyst")  # staff do not use the portal
    assert staff.get("/portal/statements").status_code == 403
