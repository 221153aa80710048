"""Read models of offers for the console: the list with budget burn and live counters, one
offer's categories (what authorization decides on), and its products."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any, Iterable

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session

from ..models.catalog import Manufacturer, Product
from ..models.offers import Offer, OfferProduct
from .service import offer_benefit_texts


def offer_categories(session: Session, offer_ids: Iterable[int]) -> dict[int, frozenset[str]]:
    """The product categories of each offer's resolved scope (empty for an offer without products)."""
    ids = list(offer_ids)
    out: dict[int, set[str]] = defaultdict(set)
    for start in range(0, len(ids), 1000):
        chunk = ids[start:start + 1000]
        rows = session.execute(
            select(OfferProduct.offer_id, Product.category).distinct()
            .join(Product, Product.id == OfferProduct.product_key)
            .where(OfferProduct.offer_id.in_(chunk))).all()
        for offer_id, category in rows:
            out[int(offer_id)].add(str(category))
    return {i: frozenset(out.get(i, ())) for i in ids}


@dataclass
class OfferRow:
    id: int
    slug: str
    name: str
    status: str
    funder: str  # manufacturer name, or "store"
    manufacturer_id: str | None
    valid_from: date
    valid_to: date
    benefit: str
    budget_cents: int | None
    spent_cents: int
    redeemed: int
    max_redemptions: int | None
    categories: frozenset[str]
    submitted_by: str | None

    @property
    def burn(self) -> float | None:
        return None if not self.budget_cents else min(self.spent_cents / self.budget_cents, 1.0)


PAGE_SIZE = 100


def _within(categories: frozenset[str]) -> Any:
    """Offers whose resolved products all lie in ``categories`` (and that have products)."""
    in_offer = (select(OfferProduct.offer_id).join(Product, Product.id == OfferProduct.product_key)
                .where(OfferProduct.offer_id == Offer.id))
    return and_(exists(in_offer), ~exists(in_offer.where(Product.category.not_in(sorted(categories)))))


def offer_rows(session: Session, status: str | None = None, search: str = "",
               within: frozenset[str] | None = None, page: int = 1,
               page_size: int = PAGE_SIZE) -> tuple[list[OfferRow], int]:
    """One page of offers (newest first) with funder, period, burn and counters, and how many match.

    ``within``: only offers whose categories are all among these (a category manager's own).
    """
    where = []
    if status:
        where.append(Offer.status == status)
    if search.strip():
        like = f"%{search.strip().lower()}%"
        where.append(or_(func.lower(Offer.name).like(like), func.lower(Offer.slug).like(like)))
    if within is not None:
        where.append(_within(within))
    total = int(session.execute(select(func.count()).select_from(Offer).where(*where)).scalar_one())
    query = (select(Offer, Manufacturer.name).outerjoin(Manufacturer, Manufacturer.id == Offer.manufacturer_id)
             .where(*where).order_by(Offer.id.desc()).limit(page_size).offset(max(page - 1, 0) * page_size))
    rows = session.execute(query).all()
    categories = offer_categories(session, [o.id for o, _ in rows])
    out = []
    for offer, maker in rows:
        texts = offer_benefit_texts(offer)
        benefit = texts["low"] if len(set(texts.values())) == 1 else " / ".join(texts.values())
        out.append(OfferRow(
            offer.id, offer.slug, offer.name, offer.status,
            (maker or offer.manufacturer_id or "?") if offer.funder_kind == "manufacturer" else "store",
            offer.manufacturer_id, offer.valid_from, offer.valid_to, benefit, offer.budget_cents,
            offer.funded_spent_cents, offer.redeemed_count, offer.max_redemptions, categories[offer.id],
            offer.submitted_by))
    return out, total


def offer_products(session: Session, offer_id: int, limit: int = 50) -> tuple[int, list[tuple[str, str, str]]]:
    """How many products the offer's scope resolved to, and the first ``limit`` (sku, name, brand)."""
    total = int(session.execute(select(func.count()).select_from(OfferProduct)
                                .where(OfferProduct.offer_id == offer_id)).scalar_one())
    rows = session.execute(
        select(Product.sku, Product.name, Product.brand).join(OfferProduct, OfferProduct.product_key == Product.id)
        .where(OfferProduct.offer_id == offer_id).order_by(Product.sku).limit(limit)).all()
    return total, [(str(s), str(n), str(b)) for s, n, b in rows]


