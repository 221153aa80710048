"""Arrow tables in the canonical import columns (what ``loyalty-engine import`` reads), and the
ground-truth tables, built from the numpy simulation without a Python loop per row.
"""
from __future__ import annotations

from datetime import timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .catalog import Catalog
from .households import (BRAND_LOYALTIES, HOUSEHOLD_TYPES, LAPSE_KINDS, PRICE_SEGMENTS, STATUSES, STORE, Households)
from .people import MEMBER_COLUMNS, card_numbers, member_identity, member_ids
from .places import Stores
from .shopping import ScanBatch
from .spec import ChainSpec

SCAN_COLUMNS = ["transaction_id", "store_id", "member_id", "scanned_at", "sku", "quantity", "amount", "discount"]
MONEY = pa.decimal128(12, 2)
TRANSACTION_BASE = 10**12  # transaction ids are 13-digit numbers: 1000000000000 + serial

SCAN_SCHEMA = pa.schema([
    ("transaction_id", pa.string()),
    ("store_id", pa.string()),
    ("member_id", pa.string()),
    ("scanned_at", pa.string()),
    ("sku", pa.string()),
    ("quantity", pa.int32()),
    ("amount", MONEY),
    ("discount", MONEY),
])


def cents_to_decimal(cents: np.ndarray) -> pa.Array:
    """Integer cents as an exact decimal(12,2) Arrow array (written as ``3.49``, ``-0.50``).

    A decimal128 value is a 128-bit two's-complement integer of the unscaled amount, so the
    cents become the low word and their sign the high word; no float ever touches money.
    """
    cents = np.ascontiguousarray(cents, dtype=np.int64)
    words = np.empty(2 * len(cents), dtype=np.int64)
    words[0::2] = cents
    words[1::2] = cents >> 63
    return pa.Array.from_buffers(MONEY, len(cents), [None, pa.py_buffer(words)])


def member_id_width(spec: ChainSpec) -> int:
    return max(7, len(str(spec.members)))


class TimeText:
    """Store-local ISO timestamps (no offset) from seconds since the window start."""

    def __init__(self, spec: ChainSpec) -> None:
        days = [(spec.start_date + timedelta(days=d)).isoformat() for d in range(spec.days + 1)]
        self.days = pa.array(days)
        seconds = np.arange(86_400)
        self.clock = pa.array([f"T{h:02d}:{m:02d}:{s:02d}" for h, m, s in
                               zip(seconds // 3600, (seconds // 60) % 60, seconds % 60)])

    def format(self, seconds: np.ndarray) -> pa.Array:
        day = pa.array(seconds // 86_400)
        clock = pa.array(seconds % 86_400)
        return pc.binary_join_element_wise(self.days.take(day), self.clock.take(clock), "")


def scan_table(batch: ScanBatch, spec: ChainSpec, catalog: Catalog, stores: Stores, times: TimeText) -> pa.Table:
    """One block's scan lines in the canonical scan columns."""
    serial = np.arange(batch.n_baskets, dtype=np.int64) + TRANSACTION_BASE + batch.first_serial
    basket_ids = pc.cast(pa.array(serial), pa.string())
    # Member ids come from the block's own members: a non-member line takes a null index.
    first_member, last_member = spec.block_range(batch.block)
    block_members = member_ids(np.arange(first_member, last_member), member_id_width(spec))
    line_member = batch.line_member - first_member
    no_card = line_member < 0
    basket_times = times.format(batch.basket_time)
    line_basket = pa.array(batch.line_basket)
    columns = [
        basket_ids.take(line_basket),
        pa.array(stores.store_id.astype(str)).take(pa.array(batch.basket_store[batch.line_basket])),
        block_members.take(pa.array(np.where(no_card, 0, line_member), mask=no_card)),
        basket_times.take(line_basket),
        pa.array(catalog.sku.astype(str)).take(pa.array(batch.line_product)),
        pa.array(batch.line_quantity, pa.int32()),
        cents_to_decimal(batch.line_amount_cents),
        cents_to_decimal(batch.line_discount_cents),
    ]
    return pa.Table.from_arrays(columns, schema=SCAN_SCHEMA)


def member_table(households: Households, spec: ChainSpec, stores: Stores) -> pa.Table:
    """One block's members in the canonical member columns."""
    rng = np.random.default_rng([spec.seed, 11, int(households.member_index[0] // spec.block_size)])
    n = households.size
    identity = member_identity(rng, households.member_index, stores.town[households.home_store])
    enrolled = np.datetime64(spec.start_date, "D") + households.enrolled_day.astype("timedelta64[D]")
    # Younger, app-using members are the newer ones; mail opt-in is the program default.
    mail = rng.random(n) < 0.78
    app = rng.random(n) < np.where(households.enrolled_day > -3 * 365, 0.5, 0.28)
    columns = {
        "member_id": member_ids(households.member_index, member_id_width(spec)),
        "card_number": card_numbers(households.member_index),
        **identity,
        "home_store_id": pa.array(stores.store_id.astype(str)).take(pa.array(households.home_store)),
        "enrolled_at": pa.array(enrolled, pa.date32()),
        "mail_opt_in": pa.array(mail),
        "app_opt_in": pa.array(app),
        "status": pa.array(STATUSES).take(pa.array(households.status)),
    }
    return pa.table({name: columns[name] for name in MEMBER_COLUMNS})


def _day_dates(spec: ChainSpec, day: np.ndarray, valid: np.ndarray) -> pa.Array:
    base = np.datetime64(spec.start_date, "D")
    values = base + np.where(valid, np.floor(np.where(valid, day, 0)), 0).astype("timedelta64[D]")
    return pa.array(values, pa.date32(), mask=~valid)


def truth_member_table(households: Households, spec: ChainSpec, stores: Stores) -> pa.Table:
    """Hidden per-member parameters (ground truth for the model team)."""
    h = households
    pet = np.where(h.dog & h.cat, "dog_and_cat", np.where(h.dog, "dog", np.where(h.cat, "cat", "none")))
    lapsing = np.isfinite(h.lapse_day)
    has_baby = ~np.isnan(h.baby_age_months)
    return pa.table({
        "member_id": member_ids(h.member_index, member_id_width(spec)),
        "household_type": pa.array(HOUSEHOLD_TYPES).take(pa.array(h.household_type)),
        "household_size": pa.array(h.household_size.astype(np.int16)),
        "pet": pa.array(pet),
        "has_baby": pa.array(has_baby),
        "baby_age_months_at_start": pa.array(np.round(h.baby_age_months, 1), mask=~has_baby),
        "formula_fed": pa.array(h.formula_fed),
        "price_segment": pa.array(PRICE_SEGMENTS).take(pa.array(h.price_segment)),
        "trips_per_week": pa.array(np.round(h.trip_rate, 4)),
        "impulse_lines_per_trip": pa.array(np.round(h.impulse_rate, 4)),
        "usage": pa.array(np.round(h.usage, 4)),
        "home_store_id": pa.array(stores.store_id.astype(str)).take(pa.array(h.home_store)),
        "home_store_share": pa.array(np.round(h.home_store_loyalty, 4)),
        "active_from": _day_dates(spec, h.active_from_day.astype(float), np.ones(h.size, bool)),
        "dormant": pa.array(h.dormant),
        "lapse_kind": pa.array(LAPSE_KINDS).take(pa.array(h.lapse_kind)),
        "lapse_date": _day_dates(spec, h.lapse_day, lapsing),
        "fade_half_life_days": pa.array(np.round(h.fade_half_life, 1), mask=h.lapse_kind != 2),
        "status": pa.array(STATUSES).take(pa.array(h.status)),
    })


def truth_cycle_table(households: Households, spec: ChainSpec, catalog: Catalog) -> pa.Table:
    """Per member x subcategory: the true purchase cycle, usage and brand preference."""
    h = households
    sub = h.pair_subcategory
    member = h.pair_member
    category = catalog.subcategory_category[sub]
    loyalty = h.loyalty[member, category]
    favorite = h.favorite_brand[member, category]
    slot = np.where(loyalty == STORE, 0, catalog.national_slot[sub, favorite])
    has_national = catalog.slot_variants[sub, 1] > 0 if catalog.slot_variants.shape[1] > 1 else np.zeros(len(sub), bool)
    slot = np.where(has_national, slot, 0)
    n_variants = catalog.slot_variants[sub, slot]
    product = catalog.slot_products[sub, slot, np.minimum((h.pair_variant * n_variants).astype(np.int64), n_variants - 1)]
    flat_brands = [name for brands in catalog.category_brands for name in brands]
    offsets = np.cumsum([0] + [len(b) for b in catalog.category_brands])
    brand_names = np.array(flat_brands + [""], dtype=object)
    favorite_index = np.where(has_national, offsets[category] + favorite, len(flat_brands))
    per_year = 365.0 / h.pair_interval
    return pa.table({
        "member_id": member_ids(h.member_index[member], member_id_width(spec)),
        "department": pa.array(catalog.category_department, pa.string()).take(pa.array(category)).dictionary_encode(),
        "category": pa.array(catalog.category_names).take(pa.array(category)).dictionary_encode(),
        "subcategory": pa.array(catalog.subcategory_names).take(pa.array(sub)).dictionary_encode(),
        "mean_interval_days": pa.array(np.round(h.pair_interval, 3)),
        "gamma_shape": pa.array(np.round(h.pair_shape, 3)),
        "quantity_per_purchase": pa.array(np.round(h.pair_quantity, 3)),
        "purchases_per_year": pa.array(np.round(per_year, 3)),
        "units_per_year": pa.array(np.round(per_year * h.pair_quantity, 3)),
        "brand_loyalty": pa.array(BRAND_LOYALTIES).take(pa.array(loyalty)).dictionary_encode(),
        "store_brand_share": pa.array(np.round(h.store_share[member, category].astype(np.float64), 4)),
        "favorite_brand": pa.array(brand_names.astype(str)).take(pa.array(favorite_index)),
        "favorite_sku": pa.array(catalog.sku.astype(str)).take(pa.array(product)),
    })


__all__ = ["MONEY", "SCAN_COLUMNS", "SCAN_SCHEMA", "TRANSACTION_BASE", "TimeText", "cents_to_decimal",
           "member_table", "scan_table", "truth_cycle_table", "truth_member_table"]
