"""Offers against the database: scope resolution, catalog checks, create/activate/pause/expire.

Catalog rules refused with a clear message: a scope that matches no product (or none of the
funding manufacturer's), a benefit larger than the scope's typical price, a fixed price that
saves nothing, a budget below the funded value of one redemption, an unknown manufacturer,
activating an offer whose window has already ended.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Iterable, Sequence

import numpy as np
from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from ..models.catalog import Manufacturer, Product
from ..models.offers import ContentItem, Offer, OfferProduct
from ..models.scans import ScanLine
from ..money import format_money
from ..shopping_lists.serials import allocate_offer_code
from .benefits import benefit_text, face_value_cents
from .definition import ContentDefinition, DefinitionError, DefinitionFile, OfferDefinition, ScopeDef


class OfferError(ValueError):
    """An offer operation refused for a business reason (message says why)."""


@dataclass(frozen=True)
class ResolvedScope:
    product_keys: list[int]
    typical_price_cents: int | None  # median shelf price of the scope's products
    lowest_price_cents: int | None
    categories: list[str]  # most products first
    department: str
    subcategories: list[str]
    brand_types: list[str] = field(default_factory=list)  # distinct, sorted


NO_EXCLUSION_GROUP = "none"


def exclusion_of(definition: OfferDefinition, resolved: ResolvedScope) -> tuple[str | None, str | None]:
    """(group, side) of an offer: the side is the brand type of every product in scope
    (None for a mixed scope); the group is the definition's, or by default the scope's
    category when the scope is one brand type within one category."""
    side = resolved.brand_types[0] if len(resolved.brand_types) == 1 else None
    wanted = definition.exclusion_group
    if wanted == NO_EXCLUSION_GROUP or side is None:
        return None, side
    if wanted is not None:
        return wanted, side
    if len(resolved.categories) == 1:
        return resolved.categories[0].lower(), side
    return None, side


def _lower_in(column: Any, values: Sequence[str]) -> Any:
    return func.lower(column).in_([v.lower() for v in values])


def _scope_filter(scope: ScopeDef) -> Any:
    kind, values = scope.kind, scope.values
    if kind == "skus":
        condition = Product.sku.in_(values)
    else:
        column = {"brand": Product.brand, "subcategory": Product.subcategory, "category": Product.category}[kind]
        condition = _lower_in(column, values)
    parts = [condition]
    if scope.brand_type:
        parts.append(Product.brand_type == scope.brand_type)
    if scope.within_category:
        parts.append(func.lower(Product.category) == scope.within_category.lower())
    return and_(*parts)


def scope_products(session: Session, scope: ScopeDef, manufacturer_id: str | None = None) -> list[tuple[Any, ...]]:
    """Rows (id, sku, brand, subcategory, category, department, manufacturer_id, price,
    brand_type) in scope."""
    query = select(
        Product.id, Product.sku, Product.brand, Product.subcategory, Product.category,
        Product.department, Product.manufacturer_id, Product.regular_price_cents, Product.brand_type,
    ).where(_scope_filter(scope))
    if manufacturer_id is not None:
        query = query.where(Product.manufacturer_id == manufacturer_id)
    return list(session.execute(query.order_by(Product.id)).all())


def _unmatched(session: Session, scope: ScopeDef) -> list[str]:
    kind = scope.kind
    column = {"skus": Product.sku, "brand": Product.brand, "subcategory": Product.subcategory,
              "category": Product.category}[kind]
    if kind == "skus":
        found = set(session.execute(select(Product.sku).where(Product.sku.in_(scope.values))).scalars())
        return [v for v in scope.values if v not in found]
    found = {str(v).lower() for v in session.execute(
        select(func.distinct(column)).where(_lower_in(column, scope.values))).scalars()}
    return [v for v in scope.values if v.lower() not in found]


def _scan_prices(session: Session, product_keys: list[int]) -> dict[int, int]:
    """Average paid unit price from scans, for products without a shelf price."""
    out: dict[int, int] = {}
    for start in range(0, len(product_keys), 5000):
        chunk = product_keys[start:start + 5000]
        rows = session.execute(
            select(ScanLine.product_key, func.sum(ScanLine.amount_cents + ScanLine.discount_cents),
                   func.sum(ScanLine.quantity))
            .where(ScanLine.product_key.in_(chunk), ScanLine.quantity > 0)
            .group_by(ScanLine.product_key)
        ).all()
        for key, amount, qty in rows:
            if qty and amount and amount > 0:
                out[int(key)] = int(round(int(amount) / int(qty)))
    return out


def resolve_scope(session: Session, scope: ScopeDef, manufacturer_id: str | None = None) -> ResolvedScope:
    """The scope's products (restricted to the funding manufacturer's own, if any)."""
    rows = scope_products(session, scope)
    label = f"scope {scope.kind} = {scope.values}" + (f" ({scope.brand_type} brand)" if scope.brand_type else "")
    if not rows:
        missing = _unmatched(session, scope)
        detail = f"; no product has {scope.kind} {', '.join(map(repr, missing))}" if missing else ""
        raise OfferError(f"{label} matches no product{detail}")
    if manufacturer_id is not None:
        own = [r for r in rows if r[6] == manufacturer_id]
        if not own:
            raise OfferError(
                f"none of the {len(rows)} products of {label} is made by manufacturer {manufacturer_id!r}; "
                "a manufacturer funds offers on its own products only"
            )
        rows = own
    keys = [int(r[0]) for r in rows]
    prices = {int(r[0]): int(r[7]) for r in rows if r[7] is not None and r[7] > 0}
    missing_price = [k for k in keys if k not in prices]
    if missing_price:
        prices.update(_scan_prices(session, missing_price))
    values = np.array(list(prices.values()), dtype=np.int64)
    typical = int(np.median(values)) if values.size else None
    lowest = int(values.min()) if values.size else None
    categories = [c for c, _ in Counter(r[4] for r in rows).most_common()]
    department = Counter(r[5] for r in rows).most_common(1)[0][0]
    subcategories = [s for s, _ in Counter(r[3] for r in rows).most_common()]
    brand_types = sorted({str(r[8]) for r in rows})
    return ResolvedScope(keys, typical, lowest, categories, department, subcategories, brand_types)


def face_by_tier(kind: str, tier_values: Sequence[int], unit_price_cents: int | None, min_quantity: int) -> list[int]:
    """Estimated saving of one redemption per usage tier at the scope's typical price."""
    price = unit_price_cents or 0
    return [face_value_cents(kind, int(v), price, min_quantity) for v in tier_values]


def check_against_catalog(definition: OfferDefinition, resolved: ResolvedScope) -> list[str]:
    problems: list[str] = []
    benefit = definition.benefit
    low, medium, high = benefit.tier_values()
    qty = benefit.min_quantity
    price = resolved.typical_price_cents
    items = f"{qty} item{'s' if qty > 1 else ''}"
    if price is None and benefit.kind != "amount_off":
        problems.append("no price is known for any product in scope (set products.regular_price_cents), "
                        f"so a {benefit.kind} benefit cannot be valued")
    if price is not None:
        if benefit.kind == "amount_off" and high > price * qty:
            problems.append(
                f"benefit {format_money(high)} off is larger than the price of {items} in scope "
                f"(typical {format_money(price)} each)"
            )
        if benefit.kind == "fixed_price" and low >= price * qty:
            problems.append(
                f"fixed price {format_money(low)} for {items} is not below their typical price "
                f"{format_money(price * qty)}: the offer saves nothing"
            )
    faces = face_by_tier(benefit.kind, (low, medium, high), price, qty)
    budget = definition.funding.budget_cents
    share = definition.funding.share_bp
    one = (max(faces) * share + 5_000) // 10_000
    if budget is not None and share > 0 and budget < one:
        problems.append(
            f"budget {format_money(budget)} is below one redemption "
            f"({format_money(max(faces))} x {definition.funding.share}% funded = {format_money(one)})"
        )
    cells = definition.targeting.cells
    if cells is not None and not definition.targeting.segment_category and len(resolved.categories) > 1:
        problems.append(
            f"the scope spans categories {', '.join(resolved.categories[:5])}: "
            "set targeting.segment_category to say whose cells the targeting refers to"
        )
    wanted_group = definition.exclusion_group
    if wanted_group not in (None, NO_EXCLUSION_GROUP) and len(resolved.brand_types) != 1:
        problems.append(
            f"exclusion_group {wanted_group!r} needs a scope of one brand type (its products are "
            f"{' and '.join(resolved.brand_types)} brands): an exclusion sets store brands against "
            "national brands; narrow the scope with brand_type, or write exclusion_group = \"none\""
        )
    if definition.targeting.segment_category:
        wanted = definition.targeting.segment_category.lower()
        if wanted not in {c.lower() for c in resolved.categories} and definition.targeting.match_on == "scope":
            problems.append(
                f"targeting.segment_category {definition.targeting.segment_category!r} is not a category "
                f"of the scope ({', '.join(resolved.categories[:5])})"
            )
    return problems


def _apply_definition(offer: Offer, d: OfferDefinition, resolved: ResolvedScope) -> None:
    low, medium, high = d.benefit.tier_values()
    offer.name = d.name
    offer.description = d.description or d.name
    offer.funder_kind = d.funder
    offer.manufacturer_id = d.manufacturer if d.funder == "manufacturer" else None
    offer.scope_kind = d.scope.kind
    offer.scope_values = d.scope.values
    offer.scope_brand_type = d.scope.brand_type
    offer.scope_category = d.scope.within_category
    offer.segment_category = d.targeting.segment_category or resolved.categories[0]
    offer.department = resolved.department
    offer.match_on = d.targeting.match_on
    offer.target_cells = d.targeting.cells
    offer.target_stages = d.targeting.stages
    offer.min_probability = d.targeting.min_probability
    offer.benefit_kind = d.benefit.kind
    offer.benefit_low, offer.benefit_medium, offer.benefit_high = low, medium, high
    offer.min_quantity = d.benefit.min_quantity
    offer.redemption_limit = d.benefit.limit
    offer.stackable = d.benefit.stackable
    offer.funded_share_bp = d.funding.share_bp
    offer.handling_fee_cents = d.funding.handling_fee_cents
    offer.budget_cents = d.funding.budget_cents
    offer.max_redemptions = d.funding.max_redemptions
    offer.valid_from = d.validity.valid_from
    offer.valid_to = d.validity.valid_to
    offer.holdout_share = d.holdout_share
    offer.exclusion_group, offer.exclusion_side = exclusion_of(d, resolved)
    offer.definition = d.model_dump(mode="json", by_alias=True)


def _store_products(session: Session, offer_id: int, product_keys: Iterable[int]) -> None:
    session.execute(delete(OfferProduct).where(OfferProduct.offer_id == offer_id))
    rows = [{"offer_id": offer_id, "product_key": k} for k in product_keys]
    if rows:
        session.execute(insert(OfferProduct), rows)


def save_offer(session: Session, definition: OfferDefinition, today: date) -> tuple[Offer, bool]:
    """Create the offer, or update it if its slug exists as a draft or paused offer.

    Returns (offer, created). A definition with ``status = "active"`` is activated too.
    """
    manufacturer_id = definition.manufacturer if definition.funder == "manufacturer" else None
    if manufacturer_id is not None and session.get(Manufacturer, manufacturer_id) is None:
        raise OfferError(f"manufacturer {manufacturer_id!r} is not in the catalog")
    resolved = resolve_scope(session, definition.scope, manufacturer_id)
    problems = check_against_catalog(definition, resolved)
    if problems:
        raise DefinitionError(definition.slug, problems)

    offer = session.execute(select(Offer).where(Offer.slug == definition.slug)).scalar_one_or_none()
    created = offer is None
    if offer is None:
        offer = Offer(slug=definition.slug, offer_code=allocate_offer_code(session), status="draft",
                      redeemed_count=0, funded_spent_cents=0, discount_given_cents=0)
        session.add(offer)
    elif offer.status not in ("draft", "paused"):
        raise OfferError(
            f"offer {definition.slug!r} is {offer.status}; pause it before changing it, "
            "or give the new offer its own slug"
        )
    _apply_definition(offer, definition, resolved)
    session.flush()
    _store_products(session, offer.id, resolved.product_keys)
    if definition.status == "active":
        activate_offer(session, offer, today)
    return offer, created


def save_content(session: Session, definition: ContentDefinition) -> tuple[ContentItem, bool]:
    item = session.execute(select(ContentItem).where(ContentItem.slug == definition.slug)).scalar_one_or_none()
    created = item is None
    if item is None:
        item = ContentItem(slug=definition.slug, status="active")
        session.add(item)
    item.kind = definition.kind
    item.title = definition.title
    item.body = definition.body
    item.category = definition.category
    item.target_stages = definition.stages
    item.min_value_tier = definition.min_value_tier
    item.priority = definition.priority
    item.valid_from = definition.valid_from
    item.valid_to = definition.valid_to
    session.flush()
    return item, created


def save_definitions(session: Session, file: DefinitionFile, today: date) -> dict[str, int]:
    counts = {"offers_created": 0, "offers_updated": 0, "content_created": 0, "content_updated": 0}
    for d in file.offers:
        _, created = save_offer(session, d, today)
        counts["offers_created" if created else "offers_updated"] += 1
    for c in file.content:
        _, created = save_content(session, c)
        counts["content_created" if created else "content_updated"] += 1
    return counts


def find_offer(session: Session, ref: str | int) -> Offer:
    """An offer by id, slug or 6-digit offer code."""
    text = str(ref).strip()
    offer = None
    if text.isdigit():
        if len(text) == 6:
            offer = session.execute(select(Offer).where(Offer.offer_code == text)).scalar_one_or_none()
        offer = offer or session.get(Offer, int(text))
    offer = offer or session.execute(select(Offer).where(Offer.slug == text)).scalar_one_or_none()
    if offer is None:
        raise OfferError(f"no offer {text!r} (give its id, slug or offer code)")
    return offer


def activate_offer(session: Session, offer: Offer, today: date) -> Offer:
    if offer.status == "active":
        return offer
    if offer.status == "ended":
        raise OfferError(f"offer {offer.slug!r} has ended and cannot be activated again")
    if offer.valid_to < today:
        raise OfferError(f"offer {offer.slug!r} ended on {offer.valid_to}; its window is over")
    # The catalog may have changed since the offer was drafted: resolve the scope again.
    d = OfferDefinition.model_validate(offer.definition)
    resolved = resolve_scope(session, d.scope, offer.manufacturer_id)
    problems = check_against_catalog(d, resolved)
    if problems:
        raise DefinitionError(offer.slug, problems)
    _store_products(session, offer.id, resolved.product_keys)
    offer.department = resolved.department
    offer.exclusion_group, offer.exclusion_side = exclusion_of(d, resolved)
    offer.status = "active"
    session.flush()
    return offer


def pause_offer(session: Session, offer: Offer) -> Offer:
    if offer.status == "ended":
        raise OfferError(f"offer {offer.slug!r} has ended")
    offer.status = "paused"
    session.flush()
    return offer


def expire_offers(session: Session, today: date) -> int:
    """End every offer whose validity window is over (the daily job)."""
    result = session.execute(
        update(Offer).where(Offer.valid_to < today, Offer.status != "ended").values(status="ended")
    )
    return int(result.rowcount or 0)


def remaining_budget_cents(offer: Offer) -> int | None:
    if offer.budget_cents is None:
        return None
    return max(0, offer.budget_cents - offer.funded_spent_cents)


def offer_benefit_texts(offer: Offer) -> dict[str, str]:
    return {
        tier: benefit_text(offer.benefit_kind, value, offer.min_quantity)
        for tier, value in (("low", offer.benefit_low), ("medium", offer.benefit_medium), ("high", offer.benefit_high))
    }


def offers_valid_in(session: Session, start: date, end: date, statuses: Sequence[str] = ("active",)) -> list[Offer]:
    """Offers in the given statuses whose window overlaps [start, end]."""
    return list(session.execute(
        select(Offer).where(Offer.status.in_(statuses), Offer.valid_from <= end, Offer.valid_to >= start)
        .order_by(Offer.id)
    ).scalars())


def content_valid_in(session: Session, start: date, end: date) -> list[ContentItem]:
    return list(session.execute(
        select(ContentItem).where(
            ContentItem.status == "active",
            or_(ContentItem.valid_from.is_(None), ContentItem.valid_from <= end),
            or_(ContentItem.valid_to.is_(None), ContentItem.valid_to >= start),
        ).order_by(ContentItem.priority.desc(), ContentItem.id)
    ).scalars())
