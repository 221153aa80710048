"""The hidden side of members: household, pets, baby, price attitude, trip rate, enrolment,
lapse, and per member x subcategory the purchase cycle; per member x category the brand
loyalty. This is the ground truth the model team validates against (``--truth``).

Drawn per member block, vectorized; the only loops are over the handful of household types.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .catalog import Catalog
from .places import Stores
from .spec import ChainSpec

HOUSEHOLD_TYPES = ("single", "couple", "family", "family_with_baby", "senior")
HOUSEHOLD_SHARES = np.array([0.27, 0.26, 0.24, 0.08, 0.15])
PRICE_SEGMENTS = ("price_sensitive", "mainstream", "premium")
PRICE_SEGMENT_SHARES = np.array([0.30, 0.50, 0.20])
BRAND_LOYALTIES = ("national", "store", "switcher")
NATIONAL, STORE, SWITCHER = 0, 1, 2
LAPSE_KINDS = ("none", "stop", "fade")
STATUSES = ("active", "inactive", "closed")
WEEKDAY_SHARES = np.array([0.12, 0.11, 0.13, 0.13, 0.16, 0.19, 0.16])  # Monday .. Sunday

# How much a household type lifts a tagged subcategory's popularity.
_KIDS_LIFT = np.array([0.35, 0.6, 2.0, 1.3, 0.3])
_SENIOR_LIFT = np.array([1.0, 1.1, 0.5, 0.4, 2.2])
_PREMIUM_LIFT = np.array([0.45, 1.0, 2.0])
_DOG_SHARE = np.array([0.25, 0.38, 0.48, 0.35, 0.28])
_CAT_SHARE = np.array([0.30, 0.28, 0.30, 0.20, 0.30])
_TRIP_LIFT = np.array([0.85, 1.0, 1.2, 1.25, 1.0])
# Leaning to the store brand, by price segment.
_STORE_LEAN = np.array([1.7, 0.9, 0.35])
# How often a purchase goes to the member's favourite national brand, by loyalty type.
FAVORITE_BRAND_PROB = np.array([0.85, 0.5, 0.35])
REFERENCE_HOUSEHOLD = 2.4
# Scales catalog popularity to the share of members who buy a subcategory in the window.
REPERTOIRE_SCALE = 0.37
SECONDS_PER_DAY = 86_400


@dataclass
class Households:
    member_index: np.ndarray       # (B,) global member index (row of members.csv)
    household_type: np.ndarray     # (B,) int8 into HOUSEHOLD_TYPES
    household_size: np.ndarray     # (B,) int8
    dog: np.ndarray                # (B,) bool
    cat: np.ndarray                # (B,) bool
    baby_age_months: np.ndarray    # (B,) float, NaN without a baby (age at the window start)
    formula_fed: np.ndarray        # (B,) bool
    price_segment: np.ndarray      # (B,) int8 into PRICE_SEGMENTS
    trip_rate: np.ndarray          # (B,) trips per week while active (0 = dormant)
    impulse_rate: np.ndarray       # (B,) extra impulse lines per trip
    usage: np.ndarray              # (B,) member consumption intensity (1 = typical)
    home_store: np.ndarray         # (B,) int16 store position
    home_store_loyalty: np.ndarray  # (B,) share of trips at the home store
    favorite_weekday: np.ndarray   # (B,) int8, 0 = Monday
    weekday_loyalty: np.ndarray    # (B,) share of trips on the favourite weekday
    preferred_hour: np.ndarray     # (B,) float hour of day
    enrolled_day: np.ndarray       # (B,) int, days from the window start (negative = before)
    active_from_day: np.ndarray    # (B,) int, first day the member can shop in the window
    lapse_day: np.ndarray          # (B,) float day the member starts to lapse (inf = never)
    lapse_kind: np.ndarray         # (B,) int8 into LAPSE_KINDS
    fade_half_life: np.ndarray     # (B,) days, for fading lapsers
    dormant: np.ndarray            # (B,) bool: enrolled but never shops
    status: np.ndarray             # (B,) int8 into STATUSES
    # per member x category
    loyalty: np.ndarray            # (B, C) int8 into BRAND_LOYALTIES
    store_share: np.ndarray        # (B, C) float32 chance a purchase is store brand
    favorite_brand: np.ndarray     # (B, C) int16 index into catalog.category_brands[c]
    # per member x subcategory the member buys (pairs)
    pair_member: np.ndarray        # (P,) int32 local member position
    pair_subcategory: np.ndarray   # (P,) int32
    pair_interval: np.ndarray      # (P,) float mean days between purchases (gamma mean)
    pair_shape: np.ndarray         # (P,) float gamma shape (regularity)
    pair_quantity: np.ndarray      # (P,) float units per purchase at the usual interval
    pair_variant: np.ndarray       # (P,) float in [0,1): which sku of a brand the member picks

    @property
    def size(self) -> int:
        return len(self.member_index)


def draw_households(spec: ChainSpec, catalog: Catalog, stores: Stores, block: int) -> Households:
    rng = np.random.default_rng([spec.seed, 10, block])
    start, stop = spec.block_range(block)
    n = stop - start
    days = spec.days
    years = spec.weeks / 52.0

    htype = rng.choice(len(HOUSEHOLD_TYPES), size=n, p=HOUSEHOLD_SHARES).astype(np.int8)
    size = np.select(
        [htype == 0, htype == 1, htype == 2, htype == 3],
        [np.ones(n), np.full(n, 2), 3 + np.minimum(rng.poisson(1.0, n), 4), 3 + np.minimum(rng.poisson(0.6, n), 3)],
        1 + (rng.random(n) < 0.55),
    ).astype(np.int8)
    dog = rng.random(n) < _DOG_SHARE[htype]
    cat = rng.random(n) < _CAT_SHARE[htype]
    baby_age = np.where(htype == 3, rng.uniform(0, 24, n), np.nan)
    formula_fed = (htype == 3) & (rng.random(n) < 0.6)
    segment = rng.choice(3, size=n, p=PRICE_SEGMENT_SHARES).astype(np.int8)

    breadth = rng.lognormal(0.0, 0.35, n) * (size / REFERENCE_HOUSEHOLD) ** 0.25 * spec.breadth
    usage = rng.lognormal(0.0, 0.2, n)
    trip_rate = rng.gamma(2.0, 0.5, n) * _TRIP_LIFT[htype] / (_TRIP_LIFT @ HOUSEHOLD_SHARES)
    trip_rate = np.clip(trip_rate * np.sqrt(breadth / spec.breadth) * spec.trips_per_week, 0.05, 7.0)
    dormant = rng.random(n) < spec.dormant_share
    trip_rate[dormant] = 0.0
    impulse_rate = rng.gamma(1.5, 0.3, n)

    home_store = rng.choice(len(stores.weight), size=n, p=stores.weight).astype(np.int16)
    home_loyalty = rng.beta(8.0, 1.2, n)
    favorite_weekday = rng.choice(7, size=n, p=WEEKDAY_SHARES).astype(np.int8)
    weekday_loyalty = rng.uniform(0.15, 0.8, n)
    daypart = rng.choice(3, size=n, p=[0.3, 0.45, 0.25])
    preferred_hour = np.clip(np.choose(daypart, [rng.normal(10, 1.5, n), rng.normal(15, 2, n), rng.normal(18.5, 1.3, n)]), 7.5, 20.5)

    # Enrolment: most joined before the window (up to ~16 years), some join during it.
    new = rng.random(n) < min(spec.new_member_share * years, 0.9)
    before = -(1 + np.minimum(rng.exponential(4 * 365, n), 16 * 365)).astype(np.int64)
    enrolled_day = np.where(new, rng.integers(0, days, n), before)
    active_from = np.maximum(enrolled_day, 0)

    # Lapse: some members stop, others fade out, at a random point after they start.
    room = days - active_from - 21
    lapses = (rng.random(n) < min(spec.lapse_share * years, 0.9)) & (room > 7) & ~dormant
    lapse_day = np.where(lapses, active_from + 21 + rng.random(n) * np.maximum(room, 0), np.inf)
    lapse_kind = np.where(lapses, np.where(rng.random(n) < 0.5, 1, 2), 0).astype(np.int8)
    fade_half_life = rng.uniform(14, 60, n)

    u = rng.random(n)
    status = np.zeros(n, dtype=np.int8)
    status[(lapse_kind == 1) & (u < 0.5)] = 1
    status[(lapse_kind == 1) & (u < 0.25)] = 2
    status[dormant & (u < 0.5)] = 1

    loyalty, store_share, favorite = _brand_loyalty(rng, catalog, segment)
    pairs = _purchase_cycles(rng, catalog, htype, size, dog, cat, baby_age, formula_fed, segment, breadth, usage,
                             impulse_rate)
    return Households(
        member_index=np.arange(start, stop, dtype=np.int64), household_type=htype, household_size=size, dog=dog,
        cat=cat, baby_age_months=baby_age, formula_fed=formula_fed, price_segment=segment, trip_rate=trip_rate,
        impulse_rate=impulse_rate, usage=usage, home_store=home_store, home_store_loyalty=home_loyalty,
        favorite_weekday=favorite_weekday, weekday_loyalty=weekday_loyalty, preferred_hour=preferred_hour,
        enrolled_day=enrolled_day, active_from_day=active_from, lapse_day=lapse_day, lapse_kind=lapse_kind,
        fade_half_life=fade_half_life, dormant=dormant, status=status, loyalty=loyalty, store_share=store_share,
        favorite_brand=favorite, **pairs,
    )


def _brand_loyalty(rng: np.random.Generator, catalog: Catalog, segment: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n, c = len(segment), catalog.n_categories
    p_store = np.clip(catalog.store_affinity[None, :] * _STORE_LEAN[segment][:, None] * 0.45, 0.02, 0.80)
    p_switch = np.minimum(0.28, 1.0 - p_store)
    u = rng.random((n, c))
    loyalty = np.where(u < p_store, STORE, np.where(u < p_store + p_switch, SWITCHER, NATIONAL)).astype(np.int8)
    no_national = np.array([len(b) == 0 for b in catalog.category_brands])
    loyalty[:, no_national] = STORE
    share = np.choose(loyalty, [rng.uniform(0.0, 0.10, (n, c)), rng.uniform(0.85, 0.99, (n, c)),
                                rng.uniform(0.25, 0.60, (n, c))]).astype(np.float32)
    share[:, no_national] = 1.0
    cum = np.cumsum(catalog.category_brand_weight, axis=1)
    favorite = (rng.random((n, c))[:, :, None] > cum[None, :, :]).sum(axis=2)
    n_brands = np.array([max(len(b), 1) for b in catalog.category_brands])
    favorite = np.minimum(favorite, n_brands[None, :] - 1).astype(np.int16)
    return loyalty, share, favorite


def _purchase_cycles(rng: np.random.Generator, catalog: Catalog, htype: np.ndarray, size: np.ndarray,
                     dog: np.ndarray, cat: np.ndarray, baby_age: np.ndarray, formula_fed: np.ndarray,
                     segment: np.ndarray, breadth: np.ndarray, usage: np.ndarray, impulse_rate: np.ndarray
                     ) -> dict[str, np.ndarray]:
    tags = catalog.tags
    chance = catalog.popularity[None, :] * breadth[:, None] * REPERTOIRE_SCALE
    chance = chance * np.where(tags["kids"][None, :], _KIDS_LIFT[htype][:, None], 1.0)
    chance = chance * np.where(tags["senior"][None, :], _SENIOR_LIFT[htype][:, None], 1.0)
    chance = chance * np.where(tags["premium"][None, :], _PREMIUM_LIFT[segment][:, None], 1.0)
    chance = chance * np.where(tags["impulse"][None, :], (impulse_rate / 0.45)[:, None] ** 0.5, 1.0)
    # Needs: a pet or a baby puts its subcategories on the list whatever the breadth.
    has_baby = ~np.isnan(baby_age)
    needs = {
        "dog": dog, "cat": cat, "baby": has_baby,
        "formula": formula_fed & (np.nan_to_num(baby_age, nan=99) < 12),
        "babyfood": np.nan_to_num(baby_age, nan=0) >= 4,
    }
    need_any = np.zeros(catalog.n_subcategories, dtype=bool)
    for tag, has in needs.items():
        column = tags[tag]
        need_any |= column
        chance = np.where(column[None, :], catalog.popularity[None, :] * has[:, None], chance)
    chance = np.clip(chance, 0.0, 0.97)
    member, sub = np.nonzero(rng.random(chance.shape) < chance)

    p = len(member)
    household = (size[member] / REFERENCE_HOUSEHOLD).astype(np.float64)
    need = need_any[sub]
    base = catalog.interval_days[sub]
    interval = base * np.where(need, 1.0, household ** -0.35) / usage[member] * rng.lognormal(0.0, 0.35, p)
    interval = np.clip(interval, 2.0, 400.0)
    shape = np.clip(catalog.shape[sub] * rng.lognormal(0.0, 0.25, p), 0.5, 15.0)
    quantity = catalog.quantity[sub] * np.where(need, 1.0, household ** 0.25) * rng.lognormal(0.0, 0.25, p)
    quantity = np.clip(quantity, 1.0, 12.0)
    return {
        "pair_member": member.astype(np.int32),
        "pair_subcategory": sub.astype(np.int32),
        "pair_interval": interval,
        "pair_shape": shape,
        "pair_quantity": quantity,
        "pair_variant": rng.random(p).astype(np.float32),
    }


__all__ = [
    "BRAND_LOYALTIES", "FAVORITE_BRAND_PROB", "HOUSEHOLD_TYPES", "Households", "LAPSE_KINDS", "NATIONAL",
    "PRICE_SEGMENTS", "STATUSES", "STORE", "SWITCHER", "WEEKDAY_SHARES", "draw_households",
]
