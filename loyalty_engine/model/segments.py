"""Category segments: the case's 3 x 3 of brand loyalty x usage tier, per (member, category).

Over a look-back window (default 26 weeks) before ``as_of``:

* brand loyalty from the member's share of the category's units that are store brand:
  ``>= store_brand_share_high`` (0.80) -> ``store``, ``<= store_brand_share_low`` (0.20) ->
  ``national``, in between -> ``switcher``;
* usage tier from the member's category units ranked against the category's other segmented
  buyers: cut at ``usage_quantiles`` (terciles) -> ``low`` / ``medium`` / ``high``;
* fewer than ``segment_min_purchases`` purchase days in the category -> ``unsegmented`` (too
  little history), explicitly: both codes are -1.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .arrays import group_index, unique_sorted
from .history import ScanHistory
from .params import ModelParams

BRAND_LOYALTY = ("national", "store", "switcher")
USAGE_TIERS = ("low", "medium", "high")
UNSEGMENTED = "unsegmented"
NATIONAL, STORE, SWITCHER = 0, 1, 2
LOW, MEDIUM, HIGH = 0, 1, 2
UNSEGMENTED_CODE = -1


@dataclass
class SegmentTable:
    """One row per (member, category) with purchases in the window, sorted by (member, category)."""

    member: np.ndarray  # int32 member position
    category: np.ndarray  # int32 category code (Catalog.category_names)
    brand_loyalty: np.ndarray  # int8: 0 national, 1 store, 2 switcher, -1 unsegmented
    usage_tier: np.ndarray  # int8: 0 low, 1 medium, 2 high, -1 unsegmented
    units: np.ndarray  # int64 units bought in the window
    spend_cents: np.ndarray  # int64 net spend in the window
    purchase_days: np.ndarray  # int32 days with a purchase in the category
    store_brand_share: np.ndarray  # float32 share of units that are store brand
    interval_days: np.ndarray  # float32 mean days between purchase days (nan with one day)
    n_categories: int

    def __len__(self) -> int:
        return int(self.member.shape[0])

    def _key(self) -> np.ndarray:
        return self.member.astype(np.int64) * self.n_categories + self.category

    def lookup(self, member: np.ndarray, category: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Brand-loyalty and usage-tier codes for (member position, category code) pairs.

        Pairs with no purchase in the window, or too few, give -1 (unsegmented) for both.
        """
        keys = np.asarray(member, dtype=np.int64) * self.n_categories + np.asarray(category, dtype=np.int64)
        table = self._key()
        if table.shape[0] == 0:
            missing = np.full(keys.shape, UNSEGMENTED_CODE, dtype=np.int8)
            return missing, missing.copy()
        pos = np.minimum(np.searchsorted(table, keys), table.shape[0] - 1)
        found = table[pos] == keys
        loyalty = np.where(found, self.brand_loyalty[pos], UNSEGMENTED_CODE).astype(np.int8)
        tier = np.where(found, self.usage_tier[pos], UNSEGMENTED_CODE).astype(np.int8)
        return loyalty, tier

    def rows_for_category(self, category: int) -> np.ndarray:
        return np.flatnonzero(self.category == category)

    def to_arrays(self, prefix: str = "segment_") -> dict[str, np.ndarray]:
        names = ("member", "category", "brand_loyalty", "usage_tier", "units", "spend_cents",
                 "purchase_days", "store_brand_share", "interval_days")
        out = {f"{prefix}{n}": getattr(self, n) for n in names}
        out[f"{prefix}n_categories"] = np.array(self.n_categories)
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str = "segment_") -> "SegmentTable":
        names = ("member", "category", "brand_loyalty", "usage_tier", "units", "spend_cents",
                 "purchase_days", "store_brand_share", "interval_days")
        return cls(**{n: arrays[f"{prefix}{n}"] for n in names},
                   n_categories=int(arrays[f"{prefix}n_categories"]))


def brand_loyalty_codes(store_share: np.ndarray, low: float, high: float) -> np.ndarray:
    """national (share <= low), store (share >= high), switcher (between)."""
    return np.where(store_share >= high, STORE, np.where(store_share <= low, NATIONAL, SWITCHER)).astype(np.int8)


def usage_tier_codes(category: np.ndarray, volume: np.ndarray, tiebreak: np.ndarray,
                     quantiles: tuple[float, float]) -> np.ndarray:
    """Tier of each row by its volume's rank among the rows of the same category."""
    n = category.shape[0]
    if n == 0:
        return np.empty(0, dtype=np.int8)
    order = np.lexsort((tiebreak, volume, category))
    sorted_cat = category[order]
    starts = np.flatnonzero(np.r_[True, sorted_cat[1:] != sorted_cat[:-1]])
    sizes = np.diff(np.r_[starts, n])
    rank = np.arange(n) - np.repeat(starts, sizes)
    percentile = (rank + 0.5) / np.repeat(sizes, sizes)
    tier_sorted = np.digitize(percentile, quantiles).astype(np.int8)
    tier = np.empty(n, dtype=np.int8)
    tier[order] = tier_sorted
    return tier


def category_segments(history: ScanHistory, as_of_day: int, params: ModelParams) -> SegmentTable:
    """The 3 x 3 cell of every member in every category they bought in the look-back window."""
    catalog = history.catalog
    n_categories = int(catalog.category_names.shape[0])
    start = as_of_day - 7 * params.segment_lookback_weeks
    keep = (history.day >= start) & (history.day < as_of_day)
    member = history.member_pos[keep].astype(np.int64)
    product = history.product_pos[keep]
    category = catalog.product_category[product].astype(np.int64)
    quantity = history.quantity[keep].astype(np.int64)
    amount = history.amount_cents[keep]
    store = catalog.is_store_brand[product]
    day = history.day[keep].astype(np.int64)

    pair = member * n_categories + category
    pair_keys, row = group_index(pair, len(history.members) * n_categories)
    n_rows = pair_keys.shape[0]
    units = np.bincount(row, weights=np.maximum(quantity, 0), minlength=n_rows)
    store_units = np.bincount(row, weights=np.where(store, np.maximum(quantity, 0), 0), minlength=n_rows)
    spend = np.bincount(row, weights=amount, minlength=n_rows)
    bought = quantity > 0
    day_span = int(day.max() - day.min() + 1) if day.shape[0] else 1
    day_keys = unique_sorted(row[bought].astype(np.int64) * day_span + (day[bought] - (day.min() if day.shape[0] else 0)))
    day_row = day_keys // day_span
    purchase_days = np.bincount(day_row, minlength=n_rows)
    first = np.full(n_rows, 0, dtype=np.int64)
    last = np.full(n_rows, 0, dtype=np.int64)
    if day_keys.shape[0]:
        starts = np.flatnonzero(np.r_[True, day_row[1:] != day_row[:-1]])
        ends = np.r_[starts[1:] - 1, day_row.shape[0] - 1]
        first[day_row[starts]] = day_keys[starts] % day_span
        last[day_row[ends]] = day_keys[ends] % day_span
    interval = np.where(purchase_days >= 2, (last - first) / np.maximum(purchase_days - 1, 1), np.nan)

    store_share = np.where(units > 0, store_units / np.maximum(units, 1), 0.0)
    segmented = purchase_days >= params.segment_min_purchases
    loyalty = np.full(n_rows, UNSEGMENTED_CODE, dtype=np.int8)
    tier = np.full(n_rows, UNSEGMENTED_CODE, dtype=np.int8)
    loyalty[segmented] = brand_loyalty_codes(
        store_share[segmented], params.store_brand_share_low, params.store_brand_share_high
    )
    seg_rows = np.flatnonzero(segmented)
    tier[seg_rows] = usage_tier_codes(
        (pair_keys[seg_rows] % n_categories), units[seg_rows], spend[seg_rows], params.usage_quantiles
    )
    return SegmentTable(
        member=(pair_keys // n_categories).astype(np.int32),
        category=(pair_keys % n_categories).astype(np.int32),
        brand_loyalty=loyalty,
        usage_tier=tier,
        units=units.astype(np.int64),
        spend_cents=np.rint(spend).astype(np.int64),
        purchase_days=purchase_days.astype(np.int32),
        store_brand_share=store_share.astype(np.float32),
        interval_days=interval.astype(np.float32),
        n_categories=n_categories,
    )


def chain_usage_tiers(category: np.ndarray, units: np.ndarray, spend_cents: np.ndarray,
                      purchase_days: np.ndarray, params: ModelParams) -> np.ndarray:
    """Usage tiers of segment rows ranked within their category over all of them (the chain's
    rows, in (member, category) order): what :func:`category_segments` computes in one pass,
    redone over the member shards' rows put together."""
    tier = np.full(category.shape[0], UNSEGMENTED_CODE, dtype=np.int8)
    rows = np.flatnonzero(purchase_days >= params.segment_min_purchases)
    tier[rows] = usage_tier_codes(category[rows].astype(np.int64), units[rows], spend_cents[rows],
                                  params.usage_quantiles)
    return tier
