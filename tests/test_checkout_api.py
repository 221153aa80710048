"""Checkout through the HTTP API: quote, complete (exactly once), reasons, void, returns, member list."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import event, select, text

from loyalty_engine.models.checkout import Checkout, Redemption
from loyalty_engine.models.scans import ScanLine, Transaction
from test_checkout_support import NOON, PERIOD, TODAY, Chain, basket, chain  # noqa: F401

QUOTE = "/api/v1/checkout/quote"
COMPLETE = "/api/v1/checkout/complete"


def two_offer_list(chain: Chain, member: str = "M1") -> str:
    chain.offer("relief", ["000111", "000112"], "amount_off", 150)
    chain.offer("coffee", ["000311"], "percent_off", 2500, funded_share_bp=5000)
    chain.offer("dog", ["000511"], "amount_off", 300)
    return chain.shopping_list("ann", member, [{"offer": "relief"}, {"offer": "coffee"}, {"offer": "dog"}])


def test_quote_applies_list_offers_per_line_and_explains_the_rest(client, chain: Chain) -> None:
    number = two_offer_list(chain)
    body = basket(("000112", 1, 1299), ("000311", 1, 749), ("000411", 3, 59), identifier=number)
    response = client.post(QUOTE, json=body, headers=chain.headers())
    assert response.status_code == 200, response.json
    answer = response.json
    assert answer["status"] == "quoted"
    assert answer["member"] == {"member_id": "M1", "first_name": "Ann"}
    assert answer["shopping_list"]["list_number"] == number
    lines = {line["sku"]: line for line in answer["lines"]}
    assert lines["000112"]["discount_cents"] == 150
    assert lines["000112"]["net_amount_cents"] == 1149
    assert lines["000311"]["discount_cents"] == 187  # 25 % of 7.49 = 1.8725 -> 1.87
    assert lines["000411"]["discount_cents"] == 0
    by_offer = {r["list_line_no"]: r for r in answer["redemptions"]}
    assert by_offer[1]["funded_by"] == "manufacturer" and by_offer[1]["funder_cents"] == 150
    assert (by_offer[2]["funder_cents"], by_offer[2]["retailer_cents"]) == (94, 93)  # half of 1.87, half up
    assert answer["not_applied"] == [
        {"offer_id": chain.offers["dog"], "list_line_no": 3, "description": "dog offer", "reason": "not_in_basket",
         "message": "no item of the offer is in the basket"},
    ]
    assert answer["total_amount_cents"] == 1299 + 749 + 177
    assert answer["total_discount_cents"] == 337
    assert answer["total_due_cents"] == 1299 + 749 + 177 - 337
    assert answer["receipt"][0] == f"SHOPPING LIST {number}"
    assert answer["receipt"][-1].endswith("$3.37")
    # a quote changes nothing
    assert chain.offer_counters("relief") == (0, 0, 0)
    assert chain.line_redeemed(number, 1) == 0


def test_complete_records_the_basket_and_redemptions_once(client, chain: Chain) -> None:
    number = two_offer_list(chain)
    body = basket(("000111", 2, 899), ("000311", 1, 749), identifier=number, pos="P-77", tender=True)
    first = client.post(COMPLETE, json=body, headers={**chain.headers(), "X-Request-ID": "req-abc-1"})
    assert first.status_code == 200, first.json
    assert first.headers["X-Request-ID"] == "req-abc-1"
    answer = first.json
    assert answer["status"] == "completed" and answer["transaction_id"] == "S1:1:P-77"
    assert chain.offer_counters("relief") == (1, 150, 150)
    assert chain.offer_counters("coffee") == (1, 94, 187)
    assert chain.line_redeemed(number, 1) == 1

    # a retry is answered byte for byte and changes nothing
    again = client.post(COMPLETE, json=body, headers=chain.headers())
    assert again.status_code == 200 and again.data == first.data
    assert again.headers["Idempotent-Replay"] == "true"
    assert chain.offer_counters("relief") == (1, 150, 150)
    # same key, different body: conflict
    other = dict(body, lines=body["lines"][:1])
    conflict = client.post(COMPLETE, json=other, headers=chain.headers())
    assert conflict.status_code == 409 and conflict.json["code"] == "idempotency_conflict"

    with chain.session() as s:
        txn = s.get(Transaction, "S1:1:P-77")
        assert txn is not None and txn.source == "lane" and txn.business_date == TODAY
        assert txn.utc_offset_minutes == -360 and txn.scanned_at_local.hour == 12
        scan_lines = s.execute(select(ScanLine).where(ScanLine.transaction_id == "S1:1:P-77")
                               .order_by(ScanLine.line_no)).scalars().all()
        assert [(x.quantity, x.amount_cents, x.discount_cents) for x in scan_lines] == [(2, 1798 - 150, 150),
                                                                                         (1, 749 - 187, 187)]
        assert all(x.member_key == txn.member_key for x in scan_lines)
        rows = s.execute(select(Redemption).order_by(Redemption.list_line_no)).scalars().all()
        assert [(r.event, r.list_line_no, r.applications, r.discount_cents, r.funded_cents) for r in rows] == [
            ("redeemed", 1, 1, 150, 150), ("redeemed", 2, 1, 187, 94)]
        audit = rows[0]
        assert (audit.store_id, audit.lane_code, audit.request_id, audit.handling_fee_cents) == ("S1", "1", "req-abc-1", 8)
        assert audit.created_at is not None and audit.api_key_id is not None
        checkout = s.execute(select(Checkout)).scalar_one()
        assert checkout.response_body == first.data


def test_second_basket_finds_the_line_already_redeemed(client, chain: Chain) -> None:
    number = two_offer_list(chain)
    assert client.post(COMPLETE, json=basket(("000111", 1, 899), identifier=number, pos="A", tender=True),
                       headers=chain.headers()).status_code == 200
    second = client.post(QUOTE, json=basket(("000111", 1, 899), identifier=number, pos="B"), headers=chain.headers())
    reasons = {n["list_line_no"]: n["reason"] for n in second.json["not_applied"]}
    assert reasons[1] == "already_redeemed" and second.json["redemptions"] == []


def test_card_scan_finds_the_current_list(client, chain: Chain) -> None:
    number = two_offer_list(chain)
    answer = client.post(QUOTE, json=basket(("000111", 1, 899), identifier="4000001"), headers=chain.headers()).json
    assert answer["shopping_list"]["list_number"] == number
    assert answer["total_discount_cents"] == 150
    # a member without a current list: basket is recognised, nothing applies
    other = client.post(QUOTE, json=basket(("000111", 1, 899), identifier="4000002"), headers=chain.headers()).json
    assert other["member"]["member_id"] == "M2" and other["shopping_list"] is None and other["redemptions"] == []


def test_reasons_expired_budget_limit_minimum(client, chain: Chain) -> None:
    chain.offer("old", ["000111"], valid_to=TODAY - timedelta(days=1), valid_from=TODAY - timedelta(days=40))
    chain.offer("broke", ["000112"], budget_cents=1000)
    chain.offer("capped", ["000311"], max_redemptions=5)
    chain.offer("multi", ["000411"], min_quantity=4, value=50)
    number = chain.shopping_list("x", "M1", [{"offer": "old"}, {"offer": "broke"}, {"offer": "capped"},
                                             {"offer": "multi"}])
    with chain.engine.begin() as conn:
        from loyalty_engine.models.offers import Offer

        conn.execute(Offer.__table__.update().where(Offer.id == chain.offers["broke"]).values(funded_spent_cents=1000))
        conn.execute(Offer.__table__.update().where(Offer.id == chain.offers["capped"]).values(redeemed_count=5))
    body = basket(("000111", 1, 899), ("000112", 1, 1299), ("000311", 1, 749), ("000411", 3, 59), identifier=number)
    answer = client.post(QUOTE, json=body, headers=chain.headers()).json
    assert {n["list_line_no"]: n["reason"] for n in answer["not_applied"]} == {
        1: "expired", 2: "budget_exhausted", 3: "limit_reached", 4: "quantity_below_minimum"}


def test_complete_without_identifier_records_an_anonymous_basket(client, chain: Chain) -> None:
    response = client.post(COMPLETE, json=basket(("999999", 1, 120), pos="anon", tender=True), headers=chain.headers())
    assert response.status_code == 200 and response.json["member"] is None
    with chain.session() as s:
        line = s.execute(select(ScanLine).where(ScanLine.transaction_id == "S1:1:anon")).scalar_one()
        from loyalty_engine.models import Product

        product = s.get(Product, line.product_key)
        assert product is not None and product.sku == "999999" and product.is_placeholder


def test_void_reverses_redemptions_and_drops_the_basket(client, chain: Chain) -> None:
    number = two_offer_list(chain)
    client.post(COMPLETE, json=basket(("000111", 1, 899), ("000311", 1, 749), identifier=number, pos="V1",
                                      tender=True), headers=chain.headers())
    void = client.post("/api/v1/checkout/S1:1:V1/void", json={"store": "S1", "lane": "1", "reason": "customer left"},
                       headers=chain.headers())
    assert void.status_code == 200, void.json
    assert {(r["list_line_no"], r["discount_cents"]) for r in void.json["reversals"]} == {(1, 150), (2, 187)}
    assert chain.offer_counters("relief") == (0, 0, 0)
    assert chain.offer_counters("coffee") == (0, 0, 0)
    assert chain.line_redeemed(number, 1) == 0
    assert chain.ledger_net("relief") == (0, 0)
    with chain.session() as s:
        assert s.get(Transaction, "S1:1:V1") is None
        assert s.execute(select(Checkout.status)).scalar_one() == "voided"
    again = client.post("/api/v1/checkout/S1:1:V1/void", json={"store": "S1", "lane": "1"}, headers=chain.headers())
    assert again.status_code == 409 and again.json["code"] == "already_voided"
    unknown = client.post("/api/v1/checkout/S1:1:nope/void", json={"store": "S1", "lane": "1"}, headers=chain.headers())
    assert unknown.status_code == 404 and unknown.json["detail"]["field"] == "transaction_id"
    # the list line can be redeemed again
    redo = client.post(QUOTE, json=basket(("000111", 1, 899), identifier=number, pos="V2"), headers=chain.headers())
    assert redo.json["total_discount_cents"] == 150


def test_void_of_another_stores_sale_is_forbidden(client, chain: Chain) -> None:
    client.post(COMPLETE, json=basket(("000111", 1, 899), pos="X", tender=True), headers=chain.headers())
    other = client.post("/api/v1/checkout/S1:1:X/void", json={"store": "S2", "lane": "1"},
                        headers=chain.headers("S2", "1"))
    assert other.status_code == 403 and other.json["code"] == "wrong_store"


def test_return_against_the_original_sale_takes_the_discount_back(client, chain: Chain) -> None:
    chain.offer("relief", ["000111"], "amount_off", 100, redemption_limit=2)
    number = chain.shopping_list("ann", "M1", [{"offer": "relief", "limit": 2}])
    sale = client.post(COMPLETE, json=basket(("000111", 2, 899), identifier=number, pos="S", tender=True),
                       headers=chain.headers())
    assert sale.json["total_discount_cents"] == 200 and chain.line_redeemed(number, 1) == 2
    returned = basket(("000111", -1, 899), pos="R", identifier=number, original_transaction_id="S1:1:S",
                      tender={"method": "card", "amount_cents": -799})
    answer = client.post(COMPLETE, json=returned, headers=chain.headers())
    assert answer.status_code == 200, answer.json
    assert answer.json["reversals"] == [{"offer_id": chain.offers["relief"], "list_line_no": 1,
                                         "original_transaction_id": "S1:1:S", "applications": 1,
                                         "discount_cents": 100, "funder_cents": 100}]
    line = answer.json["lines"][0]
    assert (line["discount_cents"], line["net_amount_cents"]) == (-100, -799)  # refund 7.99, not 8.99
    assert chain.line_redeemed(number, 1) == 1
    assert chain.offer_counters("relief") == (1, 100, 100)
    assert chain.ledger_net("relief") == (1, 100)
    # returning the second unit without naming the sale: found from the member's history
    second = basket(("000111", -1, 899), pos="R2", identifier="4000001",
                    tender={"method": "card", "amount_cents": -799})
    answer2 = client.post(COMPLETE, json=second, headers=chain.headers())
    assert [r["applications"] for r in answer2.json["reversals"]] == [1]
    assert chain.offer_counters("relief") == (0, 0, 0)
    # a sale with returns against it can still be voided? no: the return basket itself cannot be voided
    refused = client.post("/api/v1/checkout/S1:1:R/void", json={"store": "S1", "lane": "1"}, headers=chain.headers())
    assert refused.status_code == 422 and refused.json["code"] == "return_not_voidable"


def test_return_of_an_unknown_or_voided_sale(client, chain: Chain) -> None:
    returned = basket(("000111", -1, 899), pos="R", tender=True, original_transaction_id="S1:1:none")
    returned["lines"][0]["amount_cents"] = -899
    missing = client.post(COMPLETE, json=returned, headers=chain.headers())
    assert missing.status_code == 404 and missing.json["detail"]["field"] == "original_transaction_id"
    client.post(COMPLETE, json=basket(("000111", 1, 899), pos="S", tender=True), headers=chain.headers())
    client.post("/api/v1/checkout/S1:1:S/void", json={"store": "S1", "lane": "1"}, headers=chain.headers())
    voided = client.post(COMPLETE, json=dict(returned, original_transaction_id="S1:1:S"), headers=chain.headers())
    assert voided.status_code == 409 and voided.json["code"] == "original_voided"


def test_member_list_for_lane_display(client, chain: Chain) -> None:
    number = two_offer_list(chain)
    response = client.get("/api/v1/members/4000001/list", headers=chain.headers())
    assert response.status_code == 200, response.json
    answer = response.json
    assert answer["list_number"] == number and answer["member"]["member_id"] == "M1"
    assert [line["line_no"] for line in answer["lines"]] == [1, 2, 3]
    assert answer["lines"][0]["skus"] == ["000111", "000112"]
    assert answer["period_start"] == PERIOD[0].isoformat()
    assert client.get("/api/v1/members/4000002/list", headers=chain.headers()).json["code"] == "no_current_list"
    assert client.get("/api/v1/members/nobody/list", headers=chain.headers()).status_code == 404
    past = client.get("/api/v1/members/4000001/list?as_of=2027-01-01", headers=chain.headers())
    assert past.status_code == 404
    assert client.get("/api/v1/members/4000001/list?as_of=notadate", headers=chain.headers()).status_code == 422


def test_a_retry_gets_the_first_answer_even_when_the_basket_would_now_be_refused(app, client, chain: Chain) -> None:
    number = two_offer_list(chain)
    body = basket(("000111", 1, 899), identifier=number, pos="LATE", tender=True)
    first = client.post(COMPLETE, json=body, headers=chain.headers())
    assert first.status_code == 200
    # a month later the same basket is too old to ring up, but its retry is still answered
    from loyalty_engine.clock import FixedClock

    service = app.extensions["loyalty_engine"]["checkout_service"]
    service.clock = FixedClock(NOON + timedelta(days=31))
    again = client.post(COMPLETE, json=body, headers=chain.headers())
    assert again.status_code == 200 and again.data == first.data
    assert again.headers["Idempotent-Replay"] == "true"
    refused = client.post(COMPLETE, json=dict(body, pos_transaction_id="NEW"), headers=chain.headers())
    assert refused.status_code == 422 and refused.json["code"] == "scanned_at_too_old"
    assert chain.offer_counters("relief") == (1, 150, 150)


def test_a_pooled_connection_the_server_dropped_is_replaced(app, client, chain: Chain, database_backend: str) -> None:
    """No pre-ping on a busy connection: a call that finds it dead is retried once on a new one."""
    if database_backend != "postgresql":
        pytest.skip("SQLite has no server connection to lose")
    number = two_offer_list(chain)
    # quotes and PostgreSQL's one-statement completes run on the autocommit pool
    engine = app.extensions["loyalty_engine"]["autocommit_engine"]
    invalidated: list[int] = []
    event.listen(engine, "invalidate", lambda *_: invalidated.append(1))

    def drop_pooled_connections() -> None:
        with engine.connect() as conn:  # the pool's idle connection
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with chain.engine.connect() as admin:
            assert admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
        time.sleep(0.2)

    quote = basket(("000111", 1, 899), identifier=number)
    assert client.post(QUOTE, json=quote, headers=chain.headers()).status_code == 200
    drop_pooled_connections()
    assert client.post(QUOTE, json=quote, headers=chain.headers()).json["total_discount_cents"] == 150
    assert invalidated  # the dead connection was found on use, not by a ping
    drop_pooled_connections()
    done = client.post(COMPLETE, json=basket(("000111", 1, 899), identifier=number, pos="D1", tender=True),
                       headers=chain.headers())
    assert done.status_code == 200 and done.json["total_discount_cents"] == 150
    assert chain.offer_counters("relief") == (1, 150, 150)


def test_card_scan_uses_the_stores_business_date(client, chain: Chain) -> None:
    """9 pm in Chicago on the 9th is already the 10th in UTC: the list current on the 9th applies."""
    chain.offer("relief", ["000111"], "amount_off", 150)
    early = chain.shopping_list("early", "M1", [{"offer": "relief"}], period=(PERIOD[0], TODAY - timedelta(days=1)))
    chain.shopping_list("late", "M1", [{"offer": "relief"}], period=(TODAY, PERIOD[1]))
    evening = NOON.replace(hour=3)  # 03:00 UTC on the 10th = 21:00 on the 9th in the store
    answer = client.post(QUOTE, json=basket(("000111", 1, 899), identifier="4000001", at=evening),
                         headers=chain.headers()).json
    assert answer["business_date"] == (TODAY - timedelta(days=1)).isoformat()
    assert answer["shopping_list"]["list_number"] == early


def _drop_idle_connections(engines, admin_engine) -> int:  # type: ignore[no-untyped-def]
    """Terminate, on the server, every idle connection these pools hold (as a restart or a proxy would)."""
    pids = set()
    for engine in engines:
        held = [engine.connect() for _ in range(max(1, engine.pool.checkedin()))]
        pids |= {conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() for conn in held}
        for conn in held:
            conn.close()
    with admin_engine.connect() as admin:
        for pid in pids:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    time.sleep(0.2)
    return len(pids)


def test_void_and_member_list_survive_a_dropped_connection(app, client, chain: Chain, database_backend: str) -> None:
    if database_backend != "postgresql":
        pytest.skip("SQLite has no server connection to lose")
    number = two_offer_list(chain)
    engines = [app.extensions["loyalty_engine"]["engine"], app.extensions["loyalty_engine"]["autocommit_engine"]]
    for pos in ("D1", "D2"):
        sale = client.post(COMPLETE, json=basket(("000111", 1, 899), identifier=number, pos=pos, tender=True),
                           headers=chain.headers())
        assert sale.status_code == 200
    # both pools in use once (the key is read in autocommit, the void writes in a transaction)
    assert client.post("/api/v1/checkout/S1:1:D2/void", json={"store": "S1", "lane": "1"},
                       headers=chain.headers()).status_code == 200
    assert _drop_idle_connections(engines, chain.engine)
    void = client.post("/api/v1/checkout/S1:1:D1/void", json={"store": "S1", "lane": "1"}, headers=chain.headers())
    assert void.status_code == 200, void.json
    assert chain.offer_counters("relief") == (0, 0, 0)
    assert _drop_idle_connections(engines, chain.engine)
    listed = client.get("/api/v1/members/4000001/list", headers=chain.headers())
    assert listed.status_code == 200, listed.json
