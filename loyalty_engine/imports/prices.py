"""Regular (shelf) prices learned from scans for products that have none.

A line's shelf unit price is its gross price, ``amount + discount``, divided by the quantity
(rounded half-up to a cent). A product's regular price is the unit price it was most often
scanned at (ties: the higher price, since promotions only lower prices). Returns, zero-quantity
lines and lines with no gross price (e.g. fuel sold by the tenth of a gallon at 0 cents/unit)
do not vote. Only products whose ``regular_price_cents`` is NULL are updated, so a price given
in the products file always wins.

The tally is kept as sorted numpy arrays of (product key, unit price) -> count, so memory grows
with the number of distinct price points, not with the number of lines.
"""
from __future__ import annotations

import numpy as np
from sqlalchemy import Connection

from .dbio import BulkIO

_SHIFT = np.int64(1) << np.int64(32)
_MAX_UNIT = (1 << 31) - 1


class RegularPriceTally:
    def __init__(self) -> None:
        self._keys = np.empty(0, dtype=np.int64)  # product_key << 32 | unit price cents
        self._counts = np.empty(0, dtype=np.int64)

    def add(self, product_keys: np.ndarray, quantity: np.ndarray, gross_cents: np.ndarray) -> None:
        votes = (quantity > 0) & (gross_cents > 0)
        if not votes.any():
            return
        q = quantity[votes].astype(np.int64)
        unit = (2 * gross_cents[votes] + q) // (2 * q)
        keep = (unit > 0) & (unit <= _MAX_UNIT)
        keys = product_keys[votes][keep].astype(np.int64) * _SHIFT + unit[keep]
        merged = np.concatenate([self._keys, keys])
        weights = np.concatenate([self._counts, np.ones(len(keys), dtype=np.int64)])
        self._keys, inverse = np.unique(merged, return_inverse=True)
        self._counts = np.bincount(inverse, weights=weights).astype(np.int64)

    def typical_prices(self) -> tuple[np.ndarray, np.ndarray]:
        """(product keys, most common unit price in cents)."""
        if len(self._keys) == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        products = self._keys // _SHIFT
        units = self._keys % _SHIFT
        order = np.lexsort((units, self._counts, products))
        last_of_product = np.r_[products[order][1:] != products[order][:-1], True]
        chosen = order[last_of_product]
        return products[chosen], units[chosen]

    def learn(self, conn: Connection) -> int:
        """Write the typical prices to products without a regular price; returns rows updated."""
        products, prices = self.typical_prices()
        if len(products) == 0:
            return 0
        return BulkIO.for_connection(conn).update(
            "products", "id", {"id": products, "regular_price_cents": prices}, only_if_null="regular_price_cents"
        )
