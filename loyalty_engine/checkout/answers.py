"""The lane's answers as JSON bytes: a quote or complete (with its receipt), a voided sale's
retried complete, and the member's list.

Bytes, not objects, so a retried ``complete`` is answered byte for byte from the idempotency
record; the web edge validates them against the schemas (:mod:`.schemas`).
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection

from ..money import format_money
from ..shopping_lists.usage import LineUsage, ListUsage
from . import returns, rules
from .queries import LIST_CONTENT, LIST_LINES_SHOWN, OFFER_SKUS
from .records import Basket, ListRow, MemberRow, Outcome, transaction_id_for
from .schemas import ListContentOut, ListLineOut, MemberListResponse, MemberOut, QuoteRequest

LIST_SKUS_SHOWN = 50
RECEIPT_WIDTH = 40


def checkout_answer(status: str, req: QuoteRequest, basket: Basket, outcome: Outcome) -> bytes:
    """The answer as JSON bytes, shaped like :class:`.schemas.CheckoutResponse` (the edge validates it).

    Built from plain dicts: a 30-line basket would otherwise mean a hundred model objects.
    """
    evaluation = outcome.evaluation
    clawbacks = returns.clawbacks(outcome.reversals)
    per_line: dict[int, list[dict[str, int]]] = defaultdict(list)
    for applied in evaluation.applied:
        for allocation in applied.allocations:
            per_line[allocation.basket_line_no].append({
                "offer_id": applied.offer_id, "list_line_no": applied.list_line_no,
                "discount_cents": allocation.discount_cents})
    lines = []
    total_amount = total_discount = 0
    for n, line in enumerate(req.lines, start=1):
        discount = evaluation.line_discounts.get(n, 0) - clawbacks.get(n, 0)
        total_amount += line.amount_cents
        total_discount += discount
        lines.append({"line_no": n, "sku": line.sku, "quantity": line.quantity, "amount_cents": line.amount_cents,
                      "discount_cents": discount, "net_amount_cents": line.amount_cents - discount,
                      "offers": per_line.get(n, [])})
    redemptions = []
    for applied in evaluation.applied:
        offer = outcome.terms[applied.list_line_id].offer
        info = outcome.info[applied.list_line_id]
        redemptions.append({
            "offer_id": applied.offer_id, "offer_code": info.offer_code, "list_line_no": applied.list_line_no,
            "description": info.description, "applications": applied.applications, "units": applied.units,
            "discount_cents": applied.discount_cents, "funded_by": offer.funder_kind,
            "manufacturer_id": offer.manufacturer_id, "funder_cents": applied.funded_cents,
            "retailer_cents": applied.discount_cents - applied.funded_cents,
        })
    not_applied = [
        {"offer_id": n.offer_id, "list_line_no": n.list_line_no,
         "description": outcome.info[n.list_line_id].description, "reason": n.reason.value,
         "message": rules.REASON_TEXT[n.reason]}
        for n in evaluation.not_applied
    ]
    member, shopping_list = outcome.member, outcome.shopping_list
    answer = {
        "status": status,
        "transaction_id": transaction_id_for(req.store, req.lane, req.pos_transaction_id),
        "store": req.store, "lane": req.lane, "pos_transaction_id": req.pos_transaction_id,
        "business_date": basket.business_date.isoformat(),
        "member": {"member_id": member.member_id, "first_name": member.first_name} if member else None,
        "shopping_list": {"list_number": shopping_list.list_number,
                          "period_start": shopping_list.period_start.isoformat(),
                          "period_end": shopping_list.period_end.isoformat(),
                          "status": shopping_list.status} if shopping_list else None,
        "lines": lines, "redemptions": redemptions, "not_applied": not_applied,
        "reversals": [returns.reversal_out(r).model_dump() for r in outcome.reversals],
        "total_amount_cents": total_amount, "total_discount_cents": total_discount,
        "total_due_cents": total_amount - total_discount,
        "receipt": receipt(outcome, redemptions, total_discount),
    }
    return orjson.dumps(answer)


def _receipt_line(label: str, amount: str) -> str:
    """A label shortened to leave room for its amount, right-aligned at the receipt's width."""
    room = RECEIPT_WIDTH - len(amount) - 1
    return f"{label[:room]:<{room}} {amount}"


def receipt(outcome: Outcome, redemptions: list[dict[str, Any]], total_discount: int) -> list[str]:
    """The receipt's list lines: the list or member, each redemption and return, the savings."""
    lines: list[str] = []
    if outcome.shopping_list is not None:
        lines.append(f"SHOPPING LIST {outcome.shopping_list.list_number}")
    elif outcome.member is not None:
        lines.append(f"MEMBER {outcome.member.member_id}")
    for r in redemptions:
        lines.append(_receipt_line(r["description"] or f"Offer {r['offer_code']}", "-" + format_money(r["discount_cents"])))
    for rev in outcome.reversals:
        lines.append(_receipt_line(f"RETURNED: {rev.description}", format_money(rev.discount_cents)))
    if redemptions or outcome.reversals:
        lines.append(_receipt_line("YOUR LIST SAVINGS", format_money(total_discount)))
    return lines


def member_list_answer(conn: Connection, member: MemberRow, shopping_list: ListRow) -> bytes:
    """The member's list as the lane shows it: every line with what is used and what is left."""
    rows = conn.execute(LIST_LINES_SHOWN, {"list_id": shopping_list.list_id}).all()
    usage = ListUsage.of(LineUsage(row[0], row[7], row[8], row[11]) for row in rows)
    offer_ids = sorted({row[1] for row in rows})
    skus: dict[int, list[str]] = defaultdict(list)
    if offer_ids:
        for offer_id, sku in conn.execute(OFFER_SKUS, {"offer_ids": offer_ids}):
            if len(skus[offer_id]) < LIST_SKUS_SHOWN:
                skus[offer_id].append(sku)
    content = conn.execute(LIST_CONTENT, {"list_id": shopping_list.list_id}).all()
    return MemberListResponse(
        member=MemberOut(member_id=member.member_id, first_name=member.first_name),
        list_number=shopping_list.list_number, period_start=shopping_list.period_start,
        period_end=shopping_list.period_end, status=shopping_list.status,
        offers=usage.offers, offers_left=usage.offers_left, offers_used=usage.offers_used,
        savings_left_cents=usage.savings_left_cents, summary=usage.summary_text(),
        lines=[_list_line_out(row, usage.lines[row[0]], skus.get(row[1], [])) for row in rows],
        content=[ListContentOut(kind=k, title=t, body=b) for k, t, b in content],
    ).model_dump_json().encode()


def _list_line_out(row: Any, used: LineUsage, skus: list[str]) -> ListLineOut:
    """One line of the member's list (a :data:`.queries.LIST_LINES_SHOWN` row) with its use so far."""
    return ListLineOut(
        line_no=row[0], offer_id=row[1], description=row[2], benefit=row[3], benefit_kind=row[4],
        benefit_value=row[5], min_quantity=row[6], redemption_limit=row[7], redeemed_count=row[8],
        uses_left=used.uses_left, status=used.status, face_value_cents=row[11],
        valid_from=row[9], valid_to=row[10], skus=skus,
    )


def voided_answer(first: bytes, voided_at: datetime | None) -> bytes:
    """A retried complete of a sale voided since: the first answer, with the sale's state now.

    Built only from stored values, so every retry in this state gets the same bytes.
    """
    answer = orjson.loads(first)
    answer["status"] = "voided"
    # the same form as the void's own answer (pydantic writes UTC as Z)
    answer["voided_at"] = returns.utc(voided_at).isoformat().replace("+00:00", "Z") if voided_at else None
    return orjson.dumps(answer)

