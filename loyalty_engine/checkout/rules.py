"""Redemption rules: which offers of a shopping list apply to a basket, and for how much.

Pure domain code: takes the list's lines (with their offers' terms and counters), the basket
and the business date, returns the plan. No database, no Flask, no clock.

Rules, in the order they are checked for each list line (lines are taken in ``line_no``
order, the order printed on the list):

1. The list must be ``active`` and the business date inside its period; the offer must be
   ``active`` and the date inside both the offer's and the line's validity (inclusive).
2. A line whose own limit is used up is ``already_redeemed``; an offer at its cap is
   ``limit_reached``; an offer with no budget left is ``budget_exhausted``.
   A line matches basket lines (sale lines, quantity > 0) whose product is in the offer's
   scope. One *application* uses ``min_quantity`` units; a line applies at most
   ``redemption_limit - redeemed_count`` times per list and the offer at most
   ``max_redemptions - redeemed_count`` times in all.
3. Units are used from the highest unit price down (ties: lower basket line first), so the
   member gets the richest saving the offer allows. A unit already used by a non-stackable
   offer cannot be used again; a stackable offer may use any unit.
4. Benefit of one application over the amount ``A`` of its units: ``amount_off`` V:
   ``min(V, A)``; ``percent_off`` B basis points: ``A * B / 10000`` rounded half up to the
   cent; ``fixed_price`` V (the application's units cost V together): ``max(0, A - V)``.
5. A discount never exceeds what is left of a basket line's amount after earlier offers:
   each application's discount is spread over its units' lines, capped per line.
   An application worth nothing (e.g. the shelf price is already below the fixed price)
   is not redeemed, so it does not use up the member's limit.
6. The funder pays ``discount * funded_share_bp / 10000`` rounded half up to the cent. An
   application is only redeemed while the offer's funded spend stays within its budget
   (whole applications only, never a partial one).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import Enum
from typing import Iterable, Sequence

BASIS_POINTS = 10_000


class NotAppliedReason(str, Enum):
    """Why a list offer did not apply to this basket. The values are the API's codes."""

    LIST_NOT_ACTIVE = "list_not_active"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    OFFER_INACTIVE = "offer_inactive"
    NOT_IN_BASKET = "not_in_basket"
    QUANTITY_BELOW_MINIMUM = "quantity_below_minimum"
    ITEMS_USED_BY_OTHER_OFFER = "items_used_by_other_offer"
    ALREADY_REDEEMED = "already_redeemed"
    LIMIT_REACHED = "limit_reached"
    BUDGET_EXHAUSTED = "budget_exhausted"
    NO_SAVING = "no_saving"


REASON_TEXT: dict[NotAppliedReason, str] = {
    NotAppliedReason.LIST_NOT_ACTIVE: "the list is no longer active (replaced or expired)",
    NotAppliedReason.NOT_YET_VALID: "the offer is not valid yet",
    NotAppliedReason.EXPIRED: "the offer has expired",
    NotAppliedReason.OFFER_INACTIVE: "the offer is paused or withdrawn",
    NotAppliedReason.NOT_IN_BASKET: "no item of the offer is in the basket",
    NotAppliedReason.QUANTITY_BELOW_MINIMUM: "fewer items than the offer's minimum quantity",
    NotAppliedReason.ITEMS_USED_BY_OTHER_OFFER: "the items were already used by another offer",
    NotAppliedReason.ALREADY_REDEEMED: "already redeemed on this list",
    NotAppliedReason.LIMIT_REACHED: "the offer has reached its redemption limit",
    NotAppliedReason.BUDGET_EXHAUSTED: "the offer's budget is exhausted",
    NotAppliedReason.NO_SAVING: "the basket price is already at or below the offer price",
}


@dataclass(slots=True)
class BasketLine:
    """One scanned line. ``product_key`` is None for an item the catalog does not know."""

    line_no: int
    product_key: int | None
    quantity: int
    unit_price_cents: int
    amount_cents: int


@dataclass(slots=True)
class OfferTerms:
    offer_id: int
    status: str
    valid_from: date
    valid_to: date
    funded_share_bp: int
    handling_fee_cents: int
    budget_cents: int | None
    max_redemptions: int | None
    redeemed_count: int
    funded_spent_cents: int
    funder_kind: str
    manufacturer_id: str | None
    stackable: bool

    def remaining_redemptions(self) -> int | None:
        if self.max_redemptions is None:
            return None
        return max(0, self.max_redemptions - self.redeemed_count)

    def remaining_budget_cents(self) -> int | None:
        if self.budget_cents is None:
            return None
        return max(0, self.budget_cents - self.funded_spent_cents)


@dataclass(slots=True)
class ListLineTerms:
    list_line_id: int
    line_no: int
    offer: OfferTerms
    benefit_kind: str  # amount_off | percent_off | fixed_price
    benefit_value: int  # cents, or basis points for percent_off
    min_quantity: int
    redemption_limit: int
    redeemed_count: int
    valid_from: date
    valid_to: date
    product_keys: frozenset[int]


@dataclass(slots=True)
class ListTerms:
    list_id: int
    status: str
    period_start: date
    period_end: date
    lines: tuple[ListLineTerms, ...]


@dataclass(slots=True)
class Allocation:
    basket_line_no: int
    discount_cents: int


@dataclass(slots=True)
class AppliedOffer:
    list_line_id: int
    list_line_no: int
    offer_id: int
    applications: int
    units: int
    discount_cents: int
    funded_cents: int
    handling_fee_cents: int
    allocations: tuple[Allocation, ...]


@dataclass(slots=True)
class NotApplied:
    list_line_id: int
    list_line_no: int
    offer_id: int
    reason: NotAppliedReason


@dataclass
class Evaluation:
    applied: list[AppliedOffer] = field(default_factory=list)
    not_applied: list[NotApplied] = field(default_factory=list)
    line_discounts: dict[int, int] = field(default_factory=dict)

    @property
    def total_discount_cents(self) -> int:
        return sum(a.discount_cents for a in self.applied)


def round_half_up_div(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half up, for non-negative integers (exact)."""
    if numerator < 0 or denominator <= 0:
        raise ValueError("round_half_up_div takes a non-negative numerator and positive denominator")
    return (2 * numerator + denominator) // (2 * denominator)


def funded_share_cents(discount_cents: int, funded_share_bp: int) -> int:
    return round_half_up_div(discount_cents * funded_share_bp, BASIS_POINTS)


def unit_amounts(line: BasketLine) -> list[int]:
    """Split a line's amount over its units so they add up exactly (remainder cents first)."""
    base, extra = divmod(line.amount_cents, line.quantity)
    return [base + 1 if i < extra else base for i in range(line.quantity)]


def application_discount(benefit_kind: str, benefit_value: int, units_amount_cents: int) -> int:
    """Discount of one application over units that cost ``units_amount_cents`` together."""
    if benefit_kind == "amount_off":
        return min(benefit_value, units_amount_cents)
    if benefit_kind == "percent_off":
        return min(units_amount_cents, round_half_up_div(units_amount_cents * benefit_value, BASIS_POINTS))
    if benefit_kind == "fixed_price":
        return max(0, units_amount_cents - benefit_value)
    raise ValueError(f"unknown benefit kind: {benefit_kind!r}")


@dataclass
class _Unit:
    line_no: int
    amount_cents: int
    used_exclusively: bool = False


def evaluate(shopping_list: ListTerms, basket: Sequence[BasketLine], business_date: date) -> Evaluation:
    """Apply a list's offers to a basket. Returns what to redeem and why the rest does not apply."""
    result = Evaluation()
    in_scope = frozenset().union(*(t.product_keys for t in shopping_list.lines))
    sales = [line for line in basket if line.quantity > 0 and line.amount_cents >= 0]
    remaining_amount = {line.line_no: line.amount_cents for line in sales}
    units_by_product: dict[int, list[_Unit]] = {}
    for line in sales:
        if line.product_key is None or line.product_key not in in_scope:
            continue
        bucket = units_by_product.setdefault(line.product_key, [])
        bucket.extend(_Unit(line.line_no, amount) for amount in unit_amounts(line))

    list_ok = (
        shopping_list.status == "active"
        and shopping_list.period_start <= business_date <= shopping_list.period_end
    )
    for terms in sorted(shopping_list.lines, key=lambda t: t.line_no):
        reason, applied = _evaluate_line(terms, list_ok, units_by_product, remaining_amount, business_date)
        if applied is not None:
            result.applied.append(applied)
            for allocation in applied.allocations:
                result.line_discounts[allocation.basket_line_no] = (
                    result.line_discounts.get(allocation.basket_line_no, 0) + allocation.discount_cents
                )
        else:
            assert reason is not None
            result.not_applied.append(NotApplied(terms.list_line_id, terms.line_no, terms.offer.offer_id, reason))
    return result


def _evaluate_line(
    terms: ListLineTerms,
    list_ok: bool,
    units_by_product: dict[int, list[_Unit]],
    remaining_amount: dict[int, int],
    business_date: date,
) -> tuple[NotAppliedReason | None, AppliedOffer | None]:
    offer = terms.offer
    validity_reason = _validity_reason(terms, list_ok, business_date)
    if validity_reason is not None:
        return validity_reason, None

    line_left = terms.redemption_limit - terms.redeemed_count
    if line_left <= 0:
        return NotAppliedReason.ALREADY_REDEEMED, None
    offer_left = offer.remaining_redemptions()
    if offer_left is not None and offer_left <= 0:
        return NotAppliedReason.LIMIT_REACHED, None
    budget_left = offer.remaining_budget_cents()
    if budget_left is not None and budget_left <= 0 and offer.funded_share_bp > 0:
        return NotAppliedReason.BUDGET_EXHAUSTED, None

    all_units = [u for key in terms.product_keys for u in units_by_product.get(key, ())]
    if not all_units:
        return NotAppliedReason.NOT_IN_BASKET, None
    if len(all_units) < terms.min_quantity:
        return NotAppliedReason.QUANTITY_BELOW_MINIMUM, None
    usable = [u for u in all_units if offer.stackable or not u.used_exclusively]
    if len(usable) < terms.min_quantity:
        return NotAppliedReason.ITEMS_USED_BY_OTHER_OFFER, None

    max_applications = min(len(usable) // terms.min_quantity, line_left)
    if offer_left is not None:
        max_applications = min(max_applications, offer_left)

    # Richest units first; ties by basket line so the result does not depend on input order.
    usable.sort(key=lambda u: (-u.amount_cents, u.line_no))
    allocations: dict[int, int] = {}
    chosen: list[_Unit] = []
    applications = discount_total = funded_total = 0
    over_budget = no_saving = False
    for index in range(max_applications):
        group = usable[index * terms.min_quantity : (index + 1) * terms.min_quantity]
        wanted = application_discount(terms.benefit_kind, terms.benefit_value, sum(u.amount_cents for u in group))
        spread = _spread(wanted, group, remaining_amount, allocations)
        discount = sum(spread.values())
        if discount <= 0:
            no_saving = True
            break
        funded = funded_share_cents(discount, offer.funded_share_bp)
        if budget_left is not None and funded_total + funded > budget_left:
            over_budget = True
            break
        for line_no, cents in spread.items():
            allocations[line_no] = allocations.get(line_no, 0) + cents
        chosen.extend(group)
        applications += 1
        discount_total += discount
        funded_total += funded

    if applications == 0:
        return (NotAppliedReason.BUDGET_EXHAUSTED if over_budget else NotAppliedReason.NO_SAVING), None
    assert not (no_saving and over_budget)
    for line_no, cents in allocations.items():
        remaining_amount[line_no] -= cents
    if not offer.stackable:
        for unit in chosen:
            unit.used_exclusively = True
    return None, AppliedOffer(
        list_line_id=terms.list_line_id,
        list_line_no=terms.line_no,
        offer_id=offer.offer_id,
        applications=applications,
        units=applications * terms.min_quantity,
        discount_cents=discount_total,
        funded_cents=funded_total,
        handling_fee_cents=applications * offer.handling_fee_cents,
        allocations=tuple(Allocation(n, c) for n, c in sorted(allocations.items()) if c > 0),
    )


def _validity_reason(terms: ListLineTerms, list_ok: bool, business_date: date) -> NotAppliedReason | None:
    offer = terms.offer
    if not list_ok:
        return NotAppliedReason.LIST_NOT_ACTIVE
    if offer.status == "ended":
        return NotAppliedReason.EXPIRED
    if offer.status != "active":
        return NotAppliedReason.OFFER_INACTIVE
    if business_date < max(offer.valid_from, terms.valid_from):
        return NotAppliedReason.NOT_YET_VALID
    if business_date > min(offer.valid_to, terms.valid_to):
        return NotAppliedReason.EXPIRED
    return None


def _spread(
    wanted: int, group: Iterable[_Unit], remaining_amount: dict[int, int], pending: dict[int, int]
) -> dict[int, int]:
    """Spread an application's discount over its units' lines, never below zero on a line."""
    spread: dict[int, int] = {}
    left = wanted
    for unit in group:
        if left <= 0:
            break
        room = remaining_amount[unit.line_no] - pending.get(unit.line_no, 0) - spread.get(unit.line_no, 0)
        take = min(left, unit.amount_cents, room)
        if take > 0:
            spread[unit.line_no] = spread.get(unit.line_no, 0) + take
            left -= take
    return spread


__all__ = [
    "Allocation",
    "AppliedOffer",
    "BasketLine",
    "Evaluation",
    "ListLineTerms",
    "ListTerms",
    "NotApplied",
    "NotAppliedReason",
    "OfferTerms",
    "REASON_TEXT",
    "application_discount",
    "evaluate",
    "funded_share_cents",
    "round_half_up_div",
    "unit_amounts",
]
