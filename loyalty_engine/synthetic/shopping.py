"""Shopping simulation for a block of members: trips, purchase cycles, brand choice,
promotions, returns and the anonymous (non-member) baskets, as numpy arrays.

How a member shops:

- **Trips**: each week a Poisson number of trips at the member's rate, mostly on a favourite
  weekday and hour, mostly at the home store; none before enrolment, none (or fading) after
  the member lapses.
- **Purchase cycles**: for every subcategory the member buys, the need comes due after a
  gamma-distributed time (mean = the member's interval, shape = regularity), counted from
  the last purchase. The purchase happens on the first trip at or after the due time, and
  the quantity grows with how overdue the need was. The window opens mid-cycle (the first
  due time is a stationary renewal residual), so there is no start-up artefact.
- **Impulse and fill-in lines**: a few off-cycle lines per trip (snacks, candy); a trip
  with nothing due still buys something.
- **Brand choice** per line from the member's loyalty in the category (national, store,
  switcher), favourite national brand and favourite variant; switchers follow promotions.
- **Promotions**: each week a share of (subcategory, brand) lines is on a cents-off deal.
- **Returns**: a few purchased lines come back on the member's next trip.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .catalog import Catalog
from .households import (FAVORITE_BRAND_PROB, SECONDS_PER_DAY, SWITCHER, WEEKDAY_SHARES, Households)
from .places import Stores
from .spec import ChainSpec

PROMO_DEPTHS = np.array([0.10, 0.15, 0.20, 0.25, 0.30, 0.40, 0.50])
PROMO_DEPTH_SHARES = np.array([0.18, 0.2, 0.2, 0.18, 0.12, 0.08, 0.04])
SWITCHER_FOLLOWS_PROMO = 0.5
MAX_QUANTITY = 24
OPENS, CLOSES = 7.0, 22.0


@dataclass
class Promotions:
    """The chain's weekly deals: cents off per unit for each (week, product)."""

    unit_discount_cents: np.ndarray  # (W, P) int64
    promoted_slot: np.ndarray        # (W, S) int16 a brand slot on deal in the subcategory, -1 if none


@dataclass
class ScanBatch:
    """Scans of one member block, baskets in time order, lines contiguous per basket.

    Indices refer to the catalog (``product``: row of products.csv), the stores (row of
    stores.csv) and members (``basket_member``: row of members.csv, -1 = no card).
    Times are seconds from the window start (store-local midnight of ``spec.start_date``).
    """

    block: int
    basket_time: np.ndarray      # (N,) int64 seconds from window start
    basket_store: np.ndarray     # (N,) int16
    basket_member: np.ndarray    # (N,) int64 global member index, -1 for a non-member basket
    line_basket: np.ndarray      # (L,) int64 position in the basket arrays (non-decreasing)
    line_product: np.ndarray     # (L,) int32
    line_quantity: np.ndarray    # (L,) int32, negative = return
    line_amount_cents: np.ndarray    # (L,) int64 net paid = price * quantity - discount
    line_discount_cents: np.ndarray  # (L,) int64 >= 0
    first_serial: int = 0        # transaction serial of the first basket (set by the caller)

    @property
    def n_baskets(self) -> int:
        return len(self.basket_time)

    @property
    def n_lines(self) -> int:
        return len(self.line_product)

    @property
    def line_member(self) -> np.ndarray:
        return self.basket_member[self.line_basket]

    @property
    def line_time(self) -> np.ndarray:
        return self.basket_time[self.line_basket]

    @property
    def line_serial(self) -> np.ndarray:
        return self.first_serial + self.line_basket


def make_promotions(spec: ChainSpec, catalog: Catalog) -> Promotions:
    rng = np.random.default_rng([spec.seed, 4])
    w, (s, k, _) = spec.weeks, catalog.slot_products.shape
    exists = catalog.slot_variants > 0
    rate = np.where(np.arange(k) == 0, spec.promo_share * 0.6, spec.promo_share)
    on = (rng.random((w, s, k)) < rate[None, None, :]) & exists[None, :, :]
    depth = np.where(on, PROMO_DEPTHS[rng.choice(len(PROMO_DEPTHS), size=(w, s, k), p=PROMO_DEPTH_SHARES)], 0.0)
    product_depth = depth[:, catalog.product_subcategory, catalog.product_slot]  # (W, P)
    cents = np.round(catalog.price_cents[None, :] * product_depth / 5.0) * 5
    cents = np.where(product_depth > 0, np.clip(cents, 10, catalog.price_cents[None, :] - 1), 0).astype(np.int64)
    pick = np.where(on, rng.random((w, s, k)), -1.0)
    promoted = np.where(on.any(axis=2), pick.argmax(axis=2), -1).astype(np.int16)
    return Promotions(unit_discount_cents=cents, promoted_slot=promoted)


@dataclass
class Trips:
    member: np.ndarray  # (T,) int32 local member position, sorted by member then time
    time: np.ndarray    # (T,) int64 seconds from window start
    store: np.ndarray   # (T,) int16


def draw_trips(spec: ChainSpec, households: Households, stores: Stores, rng: np.random.Generator) -> Trips:
    n, weeks = households.size, spec.weeks
    counts = rng.poisson(np.repeat(households.trip_rate, weeks).reshape(n, weeks) * _season(spec)[None, :])
    counts = np.minimum(counts, 7)  # at most one trip a day
    cell = np.repeat(np.arange(n * weeks), counts.ravel())
    member, week = cell // weeks, cell % weeks
    t = len(member)
    # A week's trips fall on distinct days, the favourite weekday first in line: weighted
    # sampling without replacement (largest U ** (1 / weight) per member-week).
    weight = np.broadcast_to(WEEKDAY_SHARES, (n, 7)).copy()
    weight[np.arange(n), households.favorite_weekday] *= 1.0 + 12.0 * households.weekday_loyalty
    keys = rng.random((n, weeks, 7)) ** (1.0 / weight[:, None, :])
    day_order = np.argsort(-keys, axis=2).reshape(n * weeks, 7)
    starts = np.concatenate([[0], np.cumsum(counts.ravel())[:-1]])
    nth = np.arange(t) - starts[cell]
    weekday = day_order[cell, nth]
    day = week * 7 + weekday
    keep = day >= households.active_from_day[member]
    lapse = households.lapse_day[member]
    kind = households.lapse_kind[member]
    after = day >= lapse
    keep &= ~(after & (kind == 1))
    fade = np.exp2(-(day - np.where(np.isfinite(lapse), lapse, 0)) / households.fade_half_life[member])
    keep &= ~(after & (kind == 2) & (rng.random(t) >= fade))
    member, day = member[keep], day[keep]
    t = len(member)
    hour = _store_hours(households.preferred_hour[member] + rng.normal(0, 1.6, t))
    time = day.astype(np.int64) * SECONDS_PER_DAY + (hour * 3600).astype(np.int64)
    at_home = rng.random(t) < households.home_store_loyalty[member]
    store = np.where(at_home, households.home_store[member],
                     rng.choice(len(stores.weight), size=t, p=stores.weight)).astype(np.int16)
    order = np.argsort(member.astype(np.int64) * (spec.days * SECONDS_PER_DAY) + time, kind="stable")
    return Trips(member=member[order].astype(np.int32), time=time[order], store=store[order])


def _store_hours(hour: np.ndarray) -> np.ndarray:
    """Fold shopping hours into opening hours (7:00-22:00) without piling trips at the door."""
    hour = np.where(hour < OPENS, 2 * OPENS - hour, hour)
    hour = np.where(hour >= CLOSES, 2 * CLOSES - hour, hour)
    return np.clip(hour, OPENS, CLOSES - 1e-3)


def _season(spec: ChainSpec) -> np.ndarray:
    """Mild weekly seasonality of trips (holiday peaks around late November and December)."""
    day_of_year = np.array([(spec.start_date.toordinal() + 7 * w + 3) % 365.25 for w in range(spec.weeks)])
    return 1.0 + 0.06 * np.cos(2 * np.pi * (day_of_year - 350) / 365.25)


@dataclass
class Purchases:
    pair: np.ndarray      # (n,) int64 pair index, -1 for impulse/fill-in lines
    trip: np.ndarray      # (n,) int64 trip index
    subcategory: np.ndarray  # (n,) int32
    quantity: np.ndarray  # (n,) int32
    variant: np.ndarray   # (n,) float in [0,1)


def simulate_cycles(spec: ChainSpec, households: Households, trips: Trips, rng: np.random.Generator) -> Purchases:
    """Run every member x subcategory renewal process in lockstep (one step = one purchase)."""
    span = spec.days * SECONDS_PER_DAY + SECONDS_PER_DAY
    trip_key = trips.member.astype(np.int64) * span + trips.time
    member = households.pair_member.astype(np.int64)
    interval = households.pair_interval * SECONDS_PER_DAY
    shape = households.pair_shape
    scale = interval / shape
    start = households.active_from_day[member] * SECONDS_PER_DAY
    # Stationary renewal: the window opens inside a cycle; residual = U x length-biased cycle.
    due = start + rng.random(len(member)) * rng.gamma(shape + 1.0, scale)
    n_trips = len(trip_key)
    active = np.arange(len(member))
    out_pair, out_trip, out_wait = [], [], []
    while active.size:
        key = member[active] * span + np.ceil(due[active]).astype(np.int64)
        found = np.searchsorted(trip_key, key, side="left")
        ok = found < n_trips
        ok[ok] = trips.member[found[ok]] == member[active[ok]]
        active, found = active[ok], found[ok]
        if not active.size:
            break
        time = trips.time[found]
        out_pair.append(active)
        out_trip.append(found)
        out_wait.append((time - due[active]) / interval[active])
        # Never twice on one trip: the next need comes due after this trip.
        due[active] = time + np.maximum(rng.gamma(shape[active], scale[active]), 1.0)
    pair = np.concatenate(out_pair) if out_pair else np.zeros(0, dtype=np.int64)
    trip = np.concatenate(out_trip) if out_trip else np.zeros(0, dtype=np.int64)
    overdue = np.concatenate(out_wait) if out_wait else np.zeros(0)
    # Overdue needs are stocked up on, within reason.
    expected = households.pair_quantity[pair] * (1.0 + 0.35 * np.minimum(overdue, 3.0))
    quantity = np.minimum(1 + rng.poisson(np.maximum(expected - 1.0, 0.0)), MAX_QUANTITY).astype(np.int32)
    return Purchases(pair=pair, trip=trip, subcategory=households.pair_subcategory[pair], quantity=quantity,
                     variant=households.pair_variant[pair])


def impulse_lines(catalog: Catalog, households: Households, trips: Trips, cycle_trips: np.ndarray,
                  rng: np.random.Generator) -> Purchases:
    """Off-cycle lines: impulse items on any trip, and one fill-in item on a trip with nothing due."""
    n_trips = len(trips.member)
    extra = rng.poisson(households.impulse_rate[trips.member])
    empty = np.bincount(cycle_trips, minlength=n_trips) == 0
    impulse_weight = np.where(catalog.tags["impulse"], catalog.popularity, 0.0)
    need = np.zeros(catalog.n_subcategories, dtype=bool)
    for tag in ("dog", "cat", "baby", "formula", "babyfood"):
        need |= catalog.tags[tag]
    fill_weight = np.where(need, 0.0, catalog.popularity)
    trip = np.concatenate([np.repeat(np.arange(n_trips), extra), np.flatnonzero(empty)])
    sub = np.concatenate([
        rng.choice(catalog.n_subcategories, size=int(extra.sum()), p=impulse_weight / impulse_weight.sum()),
        rng.choice(catalog.n_subcategories, size=int(empty.sum()), p=fill_weight / fill_weight.sum()),
    ]).astype(np.int32)
    quantity = (1 + rng.poisson(0.2, len(trip))).astype(np.int32)
    return Purchases(pair=np.full(len(trip), -1, dtype=np.int64), trip=trip.astype(np.int64), subcategory=sub,
                     quantity=quantity, variant=rng.random(len(trip)).astype(np.float32))


def _market_share_brand(catalog: Catalog, category: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A national brand of each line's category, drawn by market share (one searchsorted)."""
    weights = catalog.category_brand_weight
    n_categories, width = weights.shape
    # Category c's cumulative shares live in [c, c + 1]: one sorted array serves all categories.
    ladder = (np.arange(n_categories)[:, None] + np.cumsum(weights, axis=1)).ravel()
    found = np.searchsorted(ladder, category + rng.random(len(category)), side="right")
    return np.clip(found - category * width, 0, width - 1)


def choose_products(catalog: Catalog, households: Households, promotions: Promotions, member: np.ndarray,
                    subcategory: np.ndarray, week: np.ndarray, variant: np.ndarray,
                    rng: np.random.Generator) -> np.ndarray:
    """The sku each purchase lands on: store vs national brand, which brand, which variant."""
    n = len(member)
    category = catalog.subcategory_category[subcategory]
    loyalty = households.loyalty[member, category]
    has_national = catalog.slot_brand[subcategory, 1] >= 0 if catalog.slot_brand.shape[1] > 1 else np.zeros(n, bool)
    is_store = (rng.random(n) < households.store_share[member, category]) | ~has_national
    any_brand = _market_share_brand(catalog, category, rng)
    brand = np.where(rng.random(n) < FAVORITE_BRAND_PROB[loyalty], households.favorite_brand[member, category],
                     any_brand)
    slot = np.where(is_store, 0, catalog.national_slot[subcategory, brand])
    promoted = promotions.promoted_slot[week, subcategory]
    follow = (loyalty == SWITCHER) & (promoted >= 0) & (rng.random(n) < SWITCHER_FOLLOWS_PROMO)
    slot = np.where(follow, promoted, slot)
    n_variants = catalog.slot_variants[subcategory, slot]
    pick = np.minimum((variant * n_variants).astype(np.int64), n_variants - 1)
    return catalog.slot_products[subcategory, slot, pick]


def simulate_block(spec: ChainSpec, catalog: Catalog, stores: Stores, promotions: Promotions,
                   households: Households) -> ScanBatch:
    """All scans of one member block, plus that block's share of non-member baskets."""
    block = int(households.member_index[0] // spec.block_size) if households.size else 0
    rng = np.random.default_rng([spec.seed, 20, block])
    trips = draw_trips(spec, households, stores, rng)
    cycles = simulate_cycles(spec, households, trips, rng)
    extra = impulse_lines(catalog, households, trips, cycles.trip, rng)
    trip = np.concatenate([cycles.trip, extra.trip])
    sub = np.concatenate([cycles.subcategory, extra.subcategory])
    quantity = np.concatenate([cycles.quantity, extra.quantity])
    variant = np.concatenate([cycles.variant, extra.variant])
    member = trips.member[trip]
    week = np.minimum(trips.time[trip] // (7 * SECONDS_PER_DAY), spec.weeks - 1)
    product = choose_products(catalog, households, promotions, member, sub, week, variant, rng)
    discount = promotions.unit_discount_cents[week, product] * quantity

    # Returns: an undiscounted line comes back on the member's next trip.
    returned = (rng.random(len(trip)) < spec.return_share) & (discount == 0)
    returned &= trip + 1 < len(trips.member)
    returned[returned] &= trips.member[np.minimum(trip[returned] + 1, len(trips.member) - 1)] == member[returned]
    r_trip = trip[returned] + 1
    r_product = product[returned]
    r_quantity = -np.minimum(quantity[returned], 1 + rng.poisson(0.3, int(returned.sum()))).astype(np.int32)

    line_trip = np.concatenate([trip, r_trip])
    line_product = np.concatenate([product, r_product]).astype(np.int32)
    line_quantity = np.concatenate([quantity, r_quantity]).astype(np.int32)
    line_discount = np.concatenate([discount, np.zeros(len(r_trip), dtype=np.int64)])

    anonymous = _anonymous_baskets(spec, catalog, stores, promotions, len(trips.member), rng)
    n_trips = len(trips.member)
    basket_time = np.concatenate([trips.time, anonymous["time"]])
    basket_store = np.concatenate([trips.store, anonymous["store"]]).astype(np.int16)
    basket_member = np.concatenate([households.member_index[trips.member], np.full(len(anonymous["time"]), -1)])
    line_basket = np.concatenate([line_trip, n_trips + anonymous["line_basket"]])
    line_product = np.concatenate([line_product, anonymous["product"]])
    line_quantity = np.concatenate([line_quantity, anonymous["quantity"]])
    line_discount = np.concatenate([line_discount, anonymous["discount"]])

    # Baskets in time order; a basket's lines together, in scanning (random) order.
    basket_order = np.lexsort((basket_member, basket_time))
    rank = np.empty_like(basket_order)
    rank[basket_order] = np.arange(len(basket_order))
    line_rank = rank[line_basket]
    line_order = np.argsort(line_rank * (1 << 20) + rng.integers(0, 1 << 20, len(line_rank)))
    line_product = line_product[line_order]
    line_quantity = line_quantity[line_order]
    line_discount = line_discount[line_order]
    amount = catalog.price_cents[line_product] * line_quantity - line_discount
    return ScanBatch(
        block=block,
        basket_time=basket_time[basket_order],
        basket_store=basket_store[basket_order],
        basket_member=basket_member[basket_order].astype(np.int64),
        line_basket=line_rank[line_order].astype(np.int64),
        line_product=line_product,
        line_quantity=line_quantity,
        line_amount_cents=amount.astype(np.int64),
        line_discount_cents=line_discount.astype(np.int64),
    )


def _anonymous_baskets(spec: ChainSpec, catalog: Catalog, stores: Stores, promotions: Promotions,
                       member_baskets: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Baskets scanned without a card: popular items, no personal cycle."""
    share = spec.nonmember_basket_share
    n = int(rng.poisson(member_baskets * share / (1.0 - share))) if share > 0 else 0
    day = rng.integers(0, spec.weeks, n) * 7 + rng.choice(7, size=n, p=WEEKDAY_SHARES)
    hour = _store_hours(rng.normal(14.5, 3.5, n))
    time = day.astype(np.int64) * SECONDS_PER_DAY + (hour * 3600).astype(np.int64)
    store = rng.choice(len(stores.weight), size=n, p=stores.weight)
    sizes = 1 + rng.poisson(3.5, n)
    basket = np.repeat(np.arange(n), sizes)
    lines = len(basket)
    need = np.zeros(catalog.n_subcategories, dtype=bool)
    for tag in ("dog", "cat", "baby", "formula", "babyfood"):
        need |= catalog.tags[tag]
    weight = catalog.popularity * np.where(need, 0.25, 1.0)
    sub = rng.choice(catalog.n_subcategories, size=lines, p=weight / weight.sum())
    category = catalog.subcategory_category[sub]
    has_national = catalog.slot_variants[sub, 1] > 0
    is_store = (rng.random(lines) < catalog.store_affinity[category] * 0.6) | ~has_national
    brand = _market_share_brand(catalog, category, rng)
    slot = np.where(is_store, 0, catalog.national_slot[sub, brand])
    n_variants = catalog.slot_variants[sub, slot]
    product = catalog.slot_products[sub, slot, (rng.random(lines) * n_variants).astype(np.int64)]
    quantity = (1 + rng.poisson(0.15, lines)).astype(np.int32)
    week = np.minimum(time[basket] // (7 * SECONDS_PER_DAY), spec.weeks - 1)
    discount = promotions.unit_discount_cents[week, product] * quantity
    return {"time": time, "store": store, "line_basket": basket, "product": product.astype(np.int32),
            "quantity": quantity, "discount": discount.astype(np.int64)}


__all__ = ["Promotions", "ScanBatch", "Trips", "choose_products", "draw_trips", "make_promotions",
           "simulate_block", "simulate_cycles"]
