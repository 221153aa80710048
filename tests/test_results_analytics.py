"""Manufacturer analytics on a hand-made chain: every figure below is counted by hand.

Acme funds one coffee offer (scope: Acme Roast) reaching 30 members and a tea offer reaching
4; 12 more members are the coffee offer's hold-out. Before the period, members 1-10 bought
Acme's other coffee (same brand), 11-15 the store brand, 16-18 another national brand.
"""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import Engine

from loyalty_engine.list_numbers import make_list_number
from loyalty_engine.models import Manufacturer, Member, Product, Store
from loyalty_engine.models.lists import ListBuild, ListHoldout, ShoppingList, ShoppingListLine
from loyalty_engine.models.offers import Offer, OfferProduct
from loyalty_engine.models.scans import ScanLine, Transaction
from loyalty_engine.results.analytics import ADDITIVE, funder_analytics
from loyalty_engine.results.suppression import Relation, recoverable_groups
from sqlalchemy.orm import Session

P0, P1 = date(2027, 3, 1), date(2027, 3, 14)
CELLS = {**{m: ("national", "high") for m in range(1, 21)}, **{m: ("store", "low") for m in range(21, 28)},
         **{m: ("switcher", "medium") for m in range(28, 31)}}


def _scan(s: Session, member: int, product: int, day: date, qty: int, unit: int, n: list[int]) -> None:
    n[0] += 1
    tid = f"T{n[0]}"
    s.add(Transaction(transaction_id=tid, store_id="S1", member_key=member,
                      scanned_at_local=datetime(day.year, day.month, day.day, 12),
                      utc_offset_minutes=0, business_date=day, source="import"))
    s.add(ScanLine(transaction_id=tid, line_no=1, product_key=product, member_key=member, business_date=day,
                   quantity=qty, amount_cents=qty * unit, discount_cents=0))


def _offer(s: Session, slug: str, code: str, product: int, category: str) -> Offer:
    offer = Offer(slug=slug, offer_code=code, name=slug, funder_kind="manufacturer", manufacturer_id="ACME",
                  scope_kind="skus", scope_values=[slug], scope_category=category, segment_category=category,
                  benefit_kind="amount_off", benefit_low=100, benefit_medium=100, benefit_high=100,
                  valid_from=P0, valid_to=P1, status="active")
    s.add(offer)
    s.flush()
    s.add(OfferProduct(offer_id=offer.id, product_key=product))
    return offer


@pytest.fixture
def chain(engine: Engine) -> dict[str, int]:
    with Session(engine) as s:
        s.add_all([Store(id="S1", name="Main"), Store(id="S2", name="Lake"),
                   Manufacturer(id="ACME", name="Acme Foods"), Manufacturer(id="ZED", name="Zed Co")])
        s.flush()
        products = {}
        for sku, name, brand, btype, mfr, cat in [
            ("1", "Acme Roast", "Acme", "national", "ACME", "coffee"),
            ("2", "Acme Decaf", "Acme", "national", "ACME", "coffee"),
            ("3", "Zed Coffee", "Zed", "national", "ZED", "coffee"),
            ("4", "Store Coffee", "Store", "store", None, "coffee"),
            ("5", "Acme Tea", "Acme", "national", "ACME", "tea"),
        ]:
            p = Product(sku=sku, name=name, brand=brand, brand_type=btype, manufacturer_id=mfr, category=cat)
            s.add(p)
            s.flush()
            products[name] = p.id
        members = {}
        for m in range(1, 47):
            row = Member(member_id=f"M{m:03d}", card_number=f"40{m:05d}", first_name=f"Name{m}",
                         last_name="Secret", address_line=f"{m} Private Lane", home_store_id="S1")
            s.add(row)
            s.flush()
            members[m] = row.id
        coffee = _offer(s, "acme-roast", "100001", products["Acme Roast"], "coffee")
        tea = _offer(s, "acme-tea", "100002", products["Acme Tea"], "tea")
        build = ListBuild(period_start=P0, period_end=P1, cohort="A", as_of=P0, status="complete", holdout_seed=1)
        s.add(build)
        s.flush()
        for m in range(1, 35):
            s.add(ShoppingList(id=m, list_number=make_list_number(m), build_id=build.id, member_key=members[m],
                               store_id="S1" if m <= 25 else "S2", period_start=P0, period_end=P1, cohort="A"))
            s.flush()
            offer = coffee if m <= 30 else tea
            loyalty, tier = CELLS.get(m, ("national", "high"))
            s.add(ShoppingListLine(list_id=m, line_no=1, offer_id=offer.id, brand_loyalty=loyalty, usage_tier=tier,
                                   benefit_kind="amount_off", benefit_value=100, valid_from=P0, valid_to=P1))
        for m in range(35, 47):  # the coffee offer's hold-out
            s.add(ListHoldout(build_id=build.id, period_start=P0, member_key=members[m], offer_id=coffee.id,
                              brand_loyalty="national", usage_tier="high"))
        n = [0]
        pre = P0 - timedelta(weeks=4)
        for m in range(1, 11):
            _scan(s, members[m], products["Acme Decaf"], pre, 1, 700, n)
        for m in range(11, 16):
            _scan(s, members[m], products["Store Coffee"], pre, 1, 400, n)
        for m in range(16, 19):
            _scan(s, members[m], products["Zed Coffee"], pre, 1, 650, n)
        roast = products["Acme Roast"]
        for m in range(1, 6):  # two units on each of two days
            _scan(s, members[m], roast, date(2027, 3, 2), 2, 800, n)
            _scan(s, members[m], roast, date(2027, 3, 9), 2, 800, n)
        for m in range(11, 15):
            _scan(s, members[m], roast, date(2027, 3, 3), 1, 800, n)
        _scan(s, members[19], roast, date(2027, 3, 4), 1, 800, n)
        for m in (21, 28):
            _scan(s, members[m], roast, date(2027, 3, 5), 1, 800, n)
        _scan(s, members[16], roast, date(2027, 3, 10), 1, 800, n)
        _scan(s, members[31], products["Acme Tea"], date(2027, 3, 5), 1, 300, n)
        for m in range(35, 38):  # held-out members buy too
            _scan(s, members[m], roast, date(2027, 3, 5), 1, 800, n)
        s.commit()
    return members


def _rows(report) -> dict[tuple[str, str, str], dict]:  # type: ignore[no-untyped-def,type-arg]
    return {(r["level"], r["offer_code"], r["group"]): r for r in report.rows}


def test_trial_repeat_source_of_volume_and_penetration(engine: Engine, chain: dict[str, int]) -> None:
    with engine.connect() as conn:
        report = funder_analytics(conn, "ACME", P0, min_group_size=10, trial_weeks=12)
        raw = funder_analytics(conn, "ACME", P0, min_group_size=1, trial_weeks=12)
    rows = _rows(raw)
    offer = rows[("offer", "100001", "all")]
    assert (offer["members"], offer["buyers"], offer["units"], offer["sales_cents"]) == (30, 13, 28, 28 * 800)
    # 5 bought Acme before (not triers); 4 came from the store brand, 1 from Zed, 3 new to coffee
    assert (offer["trial"], offer["repeat"], offer["same_brand"], offer["from_store_brand"], offer["from_national"],
            offer["new_to_category"]) == (8, 5, 5, 4, 1, 3)
    assert offer["penetration"] == round(13 / 30, 4) and offer["units_per_buyer"] == round(28 / 13, 3)
    assert rows[("cell", "100001", "national:high")]["members"] == 20
    assert rows[("cell", "100001", "national:high")]["buyers"] == 11
    assert rows[("week", "100001", "2027-03-01")]["buyers"] == 12
    assert rows[("week", "100001", "2027-03-08")]["units"] == 5 * 2 + 1

    # with k = 10: the small cells, stores and weeks are hidden, and the tea offer
    shown = _rows(report)
    assert not shown[("cell", "100001", "national:high")]["suppressed"]
    assert shown[("cell", "100001", "store:low")]["suppressed"] and shown[("cell", "100001", "store:low")]["units"] is None
    assert shown[("cell", "100001", "switcher:medium")]["suppressed"]
    assert shown[("store", "100001", "S2")]["suppressed"] and shown[("store", "100001", "S1")]["suppressed"]
    assert shown[("week", "100001", "2027-03-08")]["suppressed"] and shown[("week", "100001", "2027-03-01")]["suppressed"]
    assert shown[("offer", "100002", "all")]["suppressed"]
    # the coffee offer stays published: the funder's total is hidden instead (cheaper)
    assert not shown[("offer", "100001", "all")]["suppressed"]


def test_no_suppressed_group_can_be_recovered_from_the_published_rows(engine: Engine, chain: dict[str, int]) -> None:
    """The attacker subtracts published siblings from published totals; every hidden group stays hidden."""
    with engine.connect() as conn:
        report = funder_analytics(conn, "ACME", P0, min_group_size=10)
    rows = report.rows
    hidden = {i for i, r in enumerate(rows) if r["suppressed"]}
    # the table's sums as a reader knows them: offer = its cells = its stores = its weeks, category = offers
    relations: list[Relation] = []
    by_offer: dict[str, int] = {r["offer_code"]: i for i, r in enumerate(rows) if r["level"] == "offer"}
    for level in ("cell", "store", "week"):
        for code, parent in by_offer.items():
            kids = tuple(i for i, r in enumerate(rows) if r["level"] == level and r["offer_code"] == code)
            relations.append(Relation(parent, kids))
    cats = {i: r["category"] for i, r in enumerate(rows) if r["level"] == "category"}
    for i, cat in cats.items():
        relations.append(Relation(i, tuple(by_offer[r["offer_code"]] for r in rows
                                           if r["level"] == "offer" and r["category"] == cat)))
    total = next(i for i, r in enumerate(rows) if r["level"] == "funder")
    relations.append(Relation(total, tuple(cats)))
    assert hidden and recoverable_groups(list(range(len(rows))), relations, hidden) == set()
    # and concretely: the hidden store:low cell's units are not total minus the shown cells
    shown_units = sum(r["units"] for r in rows if r["level"] == "cell" and not r["suppressed"])
    offer = rows[by_offer["100001"]]
    with engine.connect() as conn:
        raw = _rows(funder_analytics(conn, "ACME", P0, min_group_size=1))
    assert offer["units"] - shown_units != raw[("cell", "100001", "store:low")]["units"]


def test_no_member_identity_in_any_output(engine: Engine, chain: dict[str, int], cli) -> None:  # type: ignore[no-untyped-def]
    for fmt in ("json", "csv"):
        out = cli("analytics", "--funder", "ACME", "--period", "2027-03-01", "--format", fmt, "--min-group-size", "2").output
        for m in range(1, 47):
            for secret in (f"M{m:03d}", f"40{m:05d}", f"Name{m}", f"{m} Private Lane", make_list_number(m)):
                assert secret not in out
        assert "Secret" not in out
    data = json.loads(cli("analytics", "--funder", "ACME", "--period", "2027-03-01", "--format", "json").output)
    assert data["min_group_size"] == 10 and {r["level"] for r in data["rows"]} >= {"funder", "category", "offer", "cell"}
    assert set(data["rows"][0]) >= set(ADDITIVE)


def test_lift_against_the_hold_out_is_attached_where_both_groups_are_big_enough(engine: Engine,
                                                                                chain: dict[str, int]) -> None:
    with engine.connect() as conn:
        rows = _rows(funder_analytics(conn, "ACME", P0, min_group_size=10))
    coffee = rows[("offer", "100001", "all")]
    assert coffee["control_members"] == 12
    # treated: 28 units over 30 members; held out: 3 units over 12 (CUPED on the pre-period spend)
    assert coffee["lift_units"] is not None and coffee["lift_units_low"] < coffee["lift_units"] < coffee["lift_units_high"]
    assert rows[("cell", "100001", "national:high")]["lift_units"] is not None
    # the same estimate as the results' lift, which reads the database its own way
    from loyalty_engine.results.lift import offer_lift

    with engine.connect() as conn:
        reference = {r.outcome: r for r in offer_lift(conn, P0) if r.offer_slug == "acme-roast"}
    assert coffee["lift_units"] == round(reference["units"].cuped_lift, 4)
    assert coffee["lift_sales_high"] == round(reference["net_sales_cents"].cuped_ci_high, 4)


@pytest.mark.parametrize("args, message", [
    (["--funder", "NOPE", "--period", "2027-03-01"], "unknown funder 'NOPE'"),
    (["--funder", "ACME", "--period", "2027-03-02"], "unknown period 2027-03-02"),
    (["--funder", "ZED", "--period", "2027-03-01"], "ZED has no offers"),
])
def test_bad_input_exits_2(engine: Engine, chain: dict[str, int], cli, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    assert message in cli("analytics", *args, expect=2).output
