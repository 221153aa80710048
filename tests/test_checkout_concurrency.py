"""Exactly-once under concurrency: lanes completing at the same moment, from threads and processes.

Each scenario fires more completes than the limits allow, all released together, then counts
what was redeemed: in the response bodies, in the counters and in the redemption ledger.
"""
from __future__ import annotations

import multiprocessing
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import func, select

from loyalty_engine.config import Config
from loyalty_engine.models import Member
from loyalty_engine.models.checkout import Checkout, Redemption
from test_checkout_support import NOON, Chain, basket, chain  # noqa: F401

COMPLETE = "/api/v1/checkout/complete"


def _fire(app, requests: list[tuple[dict[str, Any], dict[str, str]]]) -> list[tuple[int, bytes]]:  # type: ignore[no-untyped-def]
    """Send all requests at once from one thread each."""
    barrier = threading.Barrier(len(requests))

    def send(item: tuple[dict[str, Any], dict[str, str]]) -> tuple[int, bytes]:
        client = app.test_client()
        barrier.wait()
        response = client.post(COMPLETE, json=item[0], headers=item[1])
        return response.status_code, response.data

    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(send, requests))


def _process_worker(args: tuple[str, str, float, list[tuple[dict[str, Any], dict[str, str]]]]) -> list[tuple[int, bytes]]:
    """Runs in a separate process: its own app, engine and connections."""
    from loyalty_engine.app import create_app, dispose_engines
    from loyalty_engine.clock import FixedClock

    db_url, instance, start_at, requests = args
    app = create_app(Config(database_url=db_url, instance_path=instance, secret_key="concurrency").resolved())
    app.extensions["loyalty_engine"]["clock"] = FixedClock(NOON)
    client = app.test_client()
    client.get("/api/v1/health")  # warm up imports before the start line
    time.sleep(max(0.0, start_at - time.time()))
    out = [(r.status_code, r.data) for r in (client.post(COMPLETE, json=b, headers=h) for b, h in requests)]
    dispose_engines(app)
    return out


def _fire_processes(config: Config, requests: list[tuple[dict[str, Any], dict[str, str]]], processes: int = 4) -> list[tuple[int, bytes]]:
    chunks = [requests[i::processes] for i in range(processes)]
    start_at = time.time() + 1.5
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        results = pool.map(_process_worker, [(config.database_url, str(config.instance_path), start_at, c) for c in chunks])
    return [item for chunk in results for item in chunk]


def _members(chain: Chain, count: int) -> list[str]:
    with chain.session() as s:
        for i in range(count):
            s.add(Member(member_id=f"C{i}", card_number=f"C{i}", first_name="Con"))
        s.commit()
    return [f"C{i}" for i in range(count)]


def _redeemed_rows(chain: Chain, slug: str) -> int:
    with chain.session() as s:
        return s.execute(select(func.count()).select_from(Redemption)
                         .where(Redemption.offer_id == chain.offers[slug], Redemption.event == "redeemed")).scalar_one()


def _lanes(chain: Chain, count: int) -> list[dict[str, str]]:
    return [chain.headers("S1", f"L{i}") for i in range(count)]


def test_same_list_scanned_at_many_lanes_at_once_threads(app, chain: Chain) -> None:
    chain.offer("relief", ["000111"], redemption_limit=2)
    number = chain.shopping_list("ann", "M1", [{"offer": "relief", "limit": 2}])
    lanes = _lanes(chain, 8)
    requests = [(basket(("000111", 1, 899), identifier=number, lane=f"L{i}", pos=f"T{i}", tender=True), lanes[i])
                for i in range(8)]
    results = _fire(app, requests)
    assert [status for status, _ in results] == [200] * 8
    discounted = sum(b'"redemptions":[]' not in body for _, body in results)
    assert discounted == 2
    assert chain.line_redeemed(number, 1) == 2
    assert chain.offer_counters("relief") == (2, 200, 200)
    assert _redeemed_rows(chain, "relief") == 2


def test_offer_cap_and_budget_across_lists_threads(app, chain: Chain) -> None:
    members = _members(chain, 10)
    chain.offer("capped", ["000311"], value=150, max_redemptions=5)
    chain.offer("budgeted", ["000111"], value=100, budget_cents=300)
    numbers = [chain.shopping_list(m, m, [{"offer": "capped"}, {"offer": "budgeted"}]) for m in members]
    lanes = _lanes(chain, 10)
    requests = [(basket(("000311", 1, 749), ("000111", 1, 899), identifier=n, lane=f"L{i}", pos=f"T{i}", tender=True),
                 lanes[i]) for i, n in enumerate(numbers)]
    results = _fire(app, requests)
    assert [status for status, _ in results] == [200] * 10
    assert chain.offer_counters("capped") == (5, 750, 750)
    assert chain.offer_counters("budgeted") == (3, 300, 300)
    assert _redeemed_rows(chain, "capped") == 5 and _redeemed_rows(chain, "budgeted") == 3
    assert sum(b'"reason":"limit_reached"' in body for _, body in results) == 5
    assert sum(b'"reason":"budget_exhausted"' in body for _, body in results) == 7


def test_same_idempotency_key_at_once_records_one_checkout(app, chain: Chain) -> None:
    chain.offer("relief", ["000111"])
    number = chain.shopping_list("ann", "M1", [{"offer": "relief"}])
    body = basket(("000111", 1, 899), identifier=number, pos="SAME", tender=True)
    results = _fire(app, [(body, chain.headers())] * 6)
    assert {status for status, _ in results} == {200}
    assert len({data for _, data in results}) == 1  # every caller got the first answer, byte for byte
    with chain.session() as s:
        assert s.execute(select(func.count()).select_from(Checkout)).scalar_one() == 1
    assert chain.offer_counters("relief") == (1, 100, 100)


def test_concurrent_completes_from_processes(chain: Chain, config: Config) -> None:
    members = _members(chain, 12)
    chain.offer("capped", ["000311"], value=150, max_redemptions=4)
    chain.offer("shared", ["000111"], value=100, redemption_limit=3)
    shared = chain.shopping_list("shared", "M1", [{"offer": "shared", "limit": 3}])
    numbers = [chain.shopping_list(m, m, [{"offer": "capped"}]) for m in members]
    lanes = _lanes(chain, 12)
    requests = [(basket(("000311", 1, 749), identifier=n, lane=f"L{i}", pos=f"P{i}", tender=True), lanes[i])
                for i, n in enumerate(numbers)]
    requests += [(basket(("000111", 1, 899), identifier=shared, lane=f"L{i}", pos=f"Q{i}", tender=True), lanes[i])
                 for i in range(12)]
    # and a retried key from two processes at once
    requests += [(basket(("000411", 1, 59), lane="L0", pos="DUP", tender=True), lanes[0])] * 2
    results = _fire_processes(config, requests)
    assert [status for status, _ in results] == [200] * len(requests)
    assert chain.offer_counters("capped") == (4, 600, 600)
    assert chain.offer_counters("shared") == (3, 300, 300)
    assert chain.line_redeemed(shared, 1) == 3
    assert _redeemed_rows(chain, "capped") == 4 and _redeemed_rows(chain, "shared") == 3
    with chain.session() as s:
        assert s.execute(select(func.count()).select_from(Checkout)).scalar_one() == 25


def test_voids_and_returns_of_the_same_sales_at_once_never_deadlock(app, chain: Chain, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Each sale is voided at one lane while a unit of it is returned at another, all at once.

    The return scans the list (its lines) and names the sale; the void starts from the sale.
    Both take the one lock order (sale, list lines, offers), so they queue instead of
    deadlocking; exactly one of each pair wins and the counters agree with the ledger.
    """
    from loyalty_engine.checkout import service

    seen: list[str | None] = []
    transient = service._is_transient

    def recording(exc):  # type: ignore[no-untyped-def]
        seen.append(getattr(exc.orig, "sqlstate", None))
        return transient(exc)

    monkeypatch.setattr(service, "_is_transient", recording)
    sales = 6
    chain.offer("relief", ["000111"], "amount_off", 100, funded_share_bp=5000, redemption_limit=2 * sales)
    chain.offer("coffee", ["000311"], "amount_off", 50, redemption_limit=sales)
    number = chain.shopping_list("ann", "M1", [{"offer": "relief", "limit": 2 * sales}, {"offer": "coffee",
                                                                                       "limit": sales}])
    client = app.test_client()
    for i in range(sales):
        sale = client.post(COMPLETE, json=basket(("000111", 2, 899), ("000311", 1, 749), identifier=number,
                                                 pos=f"S{i}", tender=True), headers=chain.headers())
        assert sale.status_code == 200 and sale.json["total_discount_cents"] == 250
    requests: list[tuple[str, dict[str, Any], dict[str, str]]] = []
    for i in range(sales):
        requests.append((f"/api/v1/checkout/S1:1:S{i}/void", {"store": "S1", "lane": "V"}, chain.headers("S1", "V")))
        returned = basket(("000111", -2, 899), ("000311", -1, 749), identifier=number, lane="R", pos=f"R{i}",
                          original_transaction_id=f"S1:1:S{i}", tender={"method": "card", "amount_cents": -2147})
        requests.append((COMPLETE, returned, chain.headers("S1", "R")))
    barrier = threading.Barrier(len(requests))

    def send(item: tuple[str, dict[str, Any], dict[str, str]]) -> tuple[int, Any]:
        local = app.test_client()
        barrier.wait()
        response = local.post(item[0], json=item[1], headers=item[2])
        return response.status_code, response.json

    with ThreadPoolExecutor(len(requests)) as pool:
        results = list(pool.map(send, requests))
    for i in range(sales):
        void, returned = results[2 * i], results[2 * i + 1]
        outcome = (void[0], void[1].get("code"), returned[0], returned[1].get("code"))
        assert outcome in {(200, None, 409, "original_voided"), (409, "sale_has_returns", 200, None)}, outcome
    assert "40P01" not in seen  # no deadlock was detected (and retried)
    with chain.session() as s:
        for slug in ("relief", "coffee"):
            apps, discount = chain.ledger_net(slug)
            redeemed, funded, given = chain.offer_counters(slug)
            assert (redeemed, given) == (apps, discount)
            funded_net = s.execute(select(func.coalesce(func.sum(Redemption.funded_cents), 0))
                                   .where(Redemption.offer_id == chain.offers[slug])).scalar_one()
            assert funded == funded_net
        assert chain.line_redeemed(number, 1) == chain.ledger_net("relief")[0]
        assert chain.line_redeemed(number, 2) == chain.ledger_net("coffee")[0]
        # every sale was either voided or fully returned: nothing is left redeemed
        assert chain.offer_counters("relief") == (0, 0, 0) and chain.offer_counters("coffee") == (0, 0, 0)
        assert s.execute(select(func.count()).select_from(Checkout).where(Checkout.kind == "return")).scalar_one() \
            == sum(r[0] == 200 for r in results[1::2])
