"""`loyalty-engine offers ...` against the test database, and the forecast."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import insert, select

from loyalty_engine.db import session_scope
from loyalty_engine.models.catalog import Manufacturer, Product
from loyalty_engine.models.offers import ContentItem, Offer, OfferProduct
from loyalty_engine.offers.forecast import forecast_offer
from loyalty_engine.offers.service import find_offer
from loyalty_engine.shopping_lists.settings import ListSettings
from console_support import add_user
from test_lists_helpers import hand_model, make_small_chain

OFFER_TOML = """
[[offers]]
slug = "tylenol-save"
name = "Save on Tylenol"
description = "Any Tylenol pain reliever"
funder = "manufacturer"
manufacturer = "MFR1"
holdout_share = 0.1
[offers.scope]
brand = ["tylenol"]
[offers.targeting]
cells = ["national", "switcher"]
min_probability = 0.05
[offers.benefit]
kind = "amount_off"
low = "1.00"
medium = "1.50"
high = "2.00"
[offers.funding]
share = 100
handling_fee = "0.08"
budget = "250.00"
max_redemptions = 200
[offers.validity]
from = 2027-02-01
to = 2027-04-30

[[content]]
slug = "tip-pain"
kind = "tip"
title = "Compare the active ingredient"
body = "Store brand has the same."
category = "PAIN RELIEVERS"
"""


def write(tmp_path: Path, text: str, name: str = "offers.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture
def chain(engine):  # type: ignore[no-untyped-def]
    return make_small_chain(engine)


def test_create_list_show_activate_pause(cli, engine, chain, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = cli("offers", "create", str(write(tmp_path, OFFER_TOML)), "--today", "2027-02-15").output
    assert "offer 1 (tylenol-save) code 000001: draft, 2 products in scope" in out
    assert "1 offers created, 0 updated; 1 content items created" in out
    listed = json.loads(cli("offers", "list", "--json").stdout)
    assert listed[0]["benefit"] == {"low": 100, "medium": 150, "high": 200}
    assert listed[0]["target_cells"][:3] == ["national:low", "national:medium", "national:high"]
    assert listed[0]["funded_share_bp"] == 10_000 and listed[0]["budget_cents"] == 25_000
    shown = json.loads(cli("offers", "show", "tylenol-save", "--json").stdout)
    assert shown["skus"] == ["300450449108", "300450449207"] and shown["segment_category"] == "PAIN RELIEVERS"
    assert "Scope: brand tylenol: 2 products" in cli("offers", "show", "000001").output
    # a draft can be changed by creating it again
    cli("offers", "create", str(write(tmp_path, OFFER_TOML.replace('high = "2.00"', 'high = "2.50"'))))
    assert json.loads(cli("offers", "show", "1", "--json").stdout)["benefit"]["high"] == 250
    add_user(engine, "ann", "approver")
    assert "is active, approved by ann" in cli("offers", "activate", "tylenol-save", "--approved-by", "ann",
                                                "--today", "2027-02-15").output
    refused = cli("offers", "create", str(write(tmp_path, OFFER_TOML)), expect=2).output
    assert "is active; pause it before changing it" in refused
    assert "is paused" in cli("offers", "pause", "1").output
    assert json.loads(cli("offers", "list", "--status", "paused", "--json").stdout)[0]["slug"] == "tylenol-save"
    assert "no offer 'nope'" in cli("offers", "show", "nope", expect=2).output
    with session_scope(engine) as s:
        assert s.execute(select(ContentItem.title)).scalar_one() == "Compare the active ingredient"


@pytest.mark.parametrize(
    "change, message",
    [
        (('brand = ["tylenol"]', 'brand = ["tylenl"]'), "matches no product; no product has brand 'tylenl'"),
        (('brand = ["tylenol"]', 'brand = ["purina"]'),
         "none of the 1 products of scope brand = ['purina'] is made by manufacturer 'MFR1'"),
        (('high = "2.00"', 'high = "12.00"'), "benefit $12.00 off is larger than the price of 1 item in scope"),
        (('budget = "250.00"', 'budget = "1.50"'), "budget $1.50 is below one redemption"),
        (('manufacturer = "MFR1"', 'manufacturer = "MFR9"'), "manufacturer 'MFR9' is not in the catalog"),
        (('to = 2027-04-30', 'to = 2027-01-30'), "validity window ends (2027-01-30) before it starts (2027-02-01)"),
    ],
)
def test_catalog_refusals_are_clear(cli, engine, chain, tmp_path, change, message) -> None:  # type: ignore[no-untyped-def]
    text = OFFER_TOML.replace(*change)
    result = cli("offers", "create", str(write(tmp_path, text)), expect=2)
    assert message in result.output, result.output
    with session_scope(engine) as s:
        assert s.execute(select(Offer)).first() is None  # nothing half-created


def test_fixed_price_that_saves_nothing_and_ended_window(cli, engine, chain, tmp_path) -> None:  # type: ignore[no-untyped-def]
    text = OFFER_TOML.replace('kind = "amount_off"\nlow = "1.00"\nmedium = "1.50"\nhigh = "2.00"',
                              'kind = "fixed_price"\nvalue = "9.50"')
    assert "the offer saves nothing" in cli("offers", "create", str(write(tmp_path, text)), expect=2).output
    cli("offers", "create", str(write(tmp_path, OFFER_TOML)))
    add_user(engine, "ann", "approver")
    assert "its window is over" in cli("offers", "activate", "1", "--approved-by", "ann", "--today", "2027-05-01",
                                       expect=2).output
    assert "1 offers ended" in cli("offers", "expire", "--as-of", "2027-05-01").output


def test_seed_demo_builds_a_rich_offer_set_from_the_synthetic_catalog(cli, engine) -> None:  # type: ignore[no-untyped-def]
    from loyalty_engine.synthetic.catalog import generate_catalog
    from loyalty_engine.synthetic.spec import ChainSpec

    catalog = generate_catalog(ChainSpec(members=10))
    with session_scope(engine) as s:
        s.execute(insert(Manufacturer), [dict(id=r["manufacturer_id"], name=r["name"],
                                             gs1_company_prefix=r["gs1_company_prefix"], is_placeholder=False)
                                        for r in catalog.manufacturers.to_dict("records")])
        s.execute(insert(Product), [dict(
            sku=r["sku"], name=r["name"], department=r["department"], category=r["category"],
            subcategory=r["subcategory"], brand=r["brand"], brand_type=r["brand_type"],
            manufacturer_id=r["manufacturer_id"] or None, size=r["size"],
            regular_price_cents=int(round(float(r["regular_price"]) * 100)), is_placeholder=False)
            for r in catalog.products.to_dict("records")])
    out = cli("offers", "seed-demo", "--start", "2026-03-02").output
    assert "created" in out
    again = cli("offers", "seed-demo", "--start", "2026-03-02").output
    assert "0 created" in again
    with session_scope(engine) as s:
        offers = s.execute(select(Offer)).scalars().all()
        kinds = {o.slug.split("-")[1] for o in offers}
        assert kinds == {"mfr", "trial", "category", "winback"}
        assert all(o.status == "active" for o in offers)
        trial = next(o for o in offers if o.slug == "demo-trial-pain-relievers")
        assert (trial.benefit_low, trial.benefit_medium, trial.benefit_high) == (100, 150, 250)
        mfr = [o for o in offers if o.funder_kind == "manufacturer"]
        for o in mfr:  # a manufacturer funds its own products only
            makers = set(s.execute(select(Product.manufacturer_id).join(OfferProduct)
                                   .where(OfferProduct.offer_id == o.id)).scalars())
            assert makers == {o.manufacturer_id}
        kinds_content = set(s.execute(select(ContentItem.kind)).scalars())
        assert kinds_content == {"recipe", "tip", "perk"}


def test_forecast_by_cell_matches_what_a_build_would_choose(engine, chain, tmp_path, cli) -> None:  # type: ignore[no-untyped-def]
    cli("offers", "create", str(write(tmp_path, OFFER_TOML)))
    n = chain.member_keys.shape[0]
    tiers = np.tile((np.arange(n) % 3).astype(np.int8)[:, None], (1, 4))
    loyalty = np.zeros((n, 4), dtype=np.int8)
    loyalty[::5, 0] = 1  # store-brand buyers: not targeted
    probs = np.tile(np.array([0.3, 0.2, 0.05, 0.4, 0.8, 0.1]), (n, 1))
    view = hand_model(chain, np.full(n, 4000), probs, brand_loyalty=loyalty, usage_tier=tiers)
    settings = ListSettings(holdout_share=0.0)
    with session_scope(engine) as s:
        offer = find_offer(s, "tylenol-save")
        result = forecast_offer(s, offer, date(2027, 3, 1), lambda _d: view, settings)
    cells = {c.cell: c for c in result.cells}
    assert cells["store:low"].targeted == cells["store:medium"].targeted == 0
    total = result.total
    # both cohorts: every active, opted-in member above the spend threshold who is targeted
    eligible = [i for i in range(n) if i % 10 not in (3, 7) and loyalty[i, 0] == 0]
    assert total.targeted == len(eligible)
    assert total.members + total.held_out == total.targeted
    p = 1 - (1 - 0.3) * (1 - 0.2)
    assert total.expected_redemptions == pytest.approx(p * total.members)
    face = {"national:low": 100, "national:medium": 150, "national:high": 200}
    expected_face = sum(cells[c].members * p * f for c, f in face.items())
    assert total.face_cents == pytest.approx(expected_face)
    assert total.funder_cents == pytest.approx(expected_face + total.expected_redemptions * 8)
    assert total.retailer_cents == pytest.approx(0.0)
    assert "forecast as if the draft offer were active" in result.notes
