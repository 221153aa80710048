"""The active offers of a period, read once from the database and turned into selection arrays."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models.catalog import Manufacturer, Product
from ..models.lists import ShoppingList, ShoppingListLine
from ..models.offers import BRAND_LOYALTIES, LIFECYCLE_STAGES, USAGE_TIERS, Offer, OfferProduct
from ..models.scans import ScanLine
from ..offers.benefits import benefit_text, face_value_cents
from ..offers.service import offers_valid_in
from .selection import ALL_CELLS, ALL_STAGES, UNSEGMENTED_CELL, OfferArrays


@dataclass
class PreparedOffers:
    offers: list[Offer]
    arrays: OfferArrays
    scopes: list[np.ndarray]  # distinct product-key sets to score
    scope_column: np.ndarray  # offer position -> column of the scored matrix
    benefit_values: np.ndarray  # int64 (n_offers, 3): cents or basis points per tier
    benefit_texts: list[tuple[str, str, str]]
    typical_price_cents: np.ndarray  # int64, 0 when unknown
    funder_names: list[str]
    outstanding_funded_cents: np.ndarray  # float64: expected cost of other live lists

    def __len__(self) -> int:
        return len(self.offers)


def cell_mask(cells: Sequence[str] | None) -> int:
    if cells is None:
        return ALL_CELLS
    mask = 0
    for cell in cells:
        if cell == "unsegmented":
            mask |= 1 << UNSEGMENTED_CELL
        else:
            loyalty, tier = cell.split(":")
            mask |= 1 << (BRAND_LOYALTIES.index(loyalty) * 3 + USAGE_TIERS.index(tier))
    return mask


def stage_mask(stages: Sequence[str] | None) -> int:
    if stages is None:
        return ALL_STAGES
    mask = 0
    for stage in stages:
        mask |= 1 << LIFECYCLE_STAGES.index(stage)
    return mask


def _offer_products(session: Session, offer_ids: list[int]) -> pd.DataFrame:
    rows = session.execute(
        select(OfferProduct.offer_id, OfferProduct.product_key, Product.regular_price_cents,
               Product.category, Product.subcategory)
        .join(Product, Product.id == OfferProduct.product_key)
        .where(OfferProduct.offer_id.in_(offer_ids))
    ).all()
    frame = pd.DataFrame(rows, columns=["offer_id", "product_key", "price", "category", "subcategory"])
    missing = frame.loc[frame["price"].isna() | (frame["price"] <= 0), "product_key"].unique().tolist()
    if missing:
        paid: dict[int, float] = {}
        for start in range(0, len(missing), 5000):
            chunk = [int(k) for k in missing[start:start + 5000]]
            for key, amount, qty in session.execute(
                select(ScanLine.product_key, func.sum(ScanLine.amount_cents + ScanLine.discount_cents),
                       func.sum(ScanLine.quantity))
                .where(ScanLine.product_key.in_(chunk), ScanLine.quantity > 0)
                .group_by(ScanLine.product_key)
            ).all():
                if qty and amount and amount > 0:
                    paid[int(key)] = int(amount) / int(qty)
        fill = frame["product_key"].map(paid)
        frame["price"] = frame["price"].where(frame["price"].notna() & (frame["price"] > 0), fill)
    return frame


def _outstanding(
    session: Session, offer_ids: list[int], period_start: date, exclude_build: int | None
) -> dict[int, tuple[float, float]]:
    """Per offer, (expected face value, expected redemptions) of unredeemed lines on other
    lists still valid from ``period_start``: budget they may still use."""
    # Driven from the still-valid lists (their lines are stored together, found by list id):
    # asking by offer_id instead makes SQLite visit every line of every list ever built in
    # random order (5x slower with one earlier build, worse with each one). Offers not asked
    # for are dropped here rather than in SQL, which would bring that plan back.
    valid_lists = select(ShoppingList.id).where(ShoppingList.status == "active", ShoppingList.period_end >= period_start)
    if exclude_build is not None:
        valid_lists = valid_lists.where(ShoppingList.build_id != exclude_build)
    query = (
        select(ShoppingListLine.offer_id,
               func.sum(ShoppingListLine.probability * ShoppingListLine.face_value_cents),
               func.sum(ShoppingListLine.probability))
        .where(ShoppingListLine.list_id.in_(valid_lists), ShoppingListLine.redeemed_count == 0)
        .group_by(ShoppingListLine.offer_id)
    )
    wanted = set(offer_ids)
    return {int(o): (float(v or 0.0), float(p or 0.0)) for o, v, p in session.execute(query).all() if int(o) in wanted}


def scope_groups(offer_products: pd.DataFrame, offer_ids: np.ndarray, stackable: np.ndarray) -> np.ndarray:
    """Offers whose products overlap (directly or through a chain) share a group; stackable -> -1."""
    n = offer_ids.shape[0]
    if n == 0:
        return np.empty(0, dtype=np.int64)
    pos = pd.Series(np.arange(n), index=offer_ids)
    frame = offer_products[offer_products["offer_id"].isin(offer_ids[~stackable])]
    rows = pos.reindex(frame["offer_id"].to_numpy()).to_numpy()
    prod_codes, _ = pd.factorize(frame["product_key"])
    incidence = sp.csr_matrix(
        (np.ones(rows.shape[0], dtype=np.int32), (rows, prod_codes)),
        shape=(n, int(prod_codes.max()) + 1 if prod_codes.size else 1),
    )
    overlap = incidence @ incidence.T
    _, labels = connected_components(overlap, directed=False)
    return np.where(stackable, -1, labels).astype(np.int64)


SIDES = ("national", "store")


def exclusion_arrays(offers: Sequence[Offer]) -> dict[str, np.ndarray]:
    """Exclusion group codes (-1 = none) and brand sides (0 national, 1 store, -1 none)."""
    codes: dict[str, int] = {}
    group = np.full(len(offers), -1, dtype=np.int64)
    side = np.full(len(offers), -1, dtype=np.int8)
    for i, o in enumerate(offers):
        if o.exclusion_group and o.exclusion_side in SIDES:
            group[i] = codes.setdefault(o.exclusion_group, len(codes))
            side[i] = SIDES.index(o.exclusion_side)
    return {"exclusion_group": group, "exclusion_side": side}


def prepare_offers(
    session: Session,
    period_start: date,
    period_end: date,
    category_index: dict[str, int],
    redemption_rate: float = 1.0,
    exclude_build: int | None = None,
    offers: list[Offer] | None = None,
    min_probability: float = 0.0,
) -> PreparedOffers:
    """Arrays of the offers active and valid in the period, against the remaining budgets."""
    if offers is None:
        offers = offers_valid_in(session, period_start, period_end)
    ids = [o.id for o in offers]
    products = _offer_products(session, ids) if ids else pd.DataFrame(
        columns=["offer_id", "product_key", "price", "category", "subcategory"])
    outstanding = _outstanding(session, ids, period_start, exclude_build) if ids else {}

    # Need scopes (subcategory/category of the offer's products) come from the whole catalog.
    catalog = pd.DataFrame(
        session.execute(select(Product.id, Product.category, Product.subcategory)).all(),
        columns=["product_key", "category", "subcategory"],
    )
    catalog["need"] = catalog["category"].astype(str) + "\x1f" + catalog["subcategory"].astype(str)
    keys_by_need = {k: np.sort(g.to_numpy(dtype=np.int64)) for k, g in catalog.groupby("need")["product_key"]}
    keys_by_category = {k: np.sort(g.to_numpy(dtype=np.int64)) for k, g in catalog.groupby("category")["product_key"]}
    by_offer = {oid: g for oid, g in products.groupby("offer_id")}
    scope_keys: dict[bytes, int] = {}
    scopes: list[np.ndarray] = []
    scope_column = np.zeros(len(offers), dtype=np.int64)
    prices = np.zeros(len(offers), dtype=np.int64)
    for i, offer in enumerate(offers):
        group = by_offer.get(offer.id)
        keys = np.sort(group["product_key"].to_numpy(dtype=np.int64)) if group is not None else np.empty(0, np.int64)
        if group is not None and group["price"].notna().any():
            prices[i] = int(round(float(group["price"].dropna().median())))
        if offer.match_on == "subcategory" and group is not None:
            needs = (group["category"].astype(str) + "\x1f" + group["subcategory"].astype(str)).unique()
            keys = np.unique(np.concatenate([keys_by_need[n] for n in needs]))
        elif offer.match_on == "category" and group is not None:
            keys = np.unique(np.concatenate([keys_by_category[c] for c in group["category"].unique()]))
        signature = keys.tobytes()
        if signature not in scope_keys:
            scope_keys[signature] = len(scopes)
            scopes.append(keys)
        scope_column[i] = scope_keys[signature]

    n = len(offers)
    values = np.array([[o.benefit_low, o.benefit_medium, o.benefit_high] for o in offers], dtype=np.int64).reshape(n, 3)
    faces = np.array(
        [[face_value_cents(o.benefit_kind, int(v), int(prices[i]), o.min_quantity) for v in values[i]]
         for i, o in enumerate(offers)], dtype=np.int64,
    ).reshape(n, 3)
    share = np.array([o.funded_share_bp for o in offers], dtype=np.int64)
    outstanding_cents = np.array(
        [outstanding.get(o.id, (0.0, 0.0))[0] * redemption_rate * o.funded_share_bp / 10_000 for o in offers],
        dtype=np.float64,
    )
    outstanding_redemptions = np.array(
        [outstanding.get(o.id, (0.0, 0.0))[1] * redemption_rate for o in offers], dtype=np.float64
    )
    budget = np.array(
        [np.inf if o.budget_cents is None else max(0.0, o.budget_cents - o.funded_spent_cents) for o in offers],
        dtype=np.float64,
    )
    redemptions = np.array(
        [np.inf if o.max_redemptions is None else max(0.0, o.max_redemptions - o.redeemed_count) for o in offers],
        dtype=np.float64,
    )
    remaining_budget = np.maximum(0.0, budget - outstanding_cents)
    remaining_redemptions = np.maximum(0.0, redemptions - outstanding_redemptions)
    offer_ids = np.array(ids, dtype=np.int64)
    stackable = np.array([o.stackable for o in offers], dtype=bool)
    arrays = OfferArrays(
        offer_id=offer_ids,
        segment_category=np.array(
            [category_index.get((o.segment_category or "").lower(), -1) for o in offers], dtype=np.int32),
        cell_mask=np.array([cell_mask(o.target_cells) for o in offers], dtype=np.int64),
        stage_mask=np.array([stage_mask(o.target_stages) for o in offers], dtype=np.int64),
        min_probability=np.array([max(o.min_probability, min_probability) for o in offers], dtype=np.float64),
        face_by_tier=faces,
        funded_share_bp=share,
        handling_fee_cents=np.array([o.handling_fee_cents for o in offers], dtype=np.int64),
        sale_value_cents=np.maximum(prices, 1) * np.array([o.min_quantity for o in offers], dtype=np.int64),
        remaining_budget_cents=remaining_budget,
        remaining_redemptions=remaining_redemptions,
        scope_group=scope_groups(products, offer_ids, stackable),
        holdout_share=np.array([o.holdout_share for o in offers], dtype=np.float64),
        **exclusion_arrays(offers),
    )
    manufacturers = {m.id: m.name for m in session.execute(select(Manufacturer)).scalars()} if offers else {}
    funder_names = [
        (manufacturers.get(o.manufacturer_id or "", o.manufacturer_id or "") if o.funder_kind == "manufacturer"
         else "store") for o in offers
    ]
    texts = [tuple(benefit_text(o.benefit_kind, int(v), o.min_quantity) for v in values[i])
             for i, o in enumerate(offers)]
    return PreparedOffers(
        offers=offers, arrays=arrays, scopes=scopes, scope_column=scope_column, benefit_values=values,
        benefit_texts=texts, typical_price_cents=prices, funder_names=funder_names,
        outstanding_funded_cents=outstanding_cents,
    )
