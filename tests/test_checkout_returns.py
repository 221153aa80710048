"""Returns and voids: money stays right however an item comes back.

Returned units count against the sale they came from (by card or by the sale's id), are
bounded by what it sold and has not had back, the tender must cover what is due, and a
replayed complete tells the lane when its sale was voided since.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import pytest
from sqlalchemy import Engine, event, func, select

from loyalty_engine.models.checkout import Checkout, Redemption, ReturnedUnits
from loyalty_engine.models.scans import ScanLine
from test_checkout_support import Chain, basket, chain  # noqa: F401

COMPLETE = "/api/v1/checkout/complete"
QUOTE = "/api/v1/checkout/quote"


def _return(sku: str, units: int, price: int, pos: str, refund: int, **extra: Any) -> dict[str, Any]:
    body = basket((sku, -units, price), pos=pos, tender={"method": "card", "amount_cents": -refund}, **extra)
    return body


def _two_unit_sale(client, chain: Chain) -> str:  # type: ignore[no-untyped-def]
    """Two units of one product, one application of $1.50 (limit 1), half paid by the funder."""
    chain.offer("relief", ["000111"], "amount_off", 150, funded_share_bp=5000, handling_fee_cents=8)
    number = chain.shopping_list("ann", "M1", [{"offer": "relief"}])
    sale = client.post(COMPLETE, json=basket(("000111", 2, 899), identifier=number, pos="S", tender=True),
                       headers=chain.headers())
    assert sale.status_code == 200 and sale.json["total_discount_cents"] == 150
    assert chain.offer_counters("relief") == (1, 75, 150)
    return number


def _funder_net(chain: Chain) -> tuple[int, int]:
    with chain.session() as s:
        funded, fees = s.execute(select(func.coalesce(func.sum(Redemption.funded_cents), 0),
                                        func.coalesce(func.sum(Redemption.handling_fee_cents), 0))).one()
    return int(funded), int(fees)


@pytest.mark.parametrize("first, second", [("card", "card"), ("card", "linked"), ("linked", "card")])
def test_one_plus_one_returned_units_reverse_the_discount_however_returned(client, chain: Chain, first: str,
                                                                           second: str) -> None:
    number = _two_unit_sale(client, chain)

    def how(kind: str) -> dict[str, Any]:
        # by card: the member's card, no sale named; linked: the sale's transaction id
        return {"identifier": "4000001"} if kind == "card" else {"original_transaction_id": "S1:1:S"}

    one = client.post(COMPLETE, json=_return("000111", 1, 899, "R1", 899, **how(first)), headers=chain.headers())
    assert one.status_code == 200, one.json
    assert one.json["reversals"] == []  # the unit kept still earns the one application
    assert one.json["total_due_cents"] == -899
    two = client.post(COMPLETE, json=_return("000111", 1, 899, "R2", 749, **how(second)), headers=chain.headers())
    assert two.status_code == 200, two.json
    assert [(r["applications"], r["discount_cents"], r["funder_cents"]) for r in two.json["reversals"]] == [(1, 150, 75)]
    assert two.json["total_due_cents"] == -749  # the discount comes back out of the refund
    # a retried return gets its first answer, though its units are no longer returnable
    again = client.post(COMPLETE, json=_return("000111", 1, 899, "R2", 749, **how(second)), headers=chain.headers())
    assert again.status_code == 200 and again.data == two.data and again.headers["Idempotent-Replay"] == "true"
    # the member paid 17.98 - 1.50 and got 8.99 + 7.49 back; the funder is charged nothing
    assert chain.offer_counters("relief") == (0, 0, 0)
    assert chain.line_redeemed(number, 1) == 0
    assert chain.ledger_net("relief") == (0, 0)
    assert _funder_net(chain) == (0, 0)
    with chain.session() as s:
        units = s.execute(select(ReturnedUnits.units).order_by(ReturnedUnits.id)).scalars().all()
        assert units == [1, 1]
        assert set(s.execute(select(Checkout.original_transaction_id).where(Checkout.kind == "return")).scalars()) == {"S1:1:S"}


def test_returns_are_bounded_by_what_was_sold_and_not_yet_returned(client, chain: Chain) -> None:
    _two_unit_sale(client, chain)
    fifty = _return("000111", 50, 899, "R50", 50 * 899, original_transaction_id="S1:1:S")
    refused = client.post(COMPLETE, json=fifty, headers=chain.headers())
    assert refused.status_code == 422 and refused.json["code"] == "return_exceeds_sale", refused.json
    assert refused.json["detail"]["returnable"] == 2 and refused.json["detail"]["field"] == "lines"
    assert refused.json["detail"]["sku"] == "000111" and "50 units of sku 000111" in refused.json["message"]
    quote = {k: v for k, v in fifty.items() if k != "tender"}
    assert client.post(QUOTE, json=quote, headers=chain.headers()).json["code"] == "return_exceeds_sale"
    by_card = _return("000111", 3, 899, "R3", 3 * 899, identifier="4000001")
    assert client.post(COMPLETE, json=by_card, headers=chain.headers()).json["code"] == "return_exceeds_sale"
    never_sold = _return("000311", 1, 749, "RX", 749, original_transaction_id="S1:1:S")
    assert client.post(COMPLETE, json=never_sold, headers=chain.headers()).json["code"] == "return_exceeds_sale"
    unknown_sku = _return("999999", 1, 100, "RU", 100, identifier="4000001")
    assert client.post(COMPLETE, json=unknown_sku, headers=chain.headers()).json["code"] == "return_exceeds_sale"
    with chain.session() as s:  # nothing of the refused returns was recorded
        assert s.execute(select(func.count()).select_from(Checkout)).scalar_one() == 1
        assert s.execute(select(func.count()).select_from(ScanLine).where(ScanLine.quantity < 0)).scalar_one() == 0
    # both units back (by card, then by the sale's id): a third is refused however it comes back
    assert client.post(COMPLETE, json=_return("000111", 1, 899, "R1", 899, identifier="4000001"),
                       headers=chain.headers()).status_code == 200
    assert client.post(COMPLETE, json=_return("000111", 1, 899, "R2", 749, original_transaction_id="S1:1:S"),
                       headers=chain.headers()).status_code == 200
    for extra in ({"identifier": "4000001"}, {"original_transaction_id": "S1:1:S"}):
        again = client.post(COMPLETE, json=_return("000111", 1, 899, "R9", 899, **extra), headers=chain.headers())
        assert again.status_code == 422 and again.json["code"] == "return_exceeds_sale"
    # a return with neither card nor sale is not linked to any sale (the store's own policy applies)
    anonymous = client.post(COMPLETE, json=_return("000111", 1, 899, "RA", 899), headers=chain.headers())
    assert anonymous.status_code == 200 and anonymous.json["reversals"] == []
    assert chain.offer_counters("relief") == (0, 0, 0)


def test_card_returns_are_matched_to_the_members_sales_newest_first(client, chain: Chain) -> None:
    chain.offer("relief", ["000111"], "amount_off", 100, redemption_limit=3)
    number = chain.shopping_list("ann", "M1", [{"offer": "relief", "limit": 3}])
    for pos in ("A", "B"):  # two sales of one unit each, each redeeming once
        sale = client.post(COMPLETE, json=basket(("000111", 1, 899), identifier=number, pos=pos, tender=True),
                           headers=chain.headers())
        assert sale.json["total_discount_cents"] == 100
    both = client.post(COMPLETE, json=_return("000111", 2, 899, "R", 2 * 799, identifier="4000001"),
                       headers=chain.headers())
    assert both.status_code == 200, both.json
    assert sorted(r["original_transaction_id"] for r in both.json["reversals"]) == ["S1:1:A", "S1:1:B"]
    assert both.json["lines"][0]["discount_cents"] == -200
    assert chain.offer_counters("relief") == (0, 0, 0) and chain.line_redeemed(number, 1) == 0


@contextmanager
def _statements() -> Iterator[list[str]]:
    """The SQL every engine sends meanwhile (lower case, white space folded)."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        seen.append(" ".join(statement.lower().split()))

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def test_a_card_return_over_many_sales_reads_them_in_one_query_each(client, chain: Chain,
                                                                     database_backend: str) -> None:
    """What each sale sold and had back is kept apart per sale, read in one grouped query for
    all of them (not two per sale); a quote reads the basket's products once."""
    chain.offer("relief", ["000111"], "amount_off", 100, redemption_limit=9)
    number = chain.shopping_list("ann", "M1", [{"offer": "relief", "limit": 9}])
    for pos, units in (("A", 2), ("B", 1), ("C", 3)):  # C is the newest
        sale = client.post(COMPLETE, json=basket(("000111", units, 899), identifier=number, pos=pos, tender=True),
                           headers=chain.headers())
        assert sale.status_code == 200, sale.json
    back_c = client.post(COMPLETE, json=_return("000111", 2, 899, "RC", 2 * 799, original_transaction_id="S1:1:C"),
                         headers=chain.headers())
    assert back_c.status_code == 200, back_c.json
    with _statements() as statements:
        # matched newest first: C's last unit, B's one, one of A's two
        three = client.post(COMPLETE, json=_return("000111", 3, 899, "R3", 3 * 799, identifier="4000001"),
                            headers=chain.headers())
    assert three.status_code == 200, three.json
    assert sorted(r["original_transaction_id"] for r in three.json["reversals"]) == ["S1:1:A", "S1:1:B", "S1:1:C"]
    grouped = [s for s in statements if "sum(" in s and "group by" in s]
    assert len([s for s in grouped if "from scan_lines" in s]) == 1, grouped
    assert len([s for s in grouped if "from returned_units" in s]) == 1, grouped
    with chain.session() as s:
        returned = s.execute(select(Checkout.pos_transaction_id, ReturnedUnits.units)
                             .join(Checkout, Checkout.id == ReturnedUnits.original_checkout_id)
                             .where(ReturnedUnits.return_checkout_id == select(Checkout.id)
                                    .where(Checkout.pos_transaction_id == "R3").scalar_subquery())).all()
    assert sorted(tuple(r) for r in returned) == [("A", 1), ("B", 1), ("C", 1)]
    # one of A's units is left: two more are refused, the quote says one is returnable
    quote = {k: v for k, v in _return("000111", 2, 899, "R4", 2 * 899, identifier="4000001").items() if k != "tender"}
    with _statements() as statements:
        refused = client.post(QUOTE, json=quote, headers=chain.headers())
    assert refused.json["code"] == "return_exceeds_sale" and refused.json["detail"]["returnable"] == 1
    # PostgreSQL reads the products inside its one read statement; SQLite in one of its own
    product_reads = [s for s in statements if s.startswith("select products.sku, products.id from products")]
    assert len(product_reads) == (0 if database_backend == "postgresql" else 1), product_reads


def test_a_tender_below_the_amount_due_is_refused(client, chain: Chain) -> None:
    chain.offer("relief", ["000111"], "amount_off", 150)
    number = chain.shopping_list("ann", "M1", [{"offer": "relief"}])
    short = basket(("000111", 1, 899), ("000411", 1, 59), identifier=number, pos="T",
                   tender={"method": "cash", "amount_cents": 807})
    refused = client.post(COMPLETE, json=short, headers=chain.headers())
    assert refused.status_code == 422 and refused.json["code"] == "tender_short", refused.json
    assert refused.json["detail"] == {"field": "tender.amount_cents", "amount_due_cents": 808, "tendered_cents": 807}
    assert chain.offer_counters("relief") == (0, 0, 0)
    with chain.session() as s:
        assert s.execute(select(func.count()).select_from(Checkout)).scalar_one() == 0
    exact = client.post(COMPLETE, json=dict(short, tender={"method": "cash", "amount_cents": 808}),
                        headers=chain.headers())
    assert exact.status_code == 200 and exact.json["total_due_cents"] == 808
    # a refund may not pay out more than is due back (the discount kept on the sale comes back out)
    too_much = _return("000111", 1, 899, "R", 899, original_transaction_id="S1:1:T")
    refused_refund = client.post(COMPLETE, json=too_much, headers=chain.headers())
    assert refused_refund.status_code == 422 and refused_refund.json["code"] == "tender_short"
    assert refused_refund.json["detail"]["amount_due_cents"] == -749
    assert client.post(COMPLETE, json=_return("000111", 1, 899, "R", 749, original_transaction_id="S1:1:T"),
                       headers=chain.headers()).status_code == 200


def test_a_replayed_complete_of_a_voided_sale_says_it_was_voided(client, chain: Chain) -> None:
    chain.offer("relief", ["000111"], "amount_off", 150)
    number = chain.shopping_list("ann", "M1", [{"offer": "relief"}])
    body = basket(("000111", 1, 899), identifier=number, pos="V", tender=True)
    first = client.post(COMPLETE, json=body, headers=chain.headers())
    assert client.post(COMPLETE, json=body, headers=chain.headers()).data == first.data
    void = client.post("/api/v1/checkout/S1:1:V/void", json={"store": "S1", "lane": "1"}, headers=chain.headers())
    assert void.status_code == 200
    replays = [client.post(COMPLETE, json=body, headers=chain.headers()) for _ in range(2)]
    assert replays[0].status_code == 200 and replays[0].headers["Idempotent-Replay"] == "true"
    assert replays[0].json["status"] == "voided"
    assert replays[0].json["voided_at"] == void.json["voided_at"]
    assert replays[0].data == replays[1].data  # byte for byte, every time in this state
    assert {k: v for k, v in replays[0].json.items() if k not in ("status", "voided_at")} == \
        {k: v for k, v in first.json.items() if k != "status"}
    assert chain.offer_counters("relief") == (0, 0, 0)


def test_a_sale_with_returned_items_cannot_be_voided(client, chain: Chain) -> None:
    _two_unit_sale(client, chain)
    assert client.post(COMPLETE, json=_return("000111", 1, 899, "R1", 899, identifier="4000001"),
                       headers=chain.headers()).status_code == 200
    void = client.post("/api/v1/checkout/S1:1:S/void", json={"store": "S1", "lane": "1"}, headers=chain.headers())
    assert void.status_code == 409 and void.json["code"] == "sale_has_returns"
    assert chain.offer_counters("relief") == (1, 75, 150)
