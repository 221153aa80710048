"""Returns and voids at the lane: which earlier redemptions they take back, and the lock order.

A **void** undoes a whole sale: its open redemptions are reversed, its counters restored and
its basket leaves the scan history. A **return** is a basket line with a negative quantity:
its units are matched to the sale they came from (the one named by
``original_transaction_id``, else the member's lane sales of the last 90 days, newest
first), recorded per sale and product in ``returned_units`` whether or not they reverse
anything, and every redemption of that sale keeps only the applications its kept units still
support. A return never exceeds what the sale sold and has not had back.

Lock order
----------
Every writer (a complete on the locked path, a return, a void; and PostgreSQL's one-statement
complete, which takes only steps 2 and 3) takes its row locks in this one order, each step in
ascending id, and never goes back to an earlier step:

1. ``checkouts``: the original sales a return is matched to or the sale a void undoes;
2. ``shopping_list_lines``: every list line the writer will read under lock or move (a
   return locks its scanned list's lines and its originals' lists' lines in one statement);
3. ``offers``: every offer whose counters the writer will move (redeemed and reversed
   together, in one statement).

A void and a return of the same sale therefore queue on the sale's checkout row, and two lanes
on the same list queue on its lines; no two writers can each hold a lock the other waits for.
SQLite takes the whole database's write lock up front (``BEGIN IMMEDIATE``) instead.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Mapping, Sequence

from sqlalchemy import Connection, bindparam, func, select, update

from ..models.checkout import Checkout, Redemption, ReturnedUnits
from ..models.lists import ShoppingListLine
from ..models.offers import Offer, OfferProduct
from ..models.scans import ScanLine, Transaction
from . import rules
from .batch import MANY, Step, run_checked
from .errors import Conflict, Forbidden, NotFound, RetryableConflict, Unprocessable
from .lanes import LaneIdentity
from .schemas import ReversalOut, VoidRequest, VoidResponse

RETURN_LOOKBACK_DAYS = 90

LOCK_ORDER = ("checkouts", "shopping_list_lines", "offers")
"""The tables every writer locks rows of, in this order (ascending id within each); see above."""

_lines = ShoppingListLine.__table__
_offers = Offer.__table__
_scope = OfferProduct.__table__
_checkouts = Checkout.__table__
_redemptions = Redemption.__table__
_returned = ReturnedUnits.__table__
_transactions = Transaction.__table__
_scan_lines = ScanLine.__table__

_I_REDEMPTIONS = _redemptions.insert()
_I_RETURNED_UNITS = _returned.insert()
# A reversal never takes a counter below zero; the caller checks every row moved.
_U_LINE_REVERSE = (
    update(_lines)
    .where(_lines.c.id == bindparam("b_id"), _lines.c.redeemed_count >= bindparam("b_n"))
    .values(redeemed_count=_lines.c.redeemed_count - bindparam("b_n"))
)
_U_OFFER_REVERSE = (
    update(_offers)
    .where(_offers.c.id == bindparam("b_id"), _offers.c.redeemed_count >= bindparam("b_n"),
           _offers.c.funded_spent_cents >= bindparam("b_f"))
    .values(
        redeemed_count=_offers.c.redeemed_count - bindparam("b_n"),
        funded_spent_cents=_offers.c.funded_spent_cents - bindparam("b_f"),
        discount_given_cents=_offers.c.discount_given_cents - bindparam("b_d"),
    )
)
# step 2 and step 3 of the lock order (FOR UPDATE is left out on SQLite)
LOCK_LINES = (select(_lines.c.id).where(_lines.c.list_id.in_(bindparam("list_ids", expanding=True)))
              .order_by(_lines.c.id).with_for_update())
LOCK_OFFERS = (select(_offers.c.id).where(_offers.c.id.in_(bindparam("offer_ids", expanding=True)))
               .order_by(_offers.c.id).with_for_update())


@dataclass(frozen=True)
class PlannedReversal:
    redemption_id: int
    original_checkout_id: int
    original_transaction_id: str
    list_line_id: int
    list_line_no: int
    list_id: int
    offer_id: int
    member_key: int
    applications: int  # positive: how many to take back
    units: int
    discount_cents: int
    funded_cents: int
    handling_fee_cents: int
    funder_kind: str
    manufacturer_id: str | None
    description: str
    clawback: dict[int, int] = field(default_factory=dict)  # return basket line_no -> cents


@dataclass(frozen=True)
class Original:
    """A sale returned units may come from, locked (step 1) before anything else."""

    checkout_id: int
    transaction_id: str
    list_id: int | None


@dataclass
class ReturnPlan:
    """What a return basket takes back: units per (original, product), and the reversals."""

    units: list[tuple[Original, int, int]] = field(default_factory=list)  # (original, product key, units)
    reversals: list[PlannedReversal] = field(default_factory=list)

    @property
    def first_original(self) -> str | None:
        return self.units[0][0].transaction_id if self.units else None


# --- step 1: the originals ------------------------------------------------------------------


def find_originals(conn: Connection, named: str | None, member_key: int | None,
                   product_keys: Callable[[], Sequence[int]], day: date, *, lock: bool) -> list[Original]:
    """The sales a return's units are matched to (locked for a complete): the sale it names,
    else the member's lane sales of the returned products (``product_keys()``, asked only then),
    newest first; none for a return with neither."""
    if named is not None:
        return find_named_original(conn, named, lock=lock)
    if member_key is None:
        return []
    return find_member_sales(conn, member_key, product_keys(), day, lock=lock)


def find_named_original(conn: Connection, transaction_id: str, *, lock: bool) -> list[Original]:
    """The sale a return names (locked for a complete); 404 if unknown, 409 if voided."""
    query = (select(_checkouts.c.id, _checkouts.c.status, _checkouts.c.list_id)
             .where(_checkouts.c.transaction_id == transaction_id))
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFound(f"no lane sale {transaction_id!r} to return against",
                       code="unknown_transaction", field="original_transaction_id")
    if row[1] == "voided":
        raise Conflict(f"sale {transaction_id!r} was voided", code="original_voided", field="original_transaction_id")
    return [Original(row[0], transaction_id, row[2])]


def find_member_sales(conn: Connection, member_key: int, product_keys: Sequence[int], day: date, *,
                      lock: bool) -> list[Original]:
    """The member's completed lane sales of these products in the lookback (locked for a complete), newest first."""
    if not product_keys:
        return []
    # driven by the member's checkouts (indexed); each probed on its scan lines' primary key
    holds_product = (
        select(_scan_lines.c.line_no)
        .where(_scan_lines.c.transaction_id == _checkouts.c.transaction_id,
               _scan_lines.c.product_key.in_(list(product_keys)), _scan_lines.c.quantity > 0)
        .exists()
    )
    query = (
        select(_checkouts.c.id, _checkouts.c.transaction_id, _checkouts.c.list_id)
        .where(_checkouts.c.member_key == member_key, _checkouts.c.status == "completed",
               _checkouts.c.business_date >= day - timedelta(days=RETURN_LOOKBACK_DAYS), holds_product)
        .order_by(_checkouts.c.id)
    )
    rows = conn.execute(query.with_for_update(of=_checkouts) if lock else query).all()
    # matched newest first: the latest sale of a product is the likeliest one it came from
    return [Original(*row) for row in reversed(rows)]


def lock_lines_and_offers(conn: Connection, list_ids: Iterable[int | None], offer_ids: Iterable[int]) -> None:
    """Steps 2 and 3 in one go each, ascending id (no-ops for empty sets)."""
    lists = sorted({i for i in list_ids if i is not None})
    if lists:
        conn.execute(LOCK_LINES, {"list_ids": lists}).all()
    offers = sorted(set(offer_ids))
    if offers:
        conn.execute(LOCK_OFFERS, {"offer_ids": offers}).all()


# --- planning a return ----------------------------------------------------------------------


def plan_return(conn: Connection, originals: Sequence[Original], basket_lines: Sequence[rules.BasketLine],
                skus: Mapping[int, str], *, named: bool) -> ReturnPlan:
    """Match the returned units to ``originals`` (newest first) and plan the reversals.

    A unit is matched to the first original that sold its product and has not had it all back.
    Units no original can take are refused (422 ``return_exceeds_sale``). Every original then
    keeps only the applications its kept units support (``kept // min_quantity``); the rest
    are reversed with their share of the discount and the funder's money. ``skus`` names the
    products (product key -> sku) in what the lane is told.
    """
    returned: dict[int, int] = defaultdict(int)
    return_lines: dict[int, list[int]] = defaultdict(list)
    skus_unknown = 0
    for line in basket_lines:
        if line.quantity < 0:
            if line.product_key is None:
                skus_unknown += -line.quantity
                continue
            returned[line.product_key] += -line.quantity
            return_lines[line.product_key].append(line.line_no)
    if skus_unknown:
        raise _exceeds(named, "a sku the catalog does not know (never sold on the lane)")
    sold = _sold(conn, originals)
    back = _returned_before(conn, originals)
    plan = ReturnPlan()
    now_by_original: dict[int, dict[int, int]] = defaultdict(dict)
    for product_key, units in sorted(returned.items()):
        left = units
        for original in originals:
            available = sold[original.checkout_id].get(product_key, 0) - back[original.checkout_id].get(product_key, 0)
            take = min(left, max(0, available))
            if take > 0:
                plan.units.append((original, product_key, take))
                now_by_original[original.checkout_id][product_key] = take
                left -= take
            if left == 0:
                break
        if left:
            matched = units - left
            sku = skus.get(product_key, str(product_key))
            raise _exceeds(named, f"{units} units of sku {sku} ({matched} left to return)",
                           sku=sku, returned=units, returnable=matched)
    room = {line.line_no: -line.amount_cents for line in basket_lines if line.quantity < 0}
    for original in originals:
        now = now_by_original.get(original.checkout_id)
        if now:
            plan.reversals += _reverse_for(conn, original, sold[original.checkout_id], back[original.checkout_id],
                                           now, return_lines, room)
    return plan


def _exceeds(named: bool, what: str, **detail: Any) -> Unprocessable:
    where = "the named sale" if named else "this member's lane sales of the last 90 days"
    return Unprocessable(f"return exceeds what was sold and not yet returned: {what}, against {where}",
                         code="return_exceeds_sale", field="lines", **detail)


def _sold(conn: Connection, originals: Sequence[Original]) -> dict[int, dict[int, int]]:
    """Per original (checkout id): units sold per product key, in one grouped query."""
    sold: dict[int, dict[int, int]] = {o.checkout_id: {} for o in originals}
    if not originals:
        return sold
    checkout_of = {o.transaction_id: o.checkout_id for o in originals}
    for txn_id, product_key, units in conn.execute(
        select(_scan_lines.c.transaction_id, _scan_lines.c.product_key, func.sum(_scan_lines.c.quantity))
        .where(_scan_lines.c.transaction_id.in_(sorted(checkout_of)), _scan_lines.c.quantity > 0)
        .group_by(_scan_lines.c.transaction_id, _scan_lines.c.product_key)
    ):
        sold[checkout_of[txn_id]][int(product_key)] = int(units)
    return sold


def _returned_before(conn: Connection, originals: Sequence[Original]) -> dict[int, dict[int, int]]:
    """Per original (checkout id): units earlier returns took back per product key, in one grouped query."""
    back: dict[int, dict[int, int]] = {o.checkout_id: {} for o in originals}
    if not originals:
        return back
    for checkout_id, product_key, units in conn.execute(
        select(_returned.c.original_checkout_id, _returned.c.product_key, func.sum(_returned.c.units))
        .where(_returned.c.original_checkout_id.in_(sorted(back)))
        .group_by(_returned.c.original_checkout_id, _returned.c.product_key)
    ):
        back[int(checkout_id)][int(product_key)] = int(units)
    return back


def _reverse_for(conn: Connection, original: Original, sold: dict[int, int], back: dict[int, int],
                 now: dict[int, int], return_lines: dict[int, list[int]], room: dict[int, int]) -> list[PlannedReversal]:
    open_rows = open_redemptions(conn, original.checkout_id, original.transaction_id)
    if not open_rows:
        return []
    offer_ids = sorted({r.offer_id for r in open_rows})
    scope: dict[int, set[int]] = defaultdict(set)
    for offer_id, product_key in conn.execute(
        select(_scope.c.offer_id, _scope.c.product_key)
        .where(_scope.c.offer_id.in_(offer_ids), _scope.c.product_key.in_(sorted(set(sold) | set(now))))
    ):
        scope[offer_id].add(product_key)
    min_quantity = dict(conn.execute(
        select(_lines.c.id, _lines.c.min_quantity).where(_lines.c.id.in_(sorted({r.list_line_id for r in open_rows})))
    ).all())
    plans = []
    for open_row in open_rows:
        in_scope = scope.get(open_row.offer_id, set())
        if not any(now.get(p, 0) for p in in_scope):
            continue
        kept = sum(sold.get(p, 0) - back.get(p, 0) - now.get(p, 0) for p in in_scope)
        supported = max(0, kept) // max(1, min_quantity.get(open_row.list_line_id, 1))
        take = open_row.applications - supported
        if take <= 0:
            continue
        plan = _portion(open_row, take)
        lines = [n for p in sorted(in_scope) for n in return_lines.get(p, [])]
        plans.append(replace(plan, clawback=_spread_clawback(plan.discount_cents, lines, room)))
    return plans


def _portion(open_row: PlannedReversal, take: int) -> PlannedReversal:
    """``take`` of the row's open applications, with their share of the money (the last takes the rest)."""
    if take >= open_row.applications:
        return open_row
    share = lambda cents: rules.round_half_up_div(cents * take, open_row.applications)  # noqa: E731
    return replace(open_row, applications=take, units=open_row.units * take // open_row.applications,
                   discount_cents=share(open_row.discount_cents), funded_cents=share(open_row.funded_cents),
                   handling_fee_cents=share(open_row.handling_fee_cents))


def _spread_clawback(cents: int, line_nos: list[int], room: dict[int, int]) -> dict[int, int]:
    """Put a reversed discount on the returned lines it came from, never beyond what is left of a line's refund."""
    spread: dict[int, int] = {}
    left = cents
    for line_no in line_nos:
        take = min(left, room.get(line_no, 0))
        if take > 0:
            spread[line_no] = take
            room[line_no] -= take
            left -= take
    return spread


def clawbacks(reversals: Sequence[PlannedReversal]) -> dict[int, int]:
    """Return basket line_no -> the discount taken back on it."""
    total: dict[int, int] = defaultdict(int)
    for rev in reversals:
        for line_no, cents in rev.clawback.items():
            total[line_no] += cents
    return dict(total)


def open_redemptions(conn: Connection, checkout_id: int, transaction_id: str) -> list[PlannedReversal]:
    """The redemptions of a checkout net of earlier reversals (what a void would take back)."""
    r = _redemptions
    redeemed = conn.execute(
        select(r.c.id, r.c.checkout_id, r.c.list_line_id, r.c.list_line_no, r.c.list_id, r.c.offer_id,
               r.c.member_key, r.c.applications, r.c.units, r.c.discount_cents, r.c.funded_cents,
               r.c.handling_fee_cents, r.c.funder_kind, r.c.manufacturer_id, _lines.c.description)
        .join(_lines, _lines.c.id == r.c.list_line_id)
        .where(r.c.checkout_id == checkout_id, r.c.event == "redeemed")
        .order_by(r.c.id)
    ).all()
    if not redeemed:
        return []
    reversed_sums = {
        row[0]: row[1:]
        for row in conn.execute(
            select(r.c.reverses_id, func.sum(r.c.applications), func.sum(r.c.units), func.sum(r.c.discount_cents),
                   func.sum(r.c.funded_cents), func.sum(r.c.handling_fee_cents))
            .where(r.c.reverses_id.in_([row[0] for row in redeemed]))
            .group_by(r.c.reverses_id)
        )
    }
    open_rows = []
    for row in redeemed:
        back = reversed_sums.get(row[0], (0, 0, 0, 0, 0))
        applications = row[7] + int(back[0] or 0)
        if applications <= 0:
            continue
        open_rows.append(PlannedReversal(
            redemption_id=row[0], original_checkout_id=row[1], original_transaction_id=transaction_id,
            list_line_id=row[2], list_line_no=row[3], list_id=row[4], offer_id=row[5], member_key=row[6],
            applications=applications, units=row[8] + int(back[1] or 0), discount_cents=row[9] + int(back[2] or 0),
            funded_cents=row[10] + int(back[3] or 0), handling_fee_cents=row[11] + int(back[4] or 0),
            funder_kind=row[12], manufacturer_id=row[13], description=row[14],
        ))
    return open_rows


# --- writing --------------------------------------------------------------------------------


def reverse_steps(lane: LaneIdentity, reversals: Sequence[PlannedReversal], checkout_id: int, txn_id: str,
                  business_date: date, request_id: str, now: datetime, kind: str) -> list[Step]:
    """The counter moves (lines, then offers, each ascending id) and ``reversed`` ledger rows."""
    if not reversals:
        return []
    by_line = sorted(reversals, key=lambda r: r.list_line_id)
    by_offer = sorted(reversals, key=lambda r: r.offer_id)
    return [
        Step(_U_LINE_REVERSE, [{"b_id": r.list_line_id, "b_n": r.applications} for r in by_line], MANY,
             expect=len(reversals)),
        Step(_U_OFFER_REVERSE, [{"b_id": r.offer_id, "b_n": r.applications, "b_f": r.funded_cents,
                                 "b_d": r.discount_cents} for r in by_offer], MANY, expect=len(reversals)),
        Step(_I_REDEMPTIONS, [
            dict(
                event="reversed", checkout_id=checkout_id, transaction_id=txn_id, list_id=rev.list_id,
                list_line_id=rev.list_line_id, list_line_no=rev.list_line_no, offer_id=rev.offer_id,
                member_key=rev.member_key, store_id=lane.store_id, lane_code=lane.lane_code,
                api_key_id=lane.api_key_id, business_date=business_date, applications=-rev.applications,
                units=-rev.units, discount_cents=-rev.discount_cents, funded_cents=-rev.funded_cents,
                handling_fee_cents=-rev.handling_fee_cents, funder_kind=rev.funder_kind,
                manufacturer_id=rev.manufacturer_id, reverses_id=rev.redemption_id, reversal_kind=kind,
                request_id=request_id, created_at=now,
            )
            for rev in reversals
        ], MANY),
    ]


def returned_units_step(plan: ReturnPlan, checkout_id: int) -> list[Step]:
    if not plan.units:
        return []
    return [Step(_I_RETURNED_UNITS, [
        {"return_checkout_id": checkout_id, "original_checkout_id": o.checkout_id, "product_key": p, "units": n}
        for o, p, n in plan.units
    ], MANY)]


def reversal_out(rev: PlannedReversal) -> ReversalOut:
    return ReversalOut(offer_id=rev.offer_id, list_line_no=rev.list_line_no,
                       original_transaction_id=rev.original_transaction_id, applications=rev.applications,
                       discount_cents=rev.discount_cents, funder_cents=rev.funded_cents)


# --- void -----------------------------------------------------------------------------------


def void_once(conn: Connection, lane: LaneIdentity, transaction_id: str, req: VoidRequest, request_id: str,
              now: datetime) -> bytes:
    """Void a completed sale in the caller's write transaction, in the lock order."""
    row = conn.execute(  # step 1: the sale
        select(_checkouts.c.id, _checkouts.c.store_id, _checkouts.c.status, _checkouts.c.voided_at,
               _checkouts.c.kind, _checkouts.c.business_date, _checkouts.c.list_id)
        .where(_checkouts.c.transaction_id == transaction_id)
        .with_for_update()
    ).first()
    if row is None:
        raise NotFound(f"no lane transaction {transaction_id!r}", code="unknown_transaction", field="transaction_id")
    checkout_id, store_id, status, voided_at, kind, business_date, list_id = row
    if store_id != lane.store_id:
        raise Forbidden(f"transaction {transaction_id!r} belongs to another store", code="wrong_store",
                        field="transaction_id")
    if status == "voided":
        raise Conflict(f"transaction {transaction_id!r} is already voided", code="already_voided",
                       field="transaction_id", voided_at=utc(voided_at).isoformat() if voided_at else None)
    has_returns = conn.execute(
        select(func.count()).select_from(_scan_lines)
        .where(_scan_lines.c.transaction_id == transaction_id, _scan_lines.c.quantity < 0)
    ).scalar_one()
    if kind == "return" or has_returns:
        raise Unprocessable("a basket with returned items cannot be voided; ring the items up again as a sale",
                            code="return_not_voidable", field="transaction_id")
    returned = conn.execute(
        select(func.count()).select_from(_returned).where(_returned.c.original_checkout_id == checkout_id)
    ).scalar_one()
    if returned:
        # the member already had those units refunded: a void would refund them again
        raise Conflict(f"items of sale {transaction_id!r} were already returned; return the rest instead of voiding",
                       code="sale_has_returns", field="transaction_id")
    reversals = open_redemptions(conn, checkout_id, transaction_id)
    lock_lines_and_offers(conn, [list_id] if reversals else [], [r.offer_id for r in reversals])  # steps 2, 3
    run_checked(conn, reverse_steps(lane, reversals, checkout_id, transaction_id, business_date, request_id, now,
                                    kind="void"))
    moved = conn.execute(
        update(_checkouts).where(_checkouts.c.id == checkout_id, _checkouts.c.status == "completed")
        .values(status="voided", voided_at=now, void_reason=req.reason, void_lane_code=req.lane,
                void_request_id=request_id)
    ).rowcount
    if moved != 1:
        raise RetryableConflict("checkout status moved")
    # A voided sale never happened: the model must not learn from it. The checkout row and
    # the redemption ledger keep the audit trail.
    conn.execute(_scan_lines.delete().where(_scan_lines.c.transaction_id == transaction_id))
    conn.execute(_transactions.delete().where(_transactions.c.transaction_id == transaction_id))
    return VoidResponse(
        status="voided", transaction_id=transaction_id, voided_at=now,
        reversals=[reversal_out(r) for r in reversals],
    ).model_dump_json().encode()


def utc(moment: datetime) -> datetime:
    """SQLite hands timestamps back naive; they were written in UTC."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


__all__ = ["LOCK_ORDER", "Original", "PlannedReversal", "ReturnPlan", "clawbacks", "lock_lines_and_offers",
           "find_member_sales", "find_named_original", "find_originals", "open_redemptions", "plan_return", "reverse_steps",
           "returned_units_step", "reversal_out", "void_once"]
