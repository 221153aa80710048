"""PostgreSQL's one-statement lane path: the same answers as the locked path, and a lost race retried.

The reads of a quote (and of a complete's first attempt) are one JSON statement; the writes of
a complete are one autocommit statement whose counter moves must all land, or it raises a
serialization failure and the complete is retried on locked reads.
"""
from __future__ import annotations

from typing import Any

import psycopg.errors
import pytest
from psycopg import _queries as psycopg_queries
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError

from loyalty_engine.checkout import single_statement
from loyalty_engine.checkout.lanes import LaneAuth, parse_key
from loyalty_engine.checkout.schemas import QuoteRequest
from loyalty_engine.models.checkout import Checkout, Redemption
from loyalty_engine.models.lists import ShoppingListLine
from loyalty_engine.models.scans import ScanLine, Transaction
from test_checkout_support import NOON, Chain, basket, chain  # noqa: F401

QUOTE = "/api/v1/checkout/quote"
COMPLETE = "/api/v1/checkout/complete"


@pytest.fixture
def _postgresql_only(database_backend: str) -> None:
    if database_backend != "postgresql":
        pytest.skip("the one-statement path is PostgreSQL's (SQLite takes its write lock up front)")


def test_hot_statements_stay_within_psycopg_parse_cache() -> None:
    """psycopg re-parses a statement's placeholders on every call beyond this length."""
    for sql in (single_statement.READ_BY_LIST, single_statement.READ_BY_CARD, single_statement.WRITE_COMPLETE):
        assert len(sql) <= psycopg_queries.MAX_CACHED_STATEMENT_LENGTH


def _list_with_scopes(chain: Chain) -> str:
    chain.offer("relief", ["000111", "000112", "000211"], "amount_off", 150)
    chain.offer("coffee", ["000311"], "percent_off", 2500, funded_share_bp=5000)
    chain.offer("dog", ["000511"], "amount_off", 300, stackable=True)
    return chain.shopping_list("ann", "M1", [{"offer": "relief", "limit": 2}, {"offer": "coffee"}, {"offer": "dog"}])


def _terms(app: Any, chain: Chain, body: dict[str, Any], *, lock: bool) -> tuple[Any, Any, Any]:
    from loyalty_engine.web.api import _service

    with app.app_context():
        service = _service()
    auth = parse_key(chain.headers()["Authorization"].removeprefix("Bearer "))
    req = QuoteRequest.model_validate(body)
    engine = service.engine if lock else service.read_engine
    with engine.connect() as conn:
        read = service._read(conn, LaneAuth(key=auth, lane=None), req, lock=lock, complete=False)
        if lock:
            conn.rollback()
    outcome = read.outcome
    return outcome.terms, outcome.evaluation, (outcome.member, outcome.shopping_list, read.basket.product_keys)


@pytest.mark.usefixtures("_postgresql_only")
@pytest.mark.parametrize("identifier", ["list", "card"])
def test_one_statement_read_equals_the_pipelined_read(app, chain: Chain, identifier: str) -> None:
    number = _list_with_scopes(chain)
    body = basket(("000112", 2, 1299), ("000211", 1, 499), ("000311", 1, 749), ("000411", 3, 59),
                  ("999999", 1, 100), identifier=number if identifier == "list" else "4000001")
    ident = body["identifier"]
    _terms(app, chain, basket(("000112", 1, 1299), ("000311", 1, 749), identifier=ident), lock=False)
    single = _terms(app, chain, body, lock=False)  # two skus' keys known from the read before
    again = _terms(app, chain, body, lock=False)  # all known now (the unknown sku still looked up)
    pipelined = _terms(app, chain, body, lock=True)
    assert single == pipelined == again
    terms, evaluation, (member, shopping_list, product_keys) = single
    assert member is not None and member.member_id == "M1" and shopping_list is not None
    assert product_keys[-1] is None  # the unknown sku
    scopes = {t.line_no: t.product_keys for t in terms.values()}
    # each scope narrowed to what the basket holds
    assert scopes == {1: {chain.products["000112"], chain.products["000211"]}, 2: {chain.products["000311"]},
                      3: frozenset()}
    assert evaluation.total_discount_cents > 0


@pytest.mark.usefixtures("_postgresql_only")
def test_expect_rows_raises_a_serialization_failure(engine) -> None:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT checkout_expect_rows(2, 2, 'offer')")).scalar() == 2
        with pytest.raises(DBAPIError) as caught:
            conn.execute(text("SELECT checkout_expect_rows(1, 2, 'offer')"))
        assert isinstance(caught.value.orig, psycopg.errors.SerializationFailure)
        assert "1 of 2 offer counters moved" in str(caught.value.orig)


@pytest.mark.usefixtures("_postgresql_only")
def test_a_race_lost_between_read_and_write_rolls_back_and_retries_under_locks(
        app, client, chain: Chain, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """Another lane redeems the line after this complete read it: nothing of the first try stays."""
    chain.offer("relief", ["000111"], "amount_off", 150)
    number = chain.shopping_list("ann", "M1", [{"offer": "relief"}])
    writes: list[int] = []
    original = single_statement.write_complete

    def other_lane_first(conn: Any, params: dict[str, Any]) -> int:
        writes.append(1)
        with chain.engine.begin() as other:  # the line's only redemption, taken meanwhile
            other.execute(update(ShoppingListLine).where(ShoppingListLine.offer_id == chain.offers["relief"])
                          .values(redeemed_count=1))
        return original(conn, params)

    monkeypatch.setattr(single_statement, "write_complete", other_lane_first)
    done = client.post(COMPLETE, json=basket(("000111", 1, 899), identifier=number, pos="R1", tender=True),
                       headers=chain.headers())
    assert done.status_code == 200, done.json
    assert writes == [1]  # the one-statement write ran once; the retry took the locked path
    assert done.json["total_discount_cents"] == 0
    assert [n["reason"] for n in done.json["not_applied"]] == ["already_redeemed"]
    assert chain.line_redeemed(number, 1) == 1  # never past its limit
    with chain.session() as s:
        assert s.scalar(select(func.count()).select_from(Checkout)) == 1
        assert s.scalar(select(func.count()).select_from(Redemption)) == 0
        assert s.scalar(select(func.count()).select_from(Transaction)) == 1
        assert s.scalar(select(func.count()).select_from(ScanLine)) == 1
    # and the retry of the same key replays that answer
    again = client.post(COMPLETE, json=basket(("000111", 1, 899), identifier=number, pos="R1", tender=True),
                        headers=chain.headers())
    assert again.data == done.data and again.headers["Idempotent-Replay"] == "true"


@pytest.mark.usefixtures("_postgresql_only")
def test_a_budget_used_up_meanwhile_is_not_overspent(app, client, chain: Chain,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from loyalty_engine.models.offers import Offer

    chain.offer("relief", ["000111"], "amount_off", 150, budget_cents=300)
    number = chain.shopping_list("ann", "M1", [{"offer": "relief"}])
    original = single_statement.write_complete

    def budget_spent_first(conn: Any, params: dict[str, Any]) -> int:
        with chain.engine.begin() as other:
            other.execute(update(Offer).where(Offer.id == chain.offers["relief"]).values(funded_spent_cents=200))
        return original(conn, params)

    monkeypatch.setattr(single_statement, "write_complete", budget_spent_first)
    done = client.post(COMPLETE, json=basket(("000111", 1, 899), identifier=number, pos="B1", tender=True),
                       headers=chain.headers())
    assert done.status_code == 200, done.json
    assert [n["reason"] for n in done.json["not_applied"]] == ["budget_exhausted"]
    assert chain.offer_counters("relief")[1] == 200
