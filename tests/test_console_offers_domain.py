"""The console's offer workflow and read models without the web layer: the wizard's form checked
with the offer files' rules, drafts, the stored forecast, maker-checker approval, the segment
grid aggregate, members at risk and the dashboard's figures."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from console_chain import AS_OF, chain, chain_dir, national_brand  # noqa: F401  (fixtures)
from loyalty_engine.analytics.at_risk import members_at_risk, risk_reasons
from loyalty_engine.analytics.dashboard import dashboard
from loyalty_engine.analytics.segment_cells import segment_categories, segment_grid, store_segment_cells
from loyalty_engine.analytics.segment_moves import category_moves, store_segment_moves
from loyalty_engine.db import session_scope
from loyalty_engine.model.params import ModelParams
from loyalty_engine.models.analytics import SegmentCell, SegmentMove
from loyalty_engine.models.model_state import MemberProfile
from loyalty_engine.models.offers import Offer
from loyalty_engine.offers.overview import offer_categories, offer_rows
from loyalty_engine.offers.forecast import forecast_offer
from loyalty_engine.offers.service import OfferError
from loyalty_engine.offers.definition import DefinitionError
from loyalty_engine.offers.wizard import catalog_errors, form_from_definition, search_scope, validate_form
from loyalty_engine.offers.workflow import (
    approval_queue,
    approve_offer,
    forecast_is_current,
    latest_forecast,
    pause,
    return_to_draft,
    save_draft,
    store_forecast,
    submit_offer,
)
from loyalty_engine.shopping_lists.model_source import load_or_fit, model_provider
from loyalty_engine.shopping_lists.settings import ListSettings

NOW = datetime(2026, 4, 20, 9, 0, tzinfo=timezone.utc)


def _form(brand: str, maker: str, **changes: str) -> dict[str, str]:
    form = {
        "slug": "coffee-trial", "name": "Coffee trial", "description": "Any of the brand's coffee",
        "funder": "manufacturer", "manufacturer": maker, "scope_kind": "brand", "scope_values": brand,
        "within_category": "Coffee", "benefit_kind": "amount_off", "benefit_low": "0.50", "benefit_medium": "0.75",
        "benefit_high": "1.00", "min_quantity": "1", "limit": "1", "share": "100", "handling_fee": "0.08",
        "budget": "500", "valid_from": AS_OF.isoformat(), "valid_to": (AS_OF + timedelta(weeks=8)).isoformat(),
        "holdout_share": "10", "match_on": "scope",
    }
    form.update(changes)
    return form


def test_wizard_messages_sit_beside_their_fields() -> None:
    result = validate_form(_form("X", "M1", slug="bad slug", benefit_low="2", share="120", valid_to="2020-01-01",
                                 holdout_share="ten", scope_values=""), {"cells": ["national:huge"]})
    assert result.definition is None
    assert set(result.errors) == {"slug", "benefit_low", "share", "valid_to", "holdout_share", "scope_values", "cells"}
    assert "richer" in result.errors["benefit_low"][0] and "between 0 and 100" in result.errors["share"][0]
    ok = validate_form(_form("X", "M1"), {"cells": ["national", "switcher:high"], "stages": ["declining"]})
    assert ok.errors == {} and ok.definition is not None
    assert ok.definition.targeting.cells == ["national:low", "national:medium", "national:high", "switcher:high"]
    assert ok.definition.holdout_share == pytest.approx(0.10)
    assert ok.definition.funding.handling_fee_cents == 8 and ok.definition.funding.budget_cents == 50_000
    # a retailer-funded offer naming a manufacturer is refused beside the manufacturer field
    assert "manufacturer" in validate_form(_form("X", "M1", funder="retailer"), {}).errors
    assert catalog_errors(DefinitionError("s", ["budget $0.10 is below one redemption"])) == {
        "budget": ["budget $0.10 is below one redemption"]}
    assert "scope_values" in catalog_errors(OfferError("scope brand = ['Nope'] matches no product"))


def test_editing_in_the_wizard_keeps_the_exclusion_group() -> None:
    """An offer file's exclusion group survives a round trip through the wizard's fields, and a
    bad one is shown beside its field."""
    ok = validate_form(_form("X", "M1", exclusion_group="Coffee  Pods"), {})
    assert ok.errors == {} and ok.definition is not None and ok.definition.exclusion_group == "coffee pods"
    form, lists = form_from_definition(ok.definition.model_dump(mode="json", by_alias=True))
    assert form["exclusion_group"] == "coffee pods"
    again = validate_form(form, lists)
    assert again.errors == {} and again.definition is not None and again.definition.exclusion_group == "coffee pods"
    assert validate_form(_form("X", "M1", exclusion_group="x" * 101), {}).errors.keys() == {"exclusion_group"}


def test_offer_from_wizard_to_approval(chain, engine, config) -> None:  # type: ignore[no-untyped-def]
    brand, maker, _price = national_brand(engine)
    settings = ListSettings.from_config(config)
    with session_scope(engine) as s:
        matches = search_scope(s, "brand", brand[:4])
        assert brand in [m.value for m in matches] and all(m.products > 0 for m in matches)
        assert search_scope(s, "subcategory", "zzz-none") == []
        # the catalog's rules: a budget below one redemption is refused, beside the budget
        tiny = validate_form(_form(brand, maker, budget="0.10"), {}).definition
        with pytest.raises(DefinitionError) as refused:
            save_draft(s, tiny, AS_OF)
        assert "budget" in catalog_errors(refused.value)
    with session_scope(engine) as s:
        definition = validate_form(_form(brand, maker), {"cells": ["national", "switcher"]}).definition
        offer, created = save_draft(s, definition, AS_OF)
        assert created and offer.status == "draft" and offer.target_cells and offer.holdout_share == pytest.approx(0.1)
        form, lists = form_from_definition(offer.definition)
        assert validate_form(form, lists).definition == definition  # the wizard reopens what it saved
        with pytest.raises(OfferError, match="forecast"):
            submit_offer(s, offer, "carla", NOW, approval_required=True)
        forecast = forecast_offer(s, offer, AS_OF, model_provider(engine, config), settings, AS_OF)
        store_forecast(s, offer, forecast, "carla", NOW)
        assert forecast_is_current(latest_forecast(s, offer), offer)
        assert forecast.total.targeted > 0
        step = submit_offer(s, offer, "carla", NOW, approval_required=True)
        assert (step.before["status"], step.after["status"]) == ("draft", "submitted")
        assert [o.id for o in approval_queue(s)] == [offer.id]
        with pytest.raises(OfferError, match="another approver"):
            approve_offer(s, offer, "carla", NOW)
        back = return_to_draft(s, offer, "aaron", "budget too high")
        assert offer.status == "draft" and back.after["reason"] == "budget too high"
        # editing changes the definition: the old forecast no longer counts
        edited = validate_form(_form(brand, maker, budget="400"), {}).definition
        save_draft(s, edited, AS_OF)
        assert not forecast_is_current(latest_forecast(s, offer), offer)
        store_forecast(s, offer, forecast_offer(s, offer, AS_OF, model_provider(engine, config), settings, AS_OF),
                       "carla", NOW)
        submit_offer(s, offer, "carla", NOW, approval_required=True)
        approved = approve_offer(s, offer, "aaron", NOW)
        assert offer.status == "active" and offer.approved_by == "aaron" and approved.after["status"] == "active"
        pause(s, offer)
        assert offer.status == "paused"
        # approval off (small chains): submitting activates at once
        submit_offer(s, offer, "carla", NOW, approval_required=False)
        assert offer.status == "active" and offer.approved_by is None


def test_stored_aggregates_segments_risk_dashboard(chain, engine, config) -> None:  # type: ignore[no-untyped-def]
    _segment_grid_and_its_movement(engine, config)
    _moves_between_cells(engine, config)
    _members_at_risk_say_why(engine)
    _dashboard_and_offer_list(chain, engine)


def _segment_grid_and_its_movement(engine, config) -> None:  # type: ignore[no-untyped-def]
    state, _ = load_or_fit(engine, config, AS_OF)
    with session_scope(engine) as s:
        categories = segment_categories(s)
        assert categories and categories[0][1] >= categories[-1][1]
        name = categories[0][0]
        grid = segment_grid(s, name)
        code = int(np.flatnonzero(state.category_names == name)[0])
        rows = state.segments.rows_for_category(code)
        segmented = rows[state.segments.brand_loyalty[rows] >= 0]
        assert grid.as_of == AS_OF and grid.previous_as_of is None
        assert grid.segmented_members == segmented.shape[0]
        assert sum(c.spend_cents for c in grid.cells.values()) == int(state.segments.spend_cents[rows].sum())
        assert all(c.movement is None for c in grid.cells.values())
        # later runs: the page compares with the newest run a list period (14 days) older
        for days in (7, 15, 16):
            store_segment_cells(s, state.segments, state.category_names, AS_OF + timedelta(days=days))
        moved = segment_grid(s, name, compare_days=14)
        assert (moved.as_of, moved.previous_as_of) == (AS_OF + timedelta(days=16), AS_OF)
        assert segment_grid(s, name, compare_days=5).previous_as_of == AS_OF + timedelta(days=7)
        assert segment_grid(s, name, compare_days=60).previous_as_of == AS_OF  # none that old: the oldest
        assert all(c.movement == 0 for c in moved.cells.values())
        # a run far later drops the runs beyond the kept window
        store_segment_cells(s, state.segments, state.category_names, AS_OF + timedelta(days=100))
        kept = s.execute(select(SegmentCell.as_of).distinct()).scalars().all()
        assert sorted(kept) == [AS_OF + timedelta(days=d) for d in (7, 15, 16, 100)]


def _moves_between_cells(engine, config) -> None:  # type: ignore[no-untyped-def]
    state, _ = load_or_fit(engine, config, AS_OF)
    directory = Path(config.instance_path) / "segments"
    assert (directory / f"segments-{AS_OF.isoformat()}.npz").is_file()  # the lifecycle job's snapshot
    seg = state.segments
    rows = np.flatnonzero(seg.brand_loyalty >= 0)[:5]
    loyalty = seg.brand_loyalty.copy()
    loyalty[rows] = (loyalty[rows] + 1) % 3  # five (member, category) pairs change brand loyalty
    keep = np.ones(len(seg), dtype=bool)
    keep[np.flatnonzero(seg.brand_loyalty < 0)[:3]] = False  # three pairs stop buying
    later = dataclasses.replace(seg, brand_loyalty=loyalty)
    later = dataclasses.replace(later, **{f: getattr(later, f)[keep] for f in (
        "member", "category", "brand_loyalty", "usage_tier", "units", "spend_cents", "purchase_days",
        "store_brand_share", "interval_days")})
    run = AS_OF + timedelta(days=15)
    with session_scope(engine) as s:
        written = store_segment_moves(s, directory, run, state.member_key, later, state.category_names, 14)
        moves = s.execute(select(SegmentMove).where(SegmentMove.as_of == run)).scalars().all()
        assert written == len(moves) > 0 and {m.since for m in moves} == {AS_OF}
        assert sum(m.members for m in moves) == len(seg)  # every pair of either run, once
        changed = [m for m in moves if m.from_cell != m.to_cell]
        assert sum(m.members for m in changed if m.to_cell != "none") == 5
        assert sum(m.members for m in changed if m.to_cell == "none") == 3
        assert all(m.from_cell == "unsegmented" for m in changed if m.to_cell == "none")
        category = str(state.category_names[seg.category[rows[0]]])
        since, shown = category_moves(s, category, run)
        assert since == AS_OF and shown and all(m.from_cell != m.to_cell for m in shown)


def _members_at_risk_say_why(engine) -> None:  # type: ignore[no-untyped-def]
    params = ModelParams()
    with session_scope(engine) as s:
        page = members_at_risk(s, params, tiers=("gold", "silver", "bronze"))
        stored = s.execute(select(func.count()).select_from(MemberProfile)
                           .where(MemberProfile.lifecycle_stage.in_(("declining", "lapsed")))).scalar_one()
        assert sum(page.counts.values()) == stored > 0
        assert page.members and all(m.reasons for m in page.members)
        assert [m.clv_cents for m in page.members] == sorted((m.clv_cents for m in page.members), reverse=True)
    # neither the trip rate nor p_alive explains a decline: the spend rule does
    assert risk_reasons("declining", 1.0, 1.1, 0.9, 16, params) == [
        "spend over the last 8 weeks below 50% of the member's norm", "no trip for 16 days"]
    reasons = risk_reasons("declining", 0.2, 1.0, 0.9, 20, params)
    assert reasons == ["trips fell to 0.20 a week from a usual 1.00 (80% fewer)", "no trip for 20 days"]
    assert risk_reasons("lapsed", 0.0, None, 0.3, 90, params) == [
        "chance still shopping here 30%, below 50%", "no trip for 90 days"]


def _dashboard_and_offer_list(chain, engine) -> None:  # type: ignore[no-untyped-def]
    chain("offers", "seed-demo", "--start", AS_OF.isoformat(), "--weeks", "8")
    chain("lists", "build", "--period-start", AS_OF.isoformat(), "--as-of", AS_OF.isoformat())
    with session_scope(engine) as s:
        board = dashboard(s, AS_OF + timedelta(days=2))
        assert board.lists_delivered > 0 and board.lines_delivered >= board.lists_delivered
        assert board.redemptions_in_periods == 0 and board.redemption_rate == 0
        assert board.burn.offers > 0 and board.burn.spent_cents == 0
        assert len(board.days) == 56 and board.members_lapsing >= 0
        # the offers list: pages, and a category manager's own categories
        every = s.execute(select(func.count()).select_from(Offer)).scalar_one()
        first, total = offer_rows(s, page_size=5)
        second, _ = offer_rows(s, page=2, page_size=5)
        assert total == every > 10 and len(first) == len(second) == 5
        assert not {r.id for r in first} & {r.id for r in second}
        mine, n_mine = offer_rows(s, within=frozenset({"Coffee"}))
        categories = offer_categories(s, [r.id for r in offer_rows(s, page_size=1000)[0]])
        assert n_mine == sum(1 for c in categories.values() if c and c <= {"Coffee"}) > 0
        assert all(r.categories <= {"Coffee"} for r in mine)
