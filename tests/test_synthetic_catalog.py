"""The synthetic catalog: valid GS1 numbers, brands and manufacturers, prices."""
from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty_engine.synthetic import ChainSpec, generate_catalog, is_valid_upc, upc_check_digit
from loyalty_engine.synthetic.gs1 import ean13_check_digits, make_upc
from loyalty_engine.list_numbers import ean13_check_digit


@pytest.fixture(scope="module")
def catalog():  # type: ignore[no-untyped-def]
    return generate_catalog(ChainSpec(seed=11))


def test_known_upc_check_digits() -> None:
    # Published UPC-A examples: 036000291452, 012345678905, 042100005264.
    assert upc_check_digit("03600029145") == 2
    assert upc_check_digit("01234567890") == 5
    assert upc_check_digit("04210000526") == 4
    assert is_valid_upc("036000291452")
    assert not is_valid_upc("036000291453")


@given(st.from_regex(r"[0-9]{6,9}", fullmatch=True), st.integers(min_value=0, max_value=99), st.integers(0, 11),
       st.integers(1, 9))
def test_any_single_digit_error_is_caught(prefix: str, ref: int, position: int, shift: int) -> None:
    code = make_upc(prefix, ref)
    assert is_valid_upc(code)
    broken = code[:position] + str((int(code[position]) + shift) % 10) + code[position + 1:]
    assert not is_valid_upc(broken)


def test_vectorized_ean13_matches_list_numbers() -> None:
    bodies = np.array([290000000001, 290012345678, 40000000000, 999999999999], dtype=np.int64)
    expected = [ean13_check_digit(f"{b:012d}") for b in bodies]
    assert ean13_check_digits(bodies).tolist() == expected


def test_skus_are_valid_upcs_or_plus(catalog) -> None:  # type: ignore[no-untyped-def]
    products = catalog.products
    assert products["sku"].is_unique
    upc = products["sku"].str.len() == 12
    assert all(is_valid_upc(code) for code in products.loc[upc, "sku"])
    plu = products.loc[~upc]
    assert len(plu) > 10
    assert plu["sku"].str.fullmatch(r"[34][0-9]{3}|9[34][0-9]{3}").all()  # 4-digit PLU, 9 + PLU = organic
    assert (plu["department"] == "Produce").all()
    assert (plu["brand_type"] == "store").all()


def test_skus_carry_their_manufacturers_prefix(catalog) -> None:  # type: ignore[no-untyped-def]
    makers = catalog.manufacturers.set_index("manufacturer_id")["gs1_company_prefix"]
    prefixes = makers.tolist()
    assert len(set(prefixes)) == len(prefixes)
    assert all(re.fullmatch(r"0[0-9]{6,9}", p) for p in prefixes)  # GTIN-13 form of a 6-9 digit U.P.C. prefix
    assert not any(a != b and b.startswith(a) for a in prefixes for b in prefixes)
    upcs = catalog.products[catalog.products["sku"].str.len() == 12]
    upc_prefix = upcs["manufacturer_id"].map(makers).str[1:]
    assert all(sku.startswith(prefix) for sku, prefix in zip(upcs["sku"], upc_prefix))
    # The store brand is made for the chain, under the chain's own prefix.
    store = catalog.products[catalog.products["brand_type"] == "store"]
    assert store["manufacturer_id"].nunique() == 1
    chain = catalog.manufacturers.set_index("manufacturer_id").loc[store["manufacturer_id"].iloc[0]]
    assert chain["name"] == ChainSpec().chain_name


def test_assortment_shape(catalog) -> None:  # type: ignore[no-untyped-def]
    products = catalog.products
    assert 12 <= products["department"].nunique() <= 16
    assert 60 <= products["category"].nunique() <= 150
    assert products["subcategory"].nunique() >= 120
    for department in ("Produce", "Dairy & Eggs", "Meat & Seafood", "Bakery", "Frozen", "Pantry", "Beverages",
                       "Snacks & Candy", "Household", "Health & Beauty", "Baby", "Pet", "Deli"):
        assert department in set(products["department"]), department
    assert "Pain Relievers" in set(products["category"])
    national = products[products["brand_type"] == "national"]
    per_category = national.groupby("category").agg(brands=("brand", "nunique"), makers=("manufacturer_id", "nunique"))
    assert (per_category["brands"] >= 2).all()
    assert (per_category["brands"] == per_category["makers"]).all()  # different manufacturers
    branded = products[products["category"].isin(per_category.index)]
    assert (branded.groupby("subcategory")["brand_type"].agg(set) == {"national", "store"}).all()


def test_store_brand_is_cheaper(catalog) -> None:  # type: ignore[no-untyped-def]
    core = catalog.slot_products[:, :, 0]  # each brand's core item: first variant, first size
    price = np.where(core >= 0, catalog.price_cents[np.maximum(core, 0)], -1)
    branded = (core[:, 1] >= 0)
    store, national = price[branded, 0], price[branded, 1:]
    cheapest_national = np.where(national > 0, national, np.iinfo(np.int64).max).min(axis=1)
    assert (store < cheapest_national).all()


def test_prices_and_names(catalog) -> None:  # type: ignore[no-untyped-def]
    products = catalog.products
    assert products["regular_price"].str.fullmatch(r"[0-9]+\.[0-9]9").all()  # shelf prices end in 9
    cents = products["regular_price"].str.replace(".", "", regex=False).astype(int)
    assert (cents.to_numpy() == catalog.price_cents).all()
    assert cents.between(19, 6000).all()
    upc = products[products["sku"].str.len() == 12]
    assert all(name.startswith(brand) and name.endswith(size)
               for name, brand, size in zip(upc["name"], upc["brand"], upc["size"]))
    assert not products.apply(lambda row: row.astype(str).str.contains(",").any(), axis=1).any()


def test_catalog_is_deterministic_per_seed() -> None:
    a = generate_catalog(ChainSpec(seed=5)).products
    b = generate_catalog(ChainSpec(seed=5)).products
    c = generate_catalog(ChainSpec(seed=6)).products
    assert a.equals(b)
    assert not a.equals(c)
