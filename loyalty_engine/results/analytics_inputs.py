"""What manufacturer analytics read for a list period, as arrays: one pass for every funder.

Set-wise SQL, then numpy. For the period's manufacturer-funded offers (all funders, or some):

* the offers, their category, brand type and *brand* (every product of the scope's brands:
  a trier had bought none of them), and their scope (``offer_products``);
* the treated pairs: (member, offer) with the member's cell and store from the list line;
* the scan lines of the offers' categories in the period and the ``trial_weeks`` before it
  (member, product, day relative to the period's start, units, net cents), read once;
* the ledger's net redemptions per (member, offer) on the period's lists.

Member keys stay inside these arrays: nothing here is ever published.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Sequence

import numpy as np
from sqlalchemy import Connection, bindparam, text

from .inputs import CELL_NAMES
from .period_lines import PeriodLines
from .scan_window import ScanWindows


@dataclass
class AnalyticsInputs:
    offers: list[dict[str, Any]]  # id, offer_code, name, category, brand_type, manufacturer_id
    offer_category: np.ndarray  # per offer: category id
    # (offer position, brand id) of each brand in an offer's scope; (offer position, product) of its scope
    brand_offer: np.ndarray
    brand_id: np.ndarray
    scope_offer: np.ndarray
    scope_product: np.ndarray
    # products of the offers' categories: key (sorted), category id, national?, brand id
    product_key: np.ndarray
    product_category: np.ndarray
    product_national: np.ndarray
    product_brand: np.ndarray
    # treated pairs (aligned): member key, offer position, cell index, store position, net redemptions
    pair_member: np.ndarray
    pair_offer: np.ndarray
    pair_cell: np.ndarray
    pair_store: np.ndarray
    pair_redemptions: np.ndarray
    stores: list[str]
    # scan lines of the window (aligned): member, product, day (0 = period start), units, net cents
    scan_member: np.ndarray
    scan_product: np.ndarray
    scan_day: np.ndarray
    scan_units: np.ndarray
    scan_cents: np.ndarray
    period_start: date
    period_days: int
    trial_weeks: int
    cache: dict[Any, Any] = field(default_factory=dict)  # derived arrays shared by measures and lift


_OFFERS = text("""
    SELECT o.id, o.offer_code, o.name, COALESCE(o.scope_category, ''), o.segment_category,
           COALESCE(o.scope_brand_type, ''), o.manufacturer_id
    FROM offers o
    WHERE o.funder_kind = 'manufacturer' AND o.manufacturer_id IS NOT NULL AND o.id IN (
        SELECT DISTINCT ln.offer_id FROM shopping_list_lines ln JOIN shopping_lists l ON l.id = ln.list_id
        WHERE l.period_start = :p AND l.status <> 'replaced')
    ORDER BY o.manufacturer_id, o.offer_code
""")
_OFFERS_BY_ID = text("""
    SELECT o.id, o.offer_code, o.name, COALESCE(o.scope_category, ''), o.segment_category,
           COALESCE(o.scope_brand_type, ''), o.manufacturer_id
    FROM offers o
    WHERE o.funder_kind = 'manufacturer' AND o.manufacturer_id IS NOT NULL AND o.id IN :ids
    ORDER BY o.manufacturer_id, o.offer_code
""").bindparams(bindparam("ids", expanding=True))
_SCOPE = text("""
    SELECT op.offer_id, p.id, p.category, p.brand, p.brand_type, COALESCE(p.manufacturer_id, '')
    FROM offer_products op JOIN products p ON p.id = op.product_key
    WHERE op.offer_id IN :offers
""").bindparams(bindparam("offers", expanding=True))
_CATEGORY_PRODUCTS = text("""
    SELECT id, category, brand, brand_type, COALESCE(manufacturer_id, '') FROM products WHERE category IN :cats
    ORDER BY id
""").bindparams(bindparam("cats", expanding=True))
# Integer-coded in SQL (cell = loyalty x 3 + tier, -1 parts = unsegmented) and read through
# the DB-API cursor: a million list lines as Python row objects cost more than the query.
_PAIRS = """
    SELECT l.member_key, ln.offer_id,
           CASE ln.brand_loyalty WHEN 'national' THEN 0 WHEN 'store' THEN 1 WHEN 'switcher' THEN 2 ELSE -1 END,
           CASE ln.usage_tier WHEN 'low' THEN 0 WHEN 'medium' THEN 1 WHEN 'high' THEN 2 ELSE -1 END,
           COALESCE(l.store_id, '')
    FROM shopping_list_lines ln JOIN shopping_lists l ON l.id = ln.list_id
    WHERE l.period_start = '{p}' AND l.status <> 'replaced' AND ln.offer_id IN ({offers})
"""
_REDEEMED = """
    SELECT r.member_key, r.offer_id, SUM(r.applications)
    FROM redemptions r JOIN shopping_lists l ON l.id = r.list_id
    WHERE l.period_start = '{p}' AND r.offer_id IN ({offers})
    GROUP BY r.member_key, r.offer_id
"""


def _fetch(conn: Connection, sql: str) -> list[tuple[Any, ...]]:
    """All rows of ``sql`` as plain tuples (the SQL holds only dates and integer keys made here)."""
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql)
        return cursor.fetchall()
    finally:
        cursor.close()


def _columns(rows: Sequence[Any], n: int) -> list[list[Any]]:
    return [list(c) for c in zip(*rows)] if rows else [[] for _ in range(n)]


def _ints(values: Sequence[Any]) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


def pair_keys(member: np.ndarray, offer: np.ndarray, n_offers: int) -> np.ndarray:
    return member.astype(np.int64) * max(n_offers, 1) + offer.astype(np.int64)


def period_offers(conn: Connection, period_start: date, funders: Sequence[str] | None,
                  lines: PeriodLines | None = None) -> list[dict[str, Any]]:
    """The period's manufacturer-funded offers (of ``funders``; None: all), by funder and code;
    the offers on the lists are taken from ``lines`` when the caller read them already."""
    wanted = set(funders) if funders is not None else None
    if lines is None:
        found = conn.execute(_OFFERS, {"p": period_start})
    else:
        ids = np.unique(lines.ints["offer"]).tolist() or [-1]
        found = conn.execute(_OFFERS_BY_ID, {"ids": ids})
    return [dict(id=int(r[0]), offer_code=r[1], name=r[2], category=r[3] or r[4] or "", brand_type=r[5],
                 manufacturer_id=r[6])
            for r in found if wanted is None or r[6] in wanted]


def _pairs(conn: Connection, start: date, ids: list[int], lines: PeriodLines | None) -> tuple[np.ndarray, ...]:
    """The treated pairs of the offers ``ids``: member, offer id, cell, store position; store ids."""
    if lines is not None:
        keep = np.isin(lines.ints["offer"], np.asarray(ids, dtype=np.int64))
        member, offer, cell = lines.ints["member"][keep], lines.ints["offer"][keep], lines.cell[keep]
        store_names, store = np.unique(lines.store[keep], return_inverse=True)
        return member, offer, cell, store.reshape(-1), store_names
    pairs = _fetch(conn, _PAIRS.format(p=start.isoformat(), offers=",".join(str(i) for i in ids)))
    numbers = np.array([r[:4] for r in pairs], dtype=np.int64).reshape(-1, 4)
    store_names, store = np.unique(np.array([r[4] for r in pairs], dtype=object), return_inverse=True)
    segmented = (numbers[:, 2] >= 0) & (numbers[:, 3] >= 0)
    cell = np.where(segmented, numbers[:, 2] * 3 + numbers[:, 3], len(CELL_NAMES) - 1)
    return numbers[:, 0], numbers[:, 1], cell, store.reshape(-1), store_names


@dataclass(frozen=True)
class FundedOffers:
    """The period's manufacturer-funded offers (their category and brand type filled in), their
    scope rows and every product of their categories: what the analytics inputs, and the scan
    window they read, are built from."""

    period: tuple[date, date]  # the list period, inclusive
    offers: list[dict[str, Any]]
    scope: list[Any]  # offer id, product key, category, brand, brand type, manufacturer
    products: list[list[Any]]  # columns, by product key: key, category, brand, brand type, manufacturer

    def scan_window(self, trial_weeks: int) -> tuple[date, date, np.ndarray]:
        """The scan lines :func:`load_analytics_inputs` reads (first day, last day, products), so
        a shared read can cover them. The window also covers the lift's pre-period (8 weeks)
        for its CUPED covariate."""
        start, end = self.period
        return start - timedelta(weeks=max(trial_weeks, 8)), end, _ints(self.products[0])


def read_funded_offers(conn: Connection, period: tuple[date, date], funders: Sequence[str] | None,
                       lines: PeriodLines | None = None) -> FundedOffers:
    """The list period's funded offers (of ``funders``; None: all), the offers on the lists taken
    from ``lines`` when the caller read them already."""
    offers = period_offers(conn, period[0], funders, lines)
    scope = conn.execute(_SCOPE, {"offers": [o["id"] for o in offers] or [-1]}).all()
    _fill_categories(offers, scope)
    cats = sorted({o["category"] for o in offers}) or [""]
    products = _columns(conn.execute(_CATEGORY_PRODUCTS, {"cats": cats}).all(), 5)
    return FundedOffers(period, offers, list(scope), products)


def load_analytics_inputs(conn: Connection, funded: FundedOffers, trial_weeks: int, scans: ScanWindows | None = None,
                          lines: PeriodLines | None = None) -> AnalyticsInputs:
    """Everything the funders' analytics need for the list period of ``funded``; the scan lines
    through ``scans`` and the list lines from ``lines`` (reads shared with the results) when
    given."""
    start, end = funded.period
    offers, scope, prods = funded.offers, funded.scope, funded.products
    ids = [o["id"] for o in offers] or [-1]
    position = {o["id"]: i for i, o in enumerate(offers)}
    cats = sorted({o["category"] for o in offers}) or [""]
    cat_id = {c: i for i, c in enumerate(cats)}
    brand_ids: dict[tuple[str, str], int] = {}
    product_brand = _ints([brand_ids.setdefault((b or "", m), len(brand_ids)) for b, m in zip(prods[2], prods[4])])
    offer_brands = sorted({(position[int(r[0])], brand_ids.setdefault((r[3] or "", r[5]), len(brand_ids)))
                           for r in scope})
    offer_ids = _ints([o["id"] for o in offers])
    sql_ids = ",".join(str(i) for i in ids)
    pair_member, pair_offer_id, pair_cell, pair_store, store_names = _pairs(conn, start, ids, lines)
    stores = [str(x) for x in store_names]
    pair_offer = _positions(offer_ids, pair_offer_id)
    redeemed = np.array(_fetch(conn, _REDEEMED.format(p=start.isoformat(), offers=sql_ids)),
                        dtype=np.int64).reshape(-1, 3)
    pair_redemptions = _lookup(pair_keys(pair_member, pair_offer, len(offers)),
                               pair_keys(redeemed[:, 0], _positions(offer_ids, redeemed[:, 1]), len(offers)),
                               redeemed[:, 2])
    first, last, products = funded.scan_window(trial_weeks)
    scans = window_scans(conn, first, last, start, products, scans)
    return AnalyticsInputs(
        offers=offers, offer_category=_ints([cat_id[o["category"]] for o in offers]),
        brand_offer=_ints([b[0] for b in offer_brands]), brand_id=_ints([b[1] for b in offer_brands]),
        scope_offer=_ints([position[int(r[0])] for r in scope]), scope_product=_ints([r[1] for r in scope]),
        product_key=_ints(prods[0]), product_category=_ints([cat_id[c] for c in prods[1]]),
        product_national=np.asarray([bt == "national" for bt in prods[3]], dtype=bool), product_brand=product_brand,
        pair_member=pair_member, pair_offer=pair_offer.astype(np.int64), pair_cell=pair_cell.astype(np.int64),
        pair_store=pair_store.astype(np.int64).reshape(-1), pair_redemptions=pair_redemptions, stores=stores,
        scan_member=scans[0], scan_product=scans[1], scan_day=scans[2], scan_units=scans[3],
        scan_cents=scans[4], period_start=start, period_days=(end - start).days + 1, trial_weeks=trial_weeks,
    )


def _positions(ids: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Positions in ``ids`` (unsorted, distinct) of ``values`` (each one of them)."""
    order = np.argsort(ids)
    return order[np.searchsorted(ids[order], values)] if len(ids) else np.zeros(len(values), dtype=np.int64)


def _lookup(keys: np.ndarray, table_keys: np.ndarray, table_values: np.ndarray) -> np.ndarray:
    """``table_values`` summed onto ``keys`` (0 where a key is absent from the table)."""
    out = np.zeros(len(keys), dtype=np.int64)
    if not len(keys) or not len(table_keys):
        return out
    order = np.argsort(keys, kind="stable")
    at = np.clip(np.searchsorted(keys[order], table_keys), 0, len(keys) - 1)
    hit = keys[order][at] == table_keys
    np.add.at(out, order[at[hit]], table_values[hit])
    return out


def window_scans(conn: Connection, first: date, last: date, day0: date, products: np.ndarray,
                 scans: ScanWindows | None = None) -> tuple[np.ndarray, ...]:
    """(member, product, day - day0, units, net cents) columns of members' scan lines of ``products``
    in ``[first, last]``, through ``scans`` (a read shared with the results) when given."""
    return (scans or ScanWindows()).window(conn, first, last, day0, products)


def _fill_categories(offers: list[dict[str, Any]], scope: Sequence[Any]) -> None:
    """An offer's category (its scope category if set, else its products' most common one) and brand type."""
    by_offer: dict[int, list[Any]] = {}
    for r in scope:
        by_offer.setdefault(int(r[0]), []).append(r)
    for o in offers:
        rows = by_offer.get(o["id"], [])
        if not o["category"]:
            cats = [r[2] for r in rows]
            o["category"] = max(sorted(set(cats)), key=cats.count) if cats else ""
        if not o["brand_type"]:
            types = [r[4] for r in rows]
            o["brand_type"] = max(sorted(set(types)), key=types.count) if types else "national"
