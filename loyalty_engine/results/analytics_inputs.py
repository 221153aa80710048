"""What manufacturer analytics read: a funder's targeted members and their purchases, as arrays.

Set-wise SQL, then numpy. For one funder and list period:

* the offers of the funder on the period's lists, their category and their *brand* (every
  product of the scope's brands: a trier had bought none of them);
* the treated pairs: (member, offer) with the member's cell and store from the list line;
* per (member, offer, day) the scope's net units and sales in the period (scan lines of
  baskets dated in the period, through ``offer_products``);
* per (member, product) the net spend in the offers' categories over the ``trial_weeks``
  before the period (who bought the brand, another national brand, the store brand);
* the ledger's net redemptions per (member, offer) on the period's lists.

Member keys stay inside these arrays: nothing here is ever published.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Sequence

import numpy as np
from sqlalchemy import Connection, bindparam, text

from .inputs import cell_index


@dataclass
class FunderInputs:
    offers: list[dict[str, Any]]  # id, offer_code, name, category, brand_type
    # treated pairs (aligned): member key, offer position, cell index, store position
    pair_member: np.ndarray
    pair_offer: np.ndarray
    pair_cell: np.ndarray
    pair_store: np.ndarray
    stores: list[str]
    # scope purchases in the period (aligned): member, offer position, day offset, units, sales
    buy_member: np.ndarray
    buy_offer: np.ndarray
    buy_day: np.ndarray
    buy_units: np.ndarray
    buy_sales: np.ndarray
    # pre-period category spend (aligned): member, product key, spend cents
    pre_member: np.ndarray
    pre_product: np.ndarray
    pre_spend: np.ndarray
    # products of the offers' categories: key, category, brand_type, brand key
    product_key: np.ndarray
    product_category: np.ndarray  # object
    product_national: np.ndarray  # bool
    offer_brand_products: list[np.ndarray]  # per offer: product keys of the scope's brands
    # net redemptions per treated pair (aligned with pair_*)
    pair_redemptions: np.ndarray


_OFFERS = text("""
    SELECT DISTINCT o.id, o.offer_code, o.name, o.scope_category, o.segment_category, o.scope_brand_type
    FROM offers o
    WHERE o.funder_kind = 'manufacturer' AND o.manufacturer_id = :mfr AND o.id IN (
        SELECT ln.offer_id FROM shopping_list_lines ln JOIN shopping_lists l ON l.id = ln.list_id
        WHERE l.period_start = :p AND l.status <> 'replaced')
    ORDER BY o.offer_code
""")
_SCOPE = text("""
    SELECT op.offer_id, p.id, p.category, p.brand, p.brand_type, p.manufacturer_id
    FROM offer_products op JOIN products p ON p.id = op.product_key
    WHERE op.offer_id IN :offers
""").bindparams(bindparam("offers", expanding=True))
_CATEGORY_PRODUCTS = text("""
    SELECT id, category, brand, brand_type, manufacturer_id FROM products WHERE category IN :cats
""").bindparams(bindparam("cats", expanding=True))
_PAIRS = text("""
    SELECT l.member_key, ln.offer_id, ln.brand_loyalty, ln.usage_tier, COALESCE(l.store_id, '')
    FROM shopping_list_lines ln JOIN shopping_lists l ON l.id = ln.list_id
    WHERE l.period_start = :p AND l.status <> 'replaced' AND ln.offer_id IN :offers
""").bindparams(bindparam("offers", expanding=True))
_BUYS = text("""
    SELECT s.member_key, op.offer_id, t.business_date, SUM(s.quantity), SUM(s.amount_cents)
    FROM transactions t
    JOIN scan_lines s ON s.transaction_id = t.transaction_id
    JOIN offer_products op ON op.product_key = s.product_key
    WHERE t.business_date BETWEEN :a AND :b AND t.member_key IS NOT NULL AND op.offer_id IN :offers
    GROUP BY s.member_key, op.offer_id, t.business_date
""").bindparams(bindparam("offers", expanding=True))
_PRE = text("""
    SELECT s.member_key, s.product_key, SUM(s.amount_cents)
    FROM transactions t
    JOIN scan_lines s ON s.transaction_id = t.transaction_id
    JOIN products p ON p.id = s.product_key
    WHERE t.business_date BETWEEN :a AND :b AND t.member_key IS NOT NULL AND p.category IN :cats
    GROUP BY s.member_key, s.product_key
""").bindparams(bindparam("cats", expanding=True))
_REDEEMED = text("""
    SELECT r.member_key, r.offer_id, SUM(r.applications)
    FROM redemptions r JOIN shopping_lists l ON l.id = r.list_id
    WHERE l.period_start = :p AND r.offer_id IN :offers
    GROUP BY r.member_key, r.offer_id
""").bindparams(bindparam("offers", expanding=True))


def _ordinal(value: Any) -> int:
    day = value if isinstance(value, date) else date.fromisoformat(str(value))
    return day.toordinal()


def _columns(rows: Sequence[Any], n: int) -> list[list[Any]]:
    return [list(c) for c in zip(*rows)] if rows else [[] for _ in range(n)]


def funder_offers(conn: Connection, manufacturer_id: str, period_start: date) -> list[dict[str, Any]]:
    return [dict(id=int(r[0]), offer_code=r[1], name=r[2], category=r[3] or r[4] or "", brand_type=r[5])
            for r in conn.execute(_OFFERS, {"mfr": manufacturer_id, "p": period_start})]


def pair_keys(member: np.ndarray, offer: np.ndarray, n_offers: int) -> np.ndarray:
    return member.astype(np.int64) * max(n_offers, 1) + offer.astype(np.int64)


def load_funder_inputs(conn: Connection, manufacturer_id: str, period: tuple[date, date],
                       trial_weeks: int) -> FunderInputs:
    """Everything the funder's analytics need for the list period ``period`` (inclusive)."""
    start, end = period
    offers = funder_offers(conn, manufacturer_id, start)
    ids = [o["id"] for o in offers] or [-1]
    position = {o["id"]: i for i, o in enumerate(offers)}
    scope = conn.execute(_SCOPE, {"offers": ids}).all()
    _fill_categories(offers, scope)
    cats = sorted({o["category"] for o in offers}) or [""]
    prods = _columns(conn.execute(_CATEGORY_PRODUCTS, {"cats": cats}).all(), 5)
    product_key = np.asarray(prods[0], dtype=np.int64)
    brand_of: dict[tuple[Any, Any], list[int]] = {}
    for pid, _cat, brand, _bt, mfr in zip(*prods):
        brand_of.setdefault((brand, mfr), []).append(pid)
    offer_brand_products = []
    for o in offers:
        brands = {(r[3], r[5]) for r in scope if r[0] == o["id"]}
        keys = sorted({pid for b in brands for pid in brand_of.get(b, [])} | {int(r[1]) for r in scope if r[0] == o["id"]})
        offer_brand_products.append(np.asarray(keys, dtype=np.int64))

    pairs = _columns(conn.execute(_PAIRS, {"p": start, "offers": ids}).all(), 5)
    stores = sorted(set(pairs[4]))
    store_pos = {s: i for i, s in enumerate(stores)}
    pair_member = np.asarray(pairs[0], dtype=np.int64)
    pair_offer = np.asarray([position[int(x)] for x in pairs[1]], dtype=np.int64)
    buys = _columns(conn.execute(_BUYS, {"a": start, "b": end, "offers": ids}).all(), 5)
    pre_a, pre_b = start - timedelta(weeks=trial_weeks), start - timedelta(days=1)
    pre = _columns(conn.execute(_PRE, {"a": pre_a, "b": pre_b, "cats": cats}).all(), 3)
    redeemed = _columns(conn.execute(_REDEEMED, {"p": start, "offers": ids}).all(), 3)
    pk = pair_keys(pair_member, pair_offer, len(offers))
    order = np.argsort(pk)
    red_keys = pair_keys(np.asarray(redeemed[0], dtype=np.int64),
                         np.asarray([position[int(x)] for x in redeemed[1]], dtype=np.int64), len(offers))
    pair_redemptions = np.zeros(len(pk), dtype=np.int64)
    if len(red_keys) and len(pk):
        at = np.clip(np.searchsorted(pk[order], red_keys), 0, len(pk) - 1)
        hit = pk[order][at] == red_keys
        np.add.at(pair_redemptions, order[at[hit]], np.asarray(redeemed[2], dtype=np.int64)[hit])
    return FunderInputs(
        offers=offers, pair_member=pair_member, pair_offer=pair_offer,
        pair_cell=cell_index(pairs[2], pairs[3]), pair_store=np.asarray([store_pos[s] for s in pairs[4]], dtype=np.int64),
        stores=stores,
        buy_member=np.asarray(buys[0], dtype=np.int64),
        buy_offer=np.asarray([position[int(x)] for x in buys[1]], dtype=np.int64),
        buy_day=np.asarray([_ordinal(d) - start.toordinal() for d in buys[2]], dtype=np.int64),
        buy_units=np.asarray(buys[3], dtype=np.int64), buy_sales=np.asarray(buys[4], dtype=np.int64),
        pre_member=np.asarray(pre[0], dtype=np.int64), pre_product=np.asarray(pre[1], dtype=np.int64),
        pre_spend=np.asarray(pre[2], dtype=np.int64),
        product_key=product_key, product_category=np.asarray(prods[1], dtype=object),
        product_national=np.asarray([bt == "national" for bt in prods[3]], dtype=bool),
        offer_brand_products=offer_brand_products, pair_redemptions=pair_redemptions,
    )


def _fill_categories(offers: list[dict[str, Any]], scope: Sequence[Any]) -> None:
    """An offer's category (its scope category if set, else its products' most common one) and brand type."""
    for o in offers:
        if o["category"]:
            continue
        cats = [r[2] for r in scope if r[0] == o["id"]]
        o["category"] = max(sorted(set(cats)), key=cats.count) if cats else ""
    for o in offers:  # national or store brand: as configured, else what the scope's products are
        if not o["brand_type"]:
            types = [r[4] for r in scope if r[0] == o["id"]]
            o["brand_type"] = max(sorted(set(types)), key=types.count) if types else "national"
