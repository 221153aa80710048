"""Checks of built lists against the case's rules, read back from the database.

- **Trial conflicts**: lists that carry a store-brand trial (an offer scoped to store brands,
  ``brand_type = "store"``) together with a national-brand offer (every product in scope a
  national brand) of the same category. Worked out from the
  offers' products, not from their exclusion groups, so it also measures lists built before
  exclusion groups existed.
- **Face value by value tier**: lists, mean face value and how many reach a given amount.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from ..models.catalog import Product
from ..models.lists import ShoppingList, ShoppingListLine
from ..models.offers import Offer, OfferProduct


@dataclass(frozen=True)
class TrialConflicts:
    lists_with_trial: int
    lists_with_conflict: int


def _list_filter(period_start: date | None) -> Any:
    condition = ShoppingList.status != "replaced"
    if period_start is not None:
        condition = condition & (ShoppingList.period_start == period_start)
    return condition


def offer_sides(session: Session) -> pd.DataFrame:
    """(offer_id, category, side) for offers whose products are all one brand type."""
    rows = session.execute(
        select(OfferProduct.offer_id, Product.category, Product.brand_type)
        .join(Product, Product.id == OfferProduct.product_key).distinct()
    ).all()
    frame = pd.DataFrame(rows, columns=["offer_id", "category", "brand_type"])
    types = frame.groupby("offer_id")["brand_type"].nunique()
    one_side = types[types == 1].index
    frame = frame[frame["offer_id"].isin(one_side)]
    return frame.rename(columns={"brand_type": "side"}).drop_duplicates()


def trial_conflicts(session: Session, period_start: date | None = None) -> TrialConflicts:
    """Lists with a store-brand trial, and those of them that also carry a national-brand
    offer of one of the trial's categories."""
    lines = pd.DataFrame(session.execute(
        select(ShoppingListLine.list_id, ShoppingListLine.offer_id)
        .join(ShoppingList, ShoppingList.id == ShoppingListLine.list_id).where(_list_filter(period_start))
    ).all(), columns=["list_id", "offer_id"])
    sided = lines.merge(offer_sides(session), on="offer_id")
    trials = set(session.execute(select(Offer.id).where(Offer.scope_brand_type == "store")).scalars())
    store = sided[(sided["side"] == "store") & sided["offer_id"].isin(trials)][["list_id", "category"]].drop_duplicates()
    national = sided[sided["side"] == "national"][["list_id", "category"]].drop_duplicates()
    both = store.merge(national, on=["list_id", "category"])
    return TrialConflicts(int(store["list_id"].nunique()), int(both["list_id"].nunique()))


def face_by_value_tier(session: Session, reach_cents: int, period_start: date | None = None) -> dict[int, dict[str, Any]]:
    """Per value tier: lists, mean face value (cents) and how many reach ``reach_cents``."""
    rows = session.execute(
        select(ShoppingList.value_tier, func.count(), func.avg(ShoppingList.total_face_cents),
               func.sum(case((ShoppingList.total_face_cents >= reach_cents, 1), else_=0)))
        .where(_list_filter(period_start)).group_by(ShoppingList.value_tier).order_by(ShoppingList.value_tier)
    ).all()
    return {int(t): {"lists": int(n), "mean_face_cents": int(round(float(avg or 0))), "reached": int(k or 0)}
            for t, n, avg, k in rows}
