"""What the authorization policy needs to know about stored objects, read from the database."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models.catalog import Product
from ..models.offers import Offer, OfferProduct
from .access import OfferRef


def offer_categories(session: Session, offer: Offer) -> frozenset[str]:
    """The categories of the offer's resolved products; before resolution, its configured category."""
    categories = set(session.execute(
        select(Product.category).distinct().join(OfferProduct, OfferProduct.product_key == Product.id)
        .where(OfferProduct.offer_id == offer.id, Product.category != "")
    ).scalars())
    if not categories:
        categories = {c for c in (offer.scope_category, offer.segment_category) if c}
    return frozenset(categories)


def offer_ref(session: Session, offer: Offer) -> OfferRef:
    return OfferRef(
        offer_id=offer.id, funder_kind=offer.funder_kind, manufacturer_id=offer.manufacturer_id,
        categories=offer_categories(session, offer), submitted_by=offer.submitted_by,
    )
