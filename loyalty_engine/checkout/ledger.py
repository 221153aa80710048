"""What a complete writes: the redemption ledger's rows, the counter moves and the scan lines.

Row builders shared by both write paths: the locked path's batched steps
(:func:`redeem_steps`, :func:`basket_steps`; per dialect, see :class:`.queries.LaneQueries`)
and PostgreSQL's one-statement write (:func:`counter_moves`, :mod:`.single_statement`).
Counters move in ascending offer id order, the lock order of :mod:`.returns`.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Sequence

import orjson

from . import rules, single_statement
from .batch import MANY, ROWCOUNT, Step
from .lanes import LaneIdentity
from .queries import INSERT_REDEMPTIONS, INSERT_SCAN_LINES, INSERT_TRANSACTION, REDEEM_LINES, REDEEM_OFFERS, LaneQueries
from .records import Basket, Outcome
from .schemas import QuoteRequest


def redeem_steps(q: LaneQueries, lane: LaneIdentity, outcome: Outcome, checkout_id: int, txn_id: str,
                 business_date: date, request_id: str, now: datetime) -> list[Step]:
    """The locked path's redemption writes: list-line and offer counters moved conditionally, then the ledger."""
    applied = outcome.evaluation.applied
    if not applied:
        return []
    assert outcome.shopping_list is not None and outcome.member is not None
    per_checkout = dict(
        event="redeemed", checkout_id=checkout_id, transaction_id=txn_id, list_id=outcome.shopping_list.list_id,
        member_key=outcome.member.member_key, store_id=lane.store_id, lane_code=lane.lane_code,
        api_key_id=lane.api_key_id, business_date=business_date, request_id=request_id, created_at=now,
    )
    rows = ledger_rows(outcome)
    offers = offer_totals(applied)
    if q.postgresql:
        lines = [{"id": a.list_line_id, "n": a.applications} for a in applied]
        moves = [{"id": o, "n": n, "f": f, "d": d} for o, (n, f, d) in offers.items()]
        return [
            Step(q.lock_offers, {"offer_ids": list(offers)}, ROWCOUNT),
            Step(q.move_lines, {"moves": json_rows(lines)}, ROWCOUNT, expect=len(lines)),
            Step(q.move_offers, {"moves": json_rows(moves)}, ROWCOUNT, expect=len(moves)),
            Step(q.insert_redemptions, {**per_checkout, "redeemed": json_rows(rows)}, ROWCOUNT),
        ]
    return [
        Step(REDEEM_LINES, [{"b_id": a.list_line_id, "b_n": a.applications} for a in applied], MANY,
             expect=len(applied)),
        # row locks in ascending offer id order: no deadlock between lanes
        Step(REDEEM_OFFERS, [{"b_id": o, "b_n": n, "b_f": f, "b_d": d} for o, (n, f, d) in offers.items()],
             MANY, expect=len(offers)),
        Step(INSERT_REDEMPTIONS, [{**per_checkout, "reverses_id": None, "reversal_kind": None, **row}
                                  for row in rows], MANY),
    ]


def basket_steps(q: LaneQueries, req: QuoteRequest, basket: Basket, txn_id: str, member_key: int | None,
                 discounts: dict[int, int], clawbacks: dict[int, int]) -> list[Step]:
    """The locked path's basket writes: the lane transaction and its scan lines."""
    lines = scan_line_rows(req, basket, discounts, clawbacks)
    per_basket = {"transaction_id": txn_id, "member_key": member_key, "business_date": basket.business_date}
    if q.postgresql:
        scan_lines = Step(q.insert_scan_lines, {**per_basket, "lines": json_rows(lines)}, ROWCOUNT)
    else:
        scan_lines = Step(INSERT_SCAN_LINES, [{**per_basket, **line} for line in lines], MANY)
    return [
        Step(INSERT_TRANSACTION, dict(
            transaction_id=txn_id, store_id=req.store, member_key=member_key,
            scanned_at_local=basket.scanned_at_local, utc_offset_minutes=basket.utc_offset_minutes,
            business_date=basket.business_date, source="lane",
        ), ROWCOUNT),
        scan_lines,
    ]


def ledger_rows(outcome: Outcome) -> list[dict[str, Any]]:
    """The per-offer part of the ``redeemed`` ledger rows of a complete."""
    rows = []
    for a in outcome.evaluation.applied:
        offer = outcome.terms[a.list_line_id].offer
        rows.append(dict(
            list_line_id=a.list_line_id, list_line_no=a.list_line_no, offer_id=a.offer_id,
            applications=a.applications, units=a.units, discount_cents=a.discount_cents,
            funded_cents=a.funded_cents, handling_fee_cents=a.handling_fee_cents, funder_kind=offer.funder_kind,
            manufacturer_id=offer.manufacturer_id,
        ))
    return rows


def offer_totals(applied: Sequence[rules.AppliedOffer]) -> dict[int, list[int]]:
    """offer id -> [applications, funded cents, discount cents], in ascending id order (the lock order)."""
    offers: dict[int, list[int]] = {}
    for a in sorted(applied, key=lambda a: a.offer_id):
        total = offers.setdefault(a.offer_id, [0, 0, 0])
        total[0] += a.applications
        total[1] += a.funded_cents
        total[2] += a.discount_cents
    return offers


def counter_moves(applied: Sequence[rules.AppliedOffer]) -> dict[str, Any]:
    """The one-statement write's counter parameters: list lines and offers, ascending id."""
    by_line = sorted(applied, key=lambda a: a.list_line_id)
    offers = offer_totals(applied)
    array = single_statement.int_array
    return {
        "line_ids": array(a.list_line_id for a in by_line), "line_n": array(a.applications for a in by_line),
        "offer_ids": array(offers), "offer_n": array(t[0] for t in offers.values()),
        "offer_f": array(t[1] for t in offers.values()), "offer_d": array(t[2] for t in offers.values()),
        "expect_lines": len(by_line), "expect_offers": len(offers),
    }


def scan_line_rows(req: QuoteRequest, basket: Basket, discounts: dict[int, int],
                   clawbacks: dict[int, int]) -> list[dict[str, Any]]:
    """The basket's scan lines as recorded: amounts net of the list's discounts (and clawbacks)."""
    lines = []
    for line_no, (line, key) in enumerate(zip(req.lines, basket.product_keys), start=1):
        discount = discounts.get(line_no, 0) - clawbacks.get(line_no, 0)
        lines.append({"line_no": line_no, "product_key": key, "quantity": line.quantity,
                      "amount_cents": line.amount_cents - discount, "discount_cents": discount})
    return lines


def json_rows(rows: list[dict[str, Any]]) -> str:
    """Rows as one JSON parameter (PostgreSQL's ``json_to_recordset`` writes)."""
    return orjson.dumps(rows).decode()
