"""A small hand-made chain and a hand-built model view for the offer and list tests.

The model view is explicit arrays (segments, stages, tiers, spend) and a per-product
probability matrix; a scope's probability is 1 - prod(1 - p) over its products. That keeps
the builder's tests about the builder: the model itself is tested by its own team.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Sequence

import numpy as np
import scipy.sparse as sp
from sqlalchemy import Engine, insert

from loyalty_engine.db import session_scope
from loyalty_engine.models.catalog import Manufacturer, Product, Store
from loyalty_engine.models.members import Member
from loyalty_engine.shopping_lists.cadence import member_cohorts
from loyalty_engine.shopping_lists.model_view import ModelView

# sku, name, department, category, subcategory, brand, brand_type, manufacturer, price cents
PRODUCTS = [
    ("300450449108", "Tylenol Extra Strength 100ct", "DRUG GM", "PAIN RELIEVERS", "NON ASPIRIN", "Tylenol", "national", "MFR1", 999),
    ("300450449207", "Tylenol Regular 50ct", "DRUG GM", "PAIN RELIEVERS", "NON ASPIRIN", "Tylenol", "national", "MFR1", 699),
    ("041303000012", "Dick's Acetaminophen 100ct", "DRUG GM", "PAIN RELIEVERS", "NON ASPIRIN", "Dick's", "store", None, 499),
    ("017800000011", "Purina Dog Chow 8lb", "PET", "PET FOOD", "DRY DOG FOOD", "Purina", "national", "MFR2", 1299),
    ("041303000029", "Dick's 2% Milk Gallon", "DAIRY", "MILK", "WHITE MILK", "Dick's", "store", None, 249),
    ("037000000013", "Pampers Size 3 84ct", "BABY", "DIAPERS", "BABY DIAPERS", "Pampers", "national", "MFR3", 2499),
]
CATEGORIES = ["PAIN RELIEVERS", "PET FOOD", "MILK", "DIAPERS"]


@dataclass
class SmallChain:
    member_keys: np.ndarray
    product_keys: dict[str, int]  # sku -> key


def make_small_chain(engine: Engine, n_members: int = 40) -> SmallChain:
    with session_scope(engine) as s:
        s.add(Store(id="S1", name="Dick's Platteville", city="Platteville", region="WI", postal_code="53818"))
        s.add_all([
            Manufacturer(id="MFR1", name="Johnson & Johnson", gs1_company_prefix="300450"),
            Manufacturer(id="MFR2", name="Nestlé Purina", gs1_company_prefix="017800"),
            Manufacturer(id="MFR3", name="Procter & Gamble", gs1_company_prefix="037000"),
        ])
        s.flush()
        s.execute(insert(Product), [
            dict(sku=sku, name=name, department=d, category=c, subcategory=sc, brand=b, brand_type=bt,
                 manufacturer_id=m, size="", regular_price_cents=price, is_placeholder=False)
            for sku, name, d, c, sc, b, bt, m, price in PRODUCTS
        ])
        s.execute(insert(Member), [
            dict(member_id=f"M{i:05d}", card_number=f"4{i:011d}", first_name=f"First{i}", last_name="Tester",
                 email="", address_line=f"{i} Main St", city="Platteville", region="WI", postal_code="53818",
                 home_store_id="S1", enrolled_at=date(2016, 1, 1), mail_opt_in=(i % 10 != 3),
                 app_opt_in=False, status="inactive" if i % 10 == 7 else "active", is_placeholder=False)
            for i in range(n_members)
        ])
    with engine.connect() as conn:
        keys = np.array(sorted(conn.exec_driver_sql("SELECT id FROM members").scalars()), dtype=np.int64)
        products = dict(conn.exec_driver_sql("SELECT sku, id FROM products").all())
    return SmallChain(member_keys=keys, product_keys={k: int(v) for k, v in products.items()})


def hand_model(
    chain: SmallChain,
    weekly_spend_cents: Sequence[int] | np.ndarray,
    product_probability: np.ndarray,  # members x products (in PRODUCTS order)
    brand_loyalty: np.ndarray | None = None,
    usage_tier: np.ndarray | None = None,
    lifecycle_stage: np.ndarray | None = None,
    value_tier: np.ndarray | None = None,
    prior_weekly_spend_cents: np.ndarray | None = None,
    as_of: date | None = None,
) -> ModelView:
    n = chain.member_keys.shape[0]
    sku_keys = np.array([chain.product_keys[p[0]] for p in PRODUCTS], dtype=np.int64)
    probs = np.asarray(product_probability, dtype=np.float64)

    def scorer(scopes: Sequence[np.ndarray], horizon: int, positions: np.ndarray) -> sp.csr_matrix:
        out = np.zeros((positions.shape[0], len(scopes)))
        for j, scope in enumerate(scopes):
            cols = np.flatnonzero(np.isin(sku_keys, scope))
            out[:, j] = 1 - np.prod(1 - probs[positions][:, cols], axis=1)
        return sp.csr_matrix(out)

    def default(arr: np.ndarray | None, fill: int, shape: tuple[int, ...]) -> np.ndarray:
        return np.full(shape, fill, dtype=np.int8) if arr is None else np.asarray(arr, dtype=np.int8)

    spend = np.asarray(weekly_spend_cents, dtype=np.int64)
    return ModelView(
        member_key=chain.member_keys,
        categories=list(CATEGORIES),
        brand_loyalty=default(brand_loyalty, 0, (n, len(CATEGORIES))),
        usage_tier=default(usage_tier, 1, (n, len(CATEGORIES))),
        lifecycle_stage=default(lifecycle_stage, 2, (n,)),
        value_tier=default(value_tier, 4, (n,)),
        n_value_tiers=5,
        weekly_spend_cents=spend,
        prior_weekly_spend_cents=spend if prior_weekly_spend_cents is None else np.asarray(prior_weekly_spend_cents, np.int64),
        scorer=scorer,
        as_of=as_of,
        source="hand-built test model",
    )


def cohort_members(chain: SmallChain, cohort: str) -> np.ndarray:
    return chain.member_keys[member_cohorts(chain.member_keys) == cohort]
