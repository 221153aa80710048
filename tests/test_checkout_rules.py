"""Redemption rules (pure domain): worked examples and hypothesis properties."""
from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty_engine.checkout.rules import (
    BasketLine,
    ListLineTerms,
    ListTerms,
    NotAppliedReason,
    OfferTerms,
    application_discount,
    evaluate,
    funded_share_cents,
    round_half_up_div,
    unit_amounts,
)

TODAY = date(2027, 3, 10)


def offer(offer_id: int = 1, **kw) -> OfferTerms:  # type: ignore[no-untyped-def]
    values = dict(
        offer_id=offer_id, status="active", valid_from=TODAY - timedelta(days=7), valid_to=TODAY + timedelta(days=7),
        funded_share_bp=10_000, handling_fee_cents=8, budget_cents=None, max_redemptions=None,
        redeemed_count=0, funded_spent_cents=0, funder_kind="manufacturer", manufacturer_id="MFR1", stackable=False,
    )
    values.update(kw)
    return OfferTerms(**values)  # type: ignore[arg-type]


def line(line_no: int, products: set[int], kind: str = "amount_off", value: int = 100, **kw) -> ListLineTerms:  # type: ignore[no-untyped-def]
    values = dict(
        list_line_id=100 + line_no, line_no=line_no, offer=kw.pop("offer", None) or offer(line_no),
        benefit_kind=kind, benefit_value=value, min_quantity=1, redemption_limit=1, redeemed_count=0,
        valid_from=TODAY - timedelta(days=3), valid_to=TODAY + timedelta(days=10), product_keys=frozenset(products),
    )
    values.update(kw)
    return ListLineTerms(**values)  # type: ignore[arg-type]


def shopping_list(*lines: ListLineTerms, status: str = "active") -> ListTerms:
    return ListTerms(1, status, TODAY - timedelta(days=3), TODAY + timedelta(days=10), tuple(lines))


def scan(line_no: int, product: int | None, qty: int, unit: int, amount: int | None = None) -> BasketLine:
    return BasketLine(line_no, product, qty, unit, unit * qty if amount is None else amount)


def reasons(evaluation) -> dict[int, NotAppliedReason]:  # type: ignore[no-untyped-def]
    return {n.list_line_no: n.reason for n in evaluation.not_applied}


# --- worked examples -------------------------------------------------------------------


def test_amount_off_applies_once_and_is_allocated_to_the_line() -> None:
    result = evaluate(shopping_list(line(1, {7}, value=150)), [scan(1, 7, 2, 499)], TODAY)
    (applied,) = result.applied
    assert (applied.applications, applied.units, applied.discount_cents, applied.funded_cents) == (1, 1, 150, 150)
    assert applied.handling_fee_cents == 8
    assert result.line_discounts == {1: 150}


def test_percent_off_rounds_half_up_on_the_cent() -> None:
    # 25 % of 2.50 is 0.625 -> 0.63; 25 % of 2.49 is 0.6225 -> 0.62
    assert application_discount("percent_off", 2500, 250) == 63
    assert application_discount("percent_off", 2500, 249) == 62
    result = evaluate(shopping_list(line(1, {7}, "percent_off", 2500)), [scan(1, 7, 1, 250)], TODAY)
    assert result.total_discount_cents == 63


def test_fixed_price_for_a_group_of_units_and_no_saving_when_already_cheaper() -> None:
    two_for_five = line(1, {7}, "fixed_price", 500, min_quantity=2)
    result = evaluate(shopping_list(two_for_five), [scan(1, 7, 2, 349)], TODAY)
    assert result.total_discount_cents == 198
    cheap = evaluate(shopping_list(two_for_five), [scan(1, 7, 2, 200)], TODAY)
    assert reasons(cheap) == {1: NotAppliedReason.NO_SAVING}


def test_discount_never_exceeds_the_line_amount() -> None:
    result = evaluate(shopping_list(line(1, {7}, value=1_000)), [scan(1, 7, 1, 299)], TODAY)
    assert result.line_discounts == {1: 299}


def test_units_are_used_from_the_highest_price_down() -> None:
    result = evaluate(
        shopping_list(line(1, {7, 8}, "percent_off", 5000)), [scan(1, 7, 1, 200), scan(2, 8, 1, 600)], TODAY
    )
    assert result.line_discounts == {2: 300}


def test_uneven_amount_splits_exactly_over_units() -> None:
    assert unit_amounts(BasketLine(1, 7, 3, 333, 1000)) == [334, 333, 333]
    assert sum(unit_amounts(BasketLine(1, 7, 7, 1, 50))) == 50


def test_each_reason() -> None:
    lines = [
        line(1, {1}),  # not in basket
        line(2, {2}, min_quantity=3),  # below minimum
        line(3, {3}, redeemed_count=1),  # already redeemed on this list
        line(4, {4}, offer=offer(4, max_redemptions=10, redeemed_count=10)),
        line(5, {5}, offer=offer(5, budget_cents=500, funded_spent_cents=500)),
        line(6, {6}, offer=offer(6, budget_cents=500, funded_spent_cents=450), value=100),  # 100 > 50 left
        line(7, {7}, valid_to=TODAY - timedelta(days=1)),
        line(8, {8}, offer=offer(8, valid_from=TODAY + timedelta(days=1))),
        line(9, {9}, offer=offer(9, status="paused")),
        line(10, {10}, offer=offer(10, status="ended")),
    ]
    basket = [scan(i, i, 1, 500) for i in range(2, 11)]
    result = evaluate(shopping_list(*lines), basket, TODAY)
    assert result.applied == []
    assert reasons(result) == {
        1: NotAppliedReason.NOT_IN_BASKET,
        2: NotAppliedReason.QUANTITY_BELOW_MINIMUM,
        3: NotAppliedReason.ALREADY_REDEEMED,
        4: NotAppliedReason.LIMIT_REACHED,
        5: NotAppliedReason.BUDGET_EXHAUSTED,
        6: NotAppliedReason.BUDGET_EXHAUSTED,
        7: NotAppliedReason.EXPIRED,
        8: NotAppliedReason.NOT_YET_VALID,
        9: NotAppliedReason.OFFER_INACTIVE,
        10: NotAppliedReason.EXPIRED,
    }


def test_inactive_or_out_of_period_list_applies_nothing() -> None:
    replaced = evaluate(shopping_list(line(1, {7}), status="replaced"), [scan(1, 7, 1, 500)], TODAY)
    assert reasons(replaced) == {1: NotAppliedReason.LIST_NOT_ACTIVE}
    late = evaluate(shopping_list(line(1, {7})), [scan(1, 7, 1, 500)], TODAY + timedelta(days=30))
    assert reasons(late) == {1: NotAppliedReason.LIST_NOT_ACTIVE}


def test_limit_and_cap_bound_applications() -> None:
    multi = line(1, {7}, redemption_limit=3, redeemed_count=1, offer=offer(1, max_redemptions=5, redeemed_count=4))
    result = evaluate(shopping_list(multi), [scan(1, 7, 6, 300)], TODAY)
    assert result.applied[0].applications == 1  # line allows 2 more, offer only 1
    multi2 = line(1, {7}, redemption_limit=3, min_quantity=2)
    result2 = evaluate(shopping_list(multi2), [scan(1, 7, 5, 300)], TODAY)
    assert (result2.applied[0].applications, result2.applied[0].units) == (2, 4)


def test_budget_allows_whole_applications_only() -> None:
    capped = line(1, {7}, redemption_limit=5, offer=offer(1, budget_cents=250, funded_share_bp=5000))
    result = evaluate(shopping_list(capped), [scan(1, 7, 5, 400)], TODAY)
    # each application: 100 off, funder pays 50; 250 budget -> 5 applications fit exactly
    assert (result.applied[0].applications, result.applied[0].funded_cents) == (5, 250)
    tight = line(1, {7}, redemption_limit=5, offer=offer(1, budget_cents=120, funded_share_bp=5000))
    assert evaluate(shopping_list(tight), [scan(1, 7, 5, 400)], TODAY).applied[0].applications == 2


def test_non_stackable_offers_do_not_share_units_but_stackable_ones_do() -> None:
    first, second = line(1, {7}, value=100), line(2, {7}, value=50)
    result = evaluate(shopping_list(first, second), [scan(1, 7, 1, 300)], TODAY)
    assert reasons(result) == {2: NotAppliedReason.ITEMS_USED_BY_OTHER_OFFER}
    stack = line(2, {7}, value=250, offer=offer(2, stackable=True))
    stacked = evaluate(shopping_list(first, stack), [scan(1, 7, 1, 300)], TODAY)
    assert stacked.line_discounts == {1: 300}  # 100 + 200 (capped from 250 at the line amount)


def test_returns_and_unknown_products_never_match() -> None:
    result = evaluate(shopping_list(line(1, {7})), [scan(1, 7, -1, 300, -300), scan(2, None, 1, 300)], TODAY)
    assert reasons(result) == {1: NotAppliedReason.NOT_IN_BASKET}


def test_rounding_helpers() -> None:
    assert round_half_up_div(5, 10) == 1
    assert round_half_up_div(4, 10) == 0
    assert round_half_up_div(15, 10) == 2
    assert funded_share_cents(125, 5000) == 63  # 62.5 -> 63
    assert funded_share_cents(125, 0) == 0


# --- properties -------------------------------------------------------------------------

PRODUCTS = st.integers(min_value=1, max_value=6)


@st.composite
def offer_terms(draw, offer_id: int) -> OfferTerms:  # type: ignore[no-untyped-def]
    budget = draw(st.one_of(st.none(), st.integers(0, 2_000)))
    cap = draw(st.one_of(st.none(), st.integers(0, 6)))
    return offer(
        offer_id,
        funded_share_bp=draw(st.integers(0, 10_000)),
        budget_cents=budget,
        funded_spent_cents=draw(st.integers(0, budget)) if budget is not None else 0,
        max_redemptions=cap,
        redeemed_count=draw(st.integers(0, cap)) if cap is not None else draw(st.integers(0, 50)),
        stackable=draw(st.booleans()),
        status=draw(st.sampled_from(["active", "active", "active", "paused", "ended"])),
    )


@st.composite
def list_lines(draw) -> ListTerms:  # type: ignore[no-untyped-def]
    count = draw(st.integers(1, 6))
    lines = []
    for n in range(1, count + 1):
        kind = draw(st.sampled_from(["amount_off", "percent_off", "fixed_price"]))
        value = draw(st.integers(1, 10_000)) if kind == "percent_off" else draw(st.integers(0, 1_500))
        limit = draw(st.integers(1, 4))
        lines.append(
            line(
                n, set(draw(st.lists(PRODUCTS, min_size=1, max_size=3))), kind, value,
                offer=draw(offer_terms(n)), min_quantity=draw(st.integers(1, 3)),
                redemption_limit=limit, redeemed_count=draw(st.integers(0, limit)),
            )
        )
    return shopping_list(*lines)


@st.composite
def baskets(draw) -> list[BasketLine]:  # type: ignore[no-untyped-def]
    count = draw(st.integers(0, 8))
    result = []
    for n in range(1, count + 1):
        qty = draw(st.integers(-3, 6).filter(lambda q: q != 0))
        unit = draw(st.integers(0, 2_000))
        amount = draw(st.integers(0, unit * abs(qty))) if draw(st.booleans()) else unit * abs(qty)
        product = draw(st.one_of(st.none(), PRODUCTS))
        result.append(BasketLine(n, product, qty, unit, amount if qty > 0 else -amount))
    return result


@settings(max_examples=200, deadline=None)
@given(list_lines(), baskets())
def test_invariants(terms: ListTerms, basket: list[BasketLine]) -> None:
    result = evaluate(terms, basket, TODAY)
    amounts = {b.line_no: b.amount_cents for b in basket}
    # every list line is either applied or explained, exactly once
    seen = [a.list_line_no for a in result.applied] + [n.list_line_no for n in result.not_applied]
    assert sorted(seen) == [t.line_no for t in terms.lines]
    # a discount never exceeds the line amount, and never goes to a return
    for line_no, cents in result.line_discounts.items():
        assert 0 < cents <= amounts[line_no]
    by_line = {t.line_no: t for t in terms.lines}
    for applied in result.applied:
        t = by_line[applied.list_line_no]
        assert applied.discount_cents == sum(a.discount_cents for a in applied.allocations) > 0
        assert 0 <= applied.funded_cents <= applied.discount_cents
        assert applied.applications >= 1 and applied.units == applied.applications * t.min_quantity
        assert t.redeemed_count + applied.applications <= t.redemption_limit
        if t.offer.max_redemptions is not None:
            assert t.offer.redeemed_count + applied.applications <= t.offer.max_redemptions
        if t.offer.budget_cents is not None:
            assert t.offer.funded_spent_cents + applied.funded_cents <= t.offer.budget_cents
        assert t.offer.status == "active"
    assert sum(result.line_discounts.values()) == result.total_discount_cents


@settings(max_examples=100, deadline=None)
@given(list_lines(), baskets(), st.randoms(use_true_random=False))
def test_basket_order_does_not_matter(terms: ListTerms, basket: list[BasketLine], rnd: random.Random) -> None:
    shuffled = list(basket)
    rnd.shuffle(shuffled)
    a, b = evaluate(terms, basket, TODAY), evaluate(terms, shuffled, TODAY)
    assert a.applied == b.applied and a.not_applied == b.not_applied


@settings(max_examples=100, deadline=None)
@given(list_lines(), baskets())
def test_using_up_the_counters_leaves_nothing_to_redeem(terms: ListTerms, basket: list[BasketLine]) -> None:
    """After recording what was redeemed, the same basket cannot exceed any limit on a second pass."""
    first = evaluate(terms, basket, TODAY)
    used = {a.list_line_no: a for a in first.applied}
    offers_after = {}
    lines_after = []
    for t in terms.lines:
        a = used.get(t.line_no)
        o = t.offer
        if a is not None:
            o = replace(o, redeemed_count=o.redeemed_count + a.applications,
                        funded_spent_cents=o.funded_spent_cents + a.funded_cents)
        offers_after[t.line_no] = o
        lines_after.append(replace(t, offer=o, redeemed_count=t.redeemed_count + (a.applications if a else 0)))
    second = evaluate(ListTerms(terms.list_id, terms.status, terms.period_start, terms.period_end, tuple(lines_after)), basket, TODAY)
    for applied in second.applied:
        t = next(x for x in lines_after if x.line_no == applied.list_line_no)
        assert t.redeemed_count + applied.applications <= t.redemption_limit
        if t.offer.budget_cents is not None:
            assert t.offer.funded_spent_cents + applied.funded_cents <= t.offer.budget_cents
