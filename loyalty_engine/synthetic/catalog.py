"""Build the chain's catalog from the assortment in ``catalog_data``: brands, manufacturers
with GS1 company prefixes, UPC-A skus (PLUs for loose produce), names, sizes and prices.

Besides the canonical product and manufacturer tables, the catalog carries the arrays the
shopping simulation indexes: per subcategory its behaviour, and a lookup
``slot_products[subcategory, brand slot, variant] -> product index`` where slot 0 is the
store brand and slots 1.. are the national brands carried in that subcategory.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .catalog_data import DEPARTMENTS, CategorySpec, DepartmentSpec, SubcategorySpec
from .gs1 import DRUG_NUMBER_SYSTEM, GROCERY_NUMBER_SYSTEMS, gs1_company_prefix, make_company_prefixes, make_upc
from .spec import ChainSpec

PRODUCT_COLUMNS = ["sku", "name", "department", "category", "subcategory", "brand", "brand_type",
                   "manufacturer_id", "size", "regular_price"]
MANUFACTURER_COLUMNS = ["manufacturer_id", "name", "gs1_company_prefix"]

TAGS = ("kids", "senior", "premium", "dog", "cat", "baby", "formula", "babyfood", "impulse")
NEED_TAGS = ("dog", "cat", "baby", "formula", "babyfood")
DRUG_CATEGORIES = {"Pain Relievers", "Cold & Allergy", "Vitamins & Digestive", "First Aid"}

PRICE_ENDINGS = np.array([19, 29, 39, 49, 59, 69, 79, 89, 99])

_BRAND_FIRST = (
    "Golden", "Prairie", "Harbor", "Maple", "Sunny", "Blue", "Silver", "Green", "North", "Happy",
    "Pure", "True", "Bright", "Cedar", "Hill", "River", "Lake", "Oak", "Red Barn", "Country",
    "Heritage", "Sweet", "Wild", "Crystal", "Morning", "Summit", "Valley", "Prime", "Simple",
    "Clear", "Royal", "Grand", "Little", "Big Sky", "Stone", "Willow", "Birch", "Pine", "Aspen",
    "Juniper", "Sparrow", "Robin", "Fox", "Bear", "Eagle", "Badger", "Heartland", "Lakeside",
    "Northern", "Old Mill", "Sunrise", "Bluff", "Driftwood", "Copper", "Honeybee", "Meadow",
    "Orchard", "Timber", "Cardinal", "Kettle", "Hearth", "Sterling", "Evergreen", "Riverbend",
)
_BRAND_SECOND = (
    "Farms", "Creek", "Valley", "Ridge", "Hollow", "Acres", "Point", "Crest", "Field", "Grove",
    "Harvest", "Kitchen", "Table", "Pantry", "Classic", "Naturals", "Select", "Gold", "Choice",
    "Essentials", "Spring", "Trail", "Basics", "Bay", "Glen", "Brook", "Home", "Works", "Craft",
    "Co.", "Best", "Pride", "Fresh", "Care", "Pure", "Plus", "Bloom", "Peak", "Sun", "Star",
)
_MAKER_FIRST = (
    "Great Lakes", "Meridian", "Northstar", "Continental", "Pioneer", "Lakeshore", "Keystone",
    "Midwest", "Heartland", "Summit", "Allied", "Atlas", "Beacon", "Cascade", "Frontier",
    "Horizon", "Liberty", "Patriot", "Riverside", "Sterling", "Union", "Vantage", "Westfield",
    "Whitmore", "Ashford", "Bradley", "Carver", "Dalton", "Ellison", "Fairbanks", "Granger",
    "Hadley", "Jensen", "Kessler", "Lindqvist", "Morrison", "Nordahl", "Olsen", "Prescott",
    "Quincy", "Radford", "Sandberg", "Thornton", "Underwood", "Vogel", "Whitfield", "Yardley",
)


@dataclass
class Catalog:
    products: pd.DataFrame          # canonical product columns, in catalog order
    manufacturers: pd.DataFrame     # canonical manufacturer columns
    price_cents: np.ndarray         # (P,) int64 regular price
    product_subcategory: np.ndarray  # (P,) int32
    product_slot: np.ndarray        # (P,) int16 brand slot within its subcategory (0 = store brand)
    product_is_store: np.ndarray    # (P,) bool
    sku: np.ndarray                 # (P,) object strings

    subcategory_names: list[str]
    subcategory_category: np.ndarray   # (S,) int32
    interval_days: np.ndarray          # (S,) float64 population mean inter-purchase days
    shape: np.ndarray                  # (S,) float64 gamma shape
    popularity: np.ndarray             # (S,) float64
    quantity: np.ndarray               # (S,) float64 usual units per purchase
    tags: dict[str, np.ndarray]        # tag -> (S,) bool

    category_names: list[str]
    category_department: list[str]
    store_affinity: np.ndarray         # (C,) float64
    category_brands: list[list[str]]   # national brand names per category
    category_brand_weight: np.ndarray  # (C, N) market-share weights, 0-padded

    slot_products: np.ndarray   # (S, K, V) int32 product index, -1 where absent
    slot_variants: np.ndarray   # (S, K) int32 number of skus per slot
    slot_brand: np.ndarray      # (S, K) int32 category brand index of a slot (-1 = store brand / absent)
    national_slot: np.ndarray   # (S, N) int32 slot carrying category brand j (falls back to a carried one)

    @property
    def n_products(self) -> int:
        return len(self.price_cents)

    @property
    def n_subcategories(self) -> int:
        return len(self.subcategory_names)

    @property
    def n_categories(self) -> int:
        return len(self.category_names)

    def subcategory_index(self, name: str) -> int:
        return self.subcategory_names.index(name)

    def category_index(self, name: str) -> int:
        return self.category_names.index(name)


@dataclass
class _Maker:
    id: str
    name: str
    department: str
    drug: bool
    upc_prefix: str = ""
    next_ref: int = 0


@dataclass
class _Sku:
    subcategory: int
    slot: int
    brand: str
    brand_type: str
    maker: int  # index into makers; 0 = the chain
    variant: str
    size: str
    price_factor: float
    plu: str | None


def _parse_options(text: str) -> list[tuple[str, float, str | None]]:
    """``"a|b:1.5|c=4011"`` -> [(name, factor, code)]."""
    options = []
    for part in text.split("|"):
        factor = 1.0
        code = None
        if ":" in part:
            part, raw = part.rsplit(":", 1)
            factor = float(raw)
        if "=" in part:
            part, code = part.split("=", 1)
        options.append((part.strip(), factor, code))
    return options


def _round_price(cents: float) -> int:
    """A shelf price ending the way grocery prices do (.19 .29 ... .99)."""
    dollars = int(cents // 100)
    candidates = np.concatenate([(d * 100 + PRICE_ENDINGS) for d in (dollars - 1, dollars, dollars + 1) if d >= 0])
    return int(candidates[np.argmin(np.abs(candidates - cents))])


class _Names:
    def __init__(self, rng: np.random.Generator, reserved: set[str]) -> None:
        self.rng = rng
        self.used = set(reserved)

    def brand(self) -> str:
        while True:
            name = f"{self.rng.choice(_BRAND_FIRST)} {self.rng.choice(_BRAND_SECOND)}"
            first, second = name.split(" ", 1)[0], name.rsplit(" ", 1)[-1]
            if name not in self.used and first != second:
                self.used.add(name)
                return name

    def maker(self, department: DepartmentSpec) -> str:
        while True:
            name = f"{self.rng.choice(_MAKER_FIRST)} {self.rng.choice(department.maker_words)}"
            if name not in self.used:
                self.used.add(name)
                return name


def generate_catalog(spec: ChainSpec) -> Catalog:
    """The chain's catalog; deterministic per seed."""
    rng = np.random.default_rng([spec.seed, 1])
    names = _Names(rng, {spec.store_brand, spec.produce_brand, spec.chain_name})
    makers = [_Maker("MFR1", spec.chain_name, "", drug=False)]
    skus: list[_Sku] = []

    subcategories: list[tuple[DepartmentSpec, CategorySpec, SubcategorySpec]] = []
    category_brands: list[list[str]] = []
    category_weights: list[np.ndarray] = []
    brand_maker: dict[str, int] = {}
    department_brands: dict[str, list[str]] = {}
    department_makers: dict[str, list[int]] = {}

    for department in DEPARTMENTS:
        for category in department.categories:
            brands = _category_brands(rng, names, makers, department, category, brand_maker,
                                      department_brands, department_makers)
            category_brands.append(brands)
            category_weights.append(rng.dirichlet(np.full(max(len(brands), 1), 1.6)) if brands else np.zeros(0))
            for sub in category.subcategories:
                subcategories.append((department, category, sub))

    n_sub = len(subcategories)
    max_brands = max(len(b) for b in category_brands)
    national_slot = np.zeros((n_sub, max(max_brands, 1)), dtype=np.int32)
    slot_brand_rows: list[list[int]] = []
    category_index = {id(c): i for i, c in enumerate(cat for d in DEPARTMENTS for cat in d.categories)}

    for s, (department, category, sub) in enumerate(subcategories):
        c = category_index[id(category)]
        variants = _parse_options(sub.variants)
        sizes = _parse_options(sub.sizes)
        brands = category_brands[c]
        if not brands:  # loose produce: every variety is a PLU under the store's produce label
            slot_brand_rows.append([-1])
            for name, factor, plu in variants:
                skus.append(_Sku(s, 0, spec.produce_brand, "store", 0, name, sizes[0][0], factor, plu))
            continue
        carried = [j for j in range(len(brands)) if rng.random() < 0.85]
        if len(carried) < min(2, len(brands)):
            carried = sorted(rng.choice(len(brands), size=min(2, len(brands)), replace=False).tolist())
        slot_brand_rows.append([-1] + carried)
        # The best-selling carried brand stands in for a brand this subcategory lacks.
        fallback = 1 + int(np.argmax(category_weights[c][carried]))
        national_slot[s, :] = fallback
        for k, j in enumerate(carried, start=1):
            national_slot[s, j] = k
        combos = [(v, z) for z in range(len(sizes)) for v in range(len(variants))]
        store_factor = 0.74 * float(np.exp(rng.normal(0, 0.05)))
        _add_brand_skus(rng, skus, s, 0, spec.store_brand, "store", 0, variants, sizes, combos,
                        store_factor, max_skus=3)
        for k, j in enumerate(carried, start=1):
            # market leaders price a little higher
            factor = float(np.exp(rng.normal(0.0, 0.08))) * (1.0 + 0.15 * category_weights[c][j])
            _add_brand_skus(rng, skus, s, k, brands[j], "national", brand_maker[brands[j]], variants, sizes,
                            combos, factor, max_skus=4)

    _assign_prefixes(rng, makers, skus)
    return _assemble(spec, makers, skus, subcategories, category_brands, category_weights, slot_brand_rows,
                     national_slot)


def _category_brands(rng: np.random.Generator, names: _Names, makers: list[_Maker], department: DepartmentSpec,
                     category: CategorySpec, brand_maker: dict[str, int], department_brands: dict[str, list[str]],
                     department_makers: dict[str, list[int]]) -> list[str]:
    brands: list[str] = []
    dept_brands = department_brands.setdefault(department.name, [])
    dept_makers = department_makers.setdefault(department.name, [])
    drug = category.name in DRUG_CATEGORIES
    # Each national brand of a category comes from a different manufacturer, as on a real shelf.
    for _ in range(category.national_brands):
        used = {brand_maker[b] for b in brands}
        reusable = [b for b in dept_brands
                    if b not in brands and brand_maker[b] not in used and makers[brand_maker[b]].drug == drug]
        if reusable and rng.random() < 0.3:
            brands.append(reusable[int(rng.integers(len(reusable)))])
            continue
        brand = names.brand()
        same_kind = [m for m in dept_makers if makers[m].drug == drug and m not in used]
        if same_kind and rng.random() < 0.5:
            maker = same_kind[int(rng.integers(len(same_kind)))]
        else:
            makers.append(_Maker(f"MFR{len(makers) + 1}", names.maker(department), department.name, drug))
            maker = len(makers) - 1
            dept_makers.append(maker)
        brand_maker[brand] = maker
        dept_brands.append(brand)
        brands.append(brand)
    return brands


def _add_brand_skus(rng: np.random.Generator, skus: list[_Sku], s: int, slot: int, brand: str, brand_type: str,
                    maker: int, variants: list, sizes: list, combos: list[tuple[int, int]], factor: float,
                    max_skus: int) -> None:
    count = int(rng.integers(1, min(max_skus, len(combos)) + 1))
    # Every brand carries the core item (first variant, first size); the rest vary by brand.
    extra = rng.choice(np.arange(1, len(combos)), size=count - 1, replace=False) if count > 1 else []
    for combo in [0, *sorted(int(i) for i in extra)]:
        v, z = combos[combo]
        skus.append(_Sku(s, slot, brand, brand_type, maker, variants[v][0], sizes[z][0],
                         factor * variants[v][1] * sizes[z][1], None))


def _assign_prefixes(rng: np.random.Generator, makers: list[_Maker], skus: list[_Sku]) -> None:
    counts = np.bincount([sku.maker for sku in skus if sku.plu is None], minlength=len(makers))
    lengths, systems = [], []
    for i, maker in enumerate(makers):
        # room for the maker's items with gaps: big makers get short prefixes (long item refs)
        longest = 6
        while longest < 9 and 10 ** (11 - (longest + 1)) >= 50 * max(int(counts[i]), 1):
            longest += 1
        lengths.append(6 if i == 0 else int(rng.integers(6, longest + 1)))
        systems.append(DRUG_NUMBER_SYSTEM if maker.drug and rng.random() < 0.7
                       else int(rng.choice(GROCERY_NUMBER_SYSTEMS)))
    for maker, prefix in zip(makers, make_company_prefixes(rng, lengths, systems)):
        maker.upc_prefix = prefix
        maker.next_ref = int(rng.integers(0, 10 ** (11 - len(prefix)) // 4))


def _assemble(spec: ChainSpec, makers: list[_Maker], skus: list[_Sku],
              subcategories: list[tuple[DepartmentSpec, CategorySpec, SubcategorySpec]],
              category_brands: list[list[str]], category_weights: list[np.ndarray],
              slot_brand_rows: list[list[int]], national_slot: np.ndarray) -> Catalog:
    rng = np.random.default_rng([spec.seed, 2])
    rows = []
    prices = np.empty(len(skus), dtype=np.int64)
    for p, sku in enumerate(skus):
        department, category, sub = subcategories[sku.subcategory]
        price = _round_price(sub.price_cents * sku.price_factor * float(np.exp(rng.normal(0, 0.04))))
        prices[p] = price
        if sku.plu is not None:
            code = sku.plu
            name = sku.variant
        else:
            maker = makers[sku.maker]
            step = int(rng.integers(1, 40))
            maker.next_ref += step
            code = make_upc(maker.upc_prefix, maker.next_ref)
            name = f"{sku.brand} {sku.variant} {sku.size}"
        rows.append((code, name, department.name, category.name, sub.name, sku.brand, sku.brand_type,
                     makers[sku.maker].id, sku.size, f"{price // 100}.{price % 100:02d}"))
    products = pd.DataFrame(rows, columns=PRODUCT_COLUMNS)
    if products["sku"].duplicated().any():  # pragma: no cover - guarded by construction
        raise RuntimeError("duplicate sku in synthetic catalog")
    manufacturers = pd.DataFrame(
        [(m.id, m.name, gs1_company_prefix(m.upc_prefix)) for m in makers], columns=MANUFACTURER_COLUMNS
    )

    n_sub = len(subcategories)
    max_slots = max(len(r) for r in slot_brand_rows)
    slot_brand = np.full((n_sub, max_slots), -1, dtype=np.int32)
    for s, row in enumerate(slot_brand_rows):
        slot_brand[s, : len(row)] = row
    product_subcategory = np.array([k.subcategory for k in skus], dtype=np.int32)
    product_slot = np.array([k.slot for k in skus], dtype=np.int16)
    slot_variants = np.zeros((n_sub, max_slots), dtype=np.int32)
    np.add.at(slot_variants, (product_subcategory, product_slot), 1)
    slot_products = np.full((n_sub, max_slots, int(slot_variants.max())), -1, dtype=np.int32)
    seen = np.zeros((n_sub, max_slots), dtype=np.int32)
    for p in range(len(skus)):
        s, k = product_subcategory[p], product_slot[p]
        slot_products[s, k, seen[s, k]] = p
        seen[s, k] += 1

    categories = [c for d in DEPARTMENTS for c in d.categories]
    category_pos = {id(c): i for i, c in enumerate(categories)}
    max_brands = max(len(b) for b in category_brands)
    weights = np.zeros((len(categories), max(max_brands, 1)))
    for c, w in enumerate(category_weights):
        weights[c, : len(w)] = w
    subs = [t[2] for t in subcategories]
    tags = {tag: np.array([tag in s.tags.split() for s in subs]) for tag in TAGS}
    return Catalog(
        products=products,
        manufacturers=manufacturers,
        price_cents=prices,
        product_subcategory=product_subcategory,
        product_slot=product_slot,
        product_is_store=(products["brand_type"] == "store").to_numpy(),
        sku=products["sku"].to_numpy(dtype=object),
        subcategory_names=[s.name for s in subs],
        subcategory_category=np.array([category_pos[id(t[1])] for t in subcategories], dtype=np.int32),
        interval_days=np.array([s.interval_days for s in subs], dtype=np.float64),
        shape=np.array([s.shape for s in subs], dtype=np.float64),
        popularity=np.array([s.popularity for s in subs], dtype=np.float64),
        quantity=np.array([s.quantity for s in subs], dtype=np.float64),
        tags=tags,
        category_names=[c.name for c in categories],
        category_department=[d.name for d in DEPARTMENTS for _ in d.categories],
        store_affinity=np.array([c.store_affinity for c in categories]),
        category_brands=category_brands,
        category_brand_weight=weights,
        slot_products=slot_products,
        slot_variants=slot_variants,
        slot_brand=slot_brand,
        national_slot=national_slot,
    )


__all__ = ["Catalog", "MANUFACTURER_COLUMNS", "PRODUCT_COLUMNS", "TAGS", "generate_catalog"]
