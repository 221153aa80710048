"""The list's terms as the rules see them: built from the terms rows, refreshed under lock.

The terms rows (:data:`.queries.LaneQueries.terms_by_list`, or :mod:`.single_statement`'s
JSON rows of the same columns) become :class:`.rules.ListTerms`; once a conditional counter
move has missed, :func:`lock_offers_and_reevaluate` locks the offers and re-evaluates on their
counters.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from typing import Any, Sequence

from sqlalchemy import Connection

from . import rules
from .queries import OFFER_COUNTERS_LOCKED, TERMS_PRODUCT_KEY
from .records import Basket, LineInfo, ListRow


def terms_from_rows(shopping_list: ListRow, rows: Sequence[Any]) -> tuple[rules.ListTerms, dict[int, LineInfo]]:
    """The list's terms for the rules and what the answer shows of each line, from its terms rows."""
    scope: dict[int, set[int]] = defaultdict(set)
    by_line: dict[int, Any] = {}
    for row in rows:
        by_line.setdefault(row[0], row)
        keys = row[TERMS_PRODUCT_KEY]  # a row per scope product, or (single_statement) a list of them
        if isinstance(keys, list):
            scope[row[2]].update(keys)
        elif keys is not None:
            scope[row[2]].add(keys)
    lines = []
    info: dict[int, LineInfo] = {}
    for row in sorted(by_line.values(), key=lambda r: r[1]):  # list order
        offer = rules.OfferTerms(
            offer_id=row[2], status=row[11], valid_from=row[12], valid_to=row[13], funded_share_bp=row[14],
            handling_fee_cents=row[15], budget_cents=row[16], max_redemptions=row[17], redeemed_count=row[18],
            funded_spent_cents=row[19], funder_kind=row[20], manufacturer_id=row[21], stackable=bool(row[22]),
        )
        lines.append(rules.ListLineTerms(
            list_line_id=row[0], line_no=row[1], offer=offer, benefit_kind=row[4], benefit_value=row[5],
            min_quantity=row[6], redemption_limit=row[7], redeemed_count=row[8], valid_from=row[9],
            valid_to=row[10], product_keys=frozenset(scope.get(row[2], ())),
        ))
        info[row[0]] = LineInfo(offer_code=row[23], description=row[3])
    terms = rules.ListTerms(shopping_list.list_id, shopping_list.status, shopping_list.period_start,
                            shopping_list.period_end, tuple(lines))
    return terms, info


def lock_offers_and_reevaluate(conn: Connection, basket: Basket, list_terms: rules.ListTerms,
                               evaluation: rules.Evaluation,
                               reversed_offers: set[int]) -> tuple[rules.ListTerms, rules.Evaluation]:
    """Lock the offers the basket could redeem or reverse (one statement, ascending id) and
    re-evaluate on their locked counters.

    Used once a conditional update has missed (the first attempt trusts the counters read
    with the lines and lets the conditional updates check them). The offers locked are those
    whose scope meets the basket (every offer a re-evaluation could redeem) and those its
    returns reverse, all at once, so no offer is locked after another of higher id (the lock
    order, :mod:`.returns`). A popular offer printed on many lists does not serialize lanes
    whose baskets hold nothing of it.
    """
    wanted = sorted({t.offer.offer_id for t in list_terms.lines if t.product_keys} | reversed_offers)
    if not wanted:
        return list_terms, evaluation
    fresh = {row[0]: tuple(row[1:]) for row in conn.execute(OFFER_COUNTERS_LOCKED, {"offer_ids": wanted})}
    updated = with_counters(list_terms, fresh)
    if updated != list_terms:  # another lane moved a counter since the first read
        list_terms = updated
        evaluation = rules.evaluate(list_terms, basket.basket_lines, basket.business_date)
    return list_terms, evaluation


def with_counters(list_terms: rules.ListTerms, fresh: dict[int, tuple[Any, ...]]) -> rules.ListTerms:
    """The terms with the offers' counters (status, redeemed, spent, budget, cap) as read again."""
    lines = []
    for t in list_terms.lines:
        values = fresh.get(t.offer.offer_id)
        if values is not None:
            status, redeemed, spent, budget, cap = values
            t = replace(t, offer=replace(t.offer, status=status, redeemed_count=redeemed, funded_spent_cents=spent,
                                         budget_cents=budget, max_redemptions=cap))
        lines.append(t)
    return replace(list_terms, lines=tuple(lines))

