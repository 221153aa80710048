"""Building lists against a real database with a hand-built model view."""
from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
import pytest
from sqlalchemy import func, select, update

from loyalty_engine.db import session_scope
from loyalty_engine.list_numbers import parse_list_number
from loyalty_engine.models.lists import ListBuild, ListHoldout, ShoppingList, ShoppingListContent, ShoppingListLine
from loyalty_engine.models.offers import Offer
from loyalty_engine.offers.definition import parse_definitions
from loyalty_engine.offers.service import save_definitions
from loyalty_engine.shopping_lists.build import BuildError, build_lists, expire_lists
from loyalty_engine.shopping_lists.cadence import cohort_for_date, member_cohorts
from loyalty_engine.shopping_lists.settings import ListSettings
from test_lists_helpers import PRODUCTS, hand_model, make_small_chain

PERIOD = date(2027, 3, 1)  # a Monday
TODAY = date(2027, 2, 20)
SETTINGS = ListSettings(holdout_share=0.0)

OFFERS = {
    "offers": [
        {
            "slug": "tylenol-save", "name": "Save on Tylenol", "description": "Any Tylenol pain reliever",
            "funder": "manufacturer", "manufacturer": "MFR1",
            "scope": {"brand": ["Tylenol"]},
            "benefit": {"kind": "amount_off", "value": "1.00"},
            "funding": {"share": 100, "handling_fee": "0.08", "budget": "500.00"},
            "validity": {"from": "2027-02-01", "to": "2027-06-30"}, "status": "active",
            # shares lists with the trial here; test_lists_exclusions checks the default rule
            "exclusion_group": "none",
        },
        {
            "slug": "dicks-trial", "name": "Try Dick's pain reliever", "description": "Dick's acetaminophen",
            "funder": "retailer",
            "scope": {"subcategory": ["NON ASPIRIN"], "brand_type": "store"},
            "targeting": {"cells": ["national"], "match_on": "subcategory"},
            "benefit": {"kind": "amount_off", "low": "1.00", "medium": "1.50", "high": "2.50"},
            "validity": {"from": "2027-02-01", "to": "2027-06-30"}, "status": "active",
        },
        {
            "slug": "milk", "name": "Milk", "description": "Dick's milk", "funder": "retailer",
            "scope": {"category": ["MILK"]}, "benefit": {"kind": "percent_off", "value": 20},
            "validity": {"from": "2027-02-01", "to": "2027-06-30"}, "status": "active",
        },
        {
            "slug": "purina-winback", "name": "We miss you", "description": "Purina dog food",
            "funder": "manufacturer", "manufacturer": "MFR2", "scope": {"brand": ["Purina"]},
            "targeting": {"stages": ["declining", "lapsed"]},
            "benefit": {"kind": "amount_off", "value": "3.00"},
            "validity": {"from": "2027-02-01", "to": "2027-06-30"}, "status": "active",
        },
    ],
    "content": [
        {"slug": "soup", "kind": "recipe", "title": "Chicken soup", "body": "Simmer...", "category": "MILK"},
        {"slug": "express", "kind": "perk", "title": "Express lane", "body": "Use lane 1", "min_value_tier": 3},
    ],
}


def setup_offers(engine) -> None:  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        save_definitions(s, parse_definitions(OFFERS), TODAY)


@pytest.fixture
def chain(engine):  # type: ignore[no-untyped-def]
    chain = make_small_chain(engine)
    setup_offers(engine)
    return chain


def model_for(chain, spend=None, **kw):  # type: ignore[no-untyped-def]
    n = chain.member_keys.shape[0]
    spend = np.full(n, 4000) if spend is None else spend
    probs = np.tile(np.array([0.3, 0.2, 0.05, 0.4, 0.8, 0.1]), (n, 1))
    view = hand_model(chain, spend, probs, **kw)
    return lambda as_of: view


def test_build_gives_cohort_members_valid_lists(engine, chain) -> None:  # type: ignore[no-untyped-def]
    cohort = cohort_for_date(PERIOD)
    with session_scope(engine) as s:
        result = build_lists(s, PERIOD, model_for(chain), SETTINGS)
    assert result.created and result.cohort == cohort
    assert result.period_end == PERIOD + timedelta(days=13)
    with session_scope(engine) as s:
        lists = s.execute(select(ShoppingList)).scalars().all()
        keys = np.array([l.member_key for l in lists])
        assert set(member_cohorts(keys)) == {cohort}
        members = {m.id: m for m in s.execute(select(__import__("loyalty_engine.models", fromlist=["Member"]).Member)).scalars()}
        for lst in lists:
            m = members[lst.member_key]
            assert m.status == "active" and (m.mail_opt_in or m.app_opt_in)
            assert parse_list_number(lst.list_number) == lst.id
            assert lst.period_start == PERIOD and lst.store_id == "S1"
            assert lst.total_face_cents == sum(line.face_value_cents for line in lst.lines)
            assert lst.total_face_cents <= lst.face_cap_cents
            assert [line.line_no for line in lst.lines] == list(range(1, len(lst.lines) + 1))
        expected = [k for k in chain.member_keys
                    if member_cohorts(np.array([k]))[0] == cohort
                    and members[int(k)].status == "active" and members[int(k)].mail_opt_in]
        assert sorted(keys.tolist()) == sorted(int(k) for k in expected)
        line = s.execute(select(ShoppingListLine).where(ShoppingListLine.benefit_text != "")).scalars().first()
        reason = line.reason
        assert {"probability", "cell", "expected_value_cents"} <= set(reason)


def test_tiered_trial_benefit_and_targeting_by_cell(engine, chain) -> None:  # type: ignore[no-untyped-def]
    n = chain.member_keys.shape[0]
    loyalty = np.zeros((n, 4), dtype=np.int8)
    tier = np.tile(np.arange(n, dtype=np.int8)[:, None] % 3, (1, 4))
    loyalty[::4, 0] = 1  # every fourth member buys the store brand of pain relievers
    with session_scope(engine) as s:
        build_lists(s, PERIOD, model_for(chain, brand_loyalty=loyalty, usage_tier=tier), SETTINGS)
    with session_scope(engine) as s:
        trial = s.execute(select(Offer).where(Offer.slug == "dicks-trial")).scalar_one()
        rows = s.execute(
            select(ShoppingList.member_key, ShoppingListLine.usage_tier, ShoppingListLine.brand_loyalty,
                   ShoppingListLine.benefit_value, ShoppingListLine.benefit_text)
            .join(ShoppingList).where(ShoppingListLine.offer_id == trial.id)
        ).all()
    assert rows
    pos = {int(k): i for i, k in enumerate(chain.member_keys)}
    values = {"low": 100, "medium": 150, "high": 250}
    for member_key, usage, loyalty_name, value, text in rows:
        assert loyalty_name == "national" and loyalty[pos[member_key], 0] == 0
        assert value == values[usage] and text == f"${value / 100:.2f} off"


def test_winback_for_lapsing_members_who_were_eligible_before(engine, chain) -> None:  # type: ignore[no-untyped-def]
    n = chain.member_keys.shape[0]
    spend = np.full(n, 4000)
    stage = np.full(n, 2, dtype=np.int8)
    prior = np.full(n, 4000)
    spend[:12] = 500  # fell below the threshold
    stage[:6] = 4  # lapsed ...
    prior[3:6] = 100  # ... but members 3-5 never spent enough before
    with session_scope(engine) as s:
        build_lists(s, PERIOD, model_for(chain, spend=spend, lifecycle_stage=stage, prior_weekly_spend_cents=prior),
                    SETTINGS, cohort="A")
        build_lists(s, PERIOD, model_for(chain, spend=spend, lifecycle_stage=stage, prior_weekly_spend_cents=prior),
                    SETTINGS, cohort="B")
    with session_scope(engine) as s:
        kinds = dict(s.execute(select(ShoppingList.member_key, ShoppingList.kind)).all())
        winback_offer = s.execute(select(Offer.id).where(Offer.slug == "purina-winback")).scalar_one()
        with_winback = set(s.execute(
            select(ShoppingList.member_key).join(ShoppingListLine).where(ShoppingListLine.offer_id == winback_offer)
        ).scalars())
    keys = chain.member_keys
    for i in range(12):
        k = int(keys[i])
        active_opted = i % 10 not in (3, 7)
        if i < 3 and active_opted:
            assert kinds.get(k) == "winback" and k in with_winback
        else:
            assert k not in kinds  # below the threshold and not a win-back case
    assert all(kinds[int(k)] == "regular" for k in keys[12:] if int(k) in kinds)
    assert not with_winback - {int(k) for k in keys[:6]}


def test_build_is_idempotent_and_rebuild_replaces(engine, chain) -> None:  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        first = build_lists(s, PERIOD, model_for(chain), SETTINGS)
    with session_scope(engine) as s:
        snapshot = sorted(s.execute(select(ShoppingList.id, ShoppingList.list_number, ShoppingList.member_key)).all())
        n_lines = s.execute(select(func.count()).select_from(ShoppingListLine)).scalar_one()
    with session_scope(engine) as s:
        again = build_lists(s, PERIOD, model_for(chain), SETTINGS)
    assert not again.created and again.build_id == first.build_id
    with session_scope(engine) as s:
        assert sorted(s.execute(select(ShoppingList.id, ShoppingList.list_number, ShoppingList.member_key)).all()) == snapshot
        assert s.execute(select(func.count()).select_from(ShoppingListLine)).scalar_one() == n_lines
    with session_scope(engine) as s:
        rebuilt = build_lists(s, PERIOD, model_for(chain), SETTINGS, rebuild=True)
    assert rebuilt.created and rebuilt.build_id != first.build_id
    with session_scope(engine) as s:
        statuses = dict(s.execute(select(ListBuild.id, ListBuild.status)).all())
        assert statuses == {first.build_id: "replaced", rebuilt.build_id: "complete"}
        active = s.execute(select(ShoppingList.member_key).where(ShoppingList.status == "active")).scalars().all()
        assert sorted(active) == sorted(k for _, _, k in snapshot)
        # one redemption on the new lists and a rebuild is refused
        line_id = s.execute(select(ShoppingListLine.id).join(ShoppingList)
                            .where(ShoppingList.status == "active")).scalars().first()
        s.execute(update(ShoppingListLine).where(ShoppingListLine.id == line_id).values(redeemed_count=1))
    with session_scope(engine) as s, pytest.raises(BuildError, match="redeemed"):
        build_lists(s, PERIOD, model_for(chain), SETTINGS, rebuild=True)


def test_member_holdout_is_recorded_and_replayed(engine, chain) -> None:  # type: ignore[no-untyped-def]
    settings = ListSettings(holdout_share=0.3)
    with session_scope(engine) as s:
        result = build_lists(s, PERIOD, model_for(chain), settings)
        held = sorted(s.execute(select(ListHoldout.member_key).where(ListHoldout.offer_id.is_(None))).scalars())
        listed = set(s.execute(select(ShoppingList.member_key)).scalars())
        seed = s.get(ListBuild, result.build_id).holdout_seed
    assert held and not set(held) & listed
    assert result.counts["held_out"] == len(held)
    with session_scope(engine) as s:
        again = build_lists(s, PERIOD, model_for(chain), settings, rebuild=True)
        held2 = sorted(s.execute(select(ListHoldout.member_key)
                                 .where(ListHoldout.offer_id.is_(None), ListHoldout.build_id == again.build_id)).scalars())
        assert s.get(ListBuild, again.build_id).holdout_seed == seed
    assert held2 == held


def test_budget_already_promised_to_live_lists_paces_the_next_cohort(engine, chain) -> None:  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        s.execute(update(Offer).where(Offer.slug == "tylenol-save").values(budget_cents=1000))
    with session_scope(engine) as s:
        build_lists(s, PERIOD, model_for(chain), SETTINGS, cohort="A")
        build_lists(s, PERIOD + timedelta(days=7), model_for(chain), SETTINGS, cohort="B")
    with session_scope(engine) as s:
        offer = s.execute(select(Offer).where(Offer.slug == "tylenol-save")).scalar_one()
        expected = s.execute(
            select(func.sum(ShoppingListLine.probability * ShoppingListLine.face_value_cents))
            .where(ShoppingListLine.offer_id == offer.id)
        ).scalar_one()
        builds = s.execute(select(ListBuild).order_by(ListBuild.id)).scalars().all()
    assert expected <= 1000 + 1e-6
    assert offer.id in builds[1].counts["budget_limited_offers"]


def test_content_lines_and_expiry(engine, chain) -> None:  # type: ignore[no-untyped-def]
    n = chain.member_keys.shape[0]
    value_tier = np.arange(n, dtype=np.int8) % 5
    with session_scope(engine) as s:
        build_lists(s, PERIOD, model_for(chain, value_tier=value_tier), SETTINGS)
    with session_scope(engine) as s:
        rows = s.execute(select(ShoppingList.member_key, ShoppingListContent.title).join(ShoppingListContent)).all()
        caps = dict(s.execute(select(ShoppingList.value_tier, ShoppingList.face_cap_cents)).all())
    pos = {int(k): i for i, k in enumerate(chain.member_keys)}
    express = {k for k, t in rows if t == "Express lane"}
    assert express and all(value_tier[pos[k]] >= 3 for k in express)
    assert {t for _, t in rows} == {"Chicken soup", "Express lane"}
    assert caps[4] == 4000 and caps[0] == 1000
    with session_scope(engine) as s:
        assert expire_lists(s, PERIOD + timedelta(days=13)) == 0
        assert expire_lists(s, PERIOD + timedelta(days=14)) > 0
        assert not s.execute(select(ShoppingList).where(ShoppingList.status == "active")).scalars().first()


def test_as_of_after_the_period_is_refused(engine, chain) -> None:  # type: ignore[no-untyped-def]
    with session_scope(engine) as s, pytest.raises(BuildError, match="after the period start"):
        build_lists(s, PERIOD, model_for(chain), SETTINGS, as_of=PERIOD + timedelta(days=1))
