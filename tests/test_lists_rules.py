"""The case's list rules in selection: exclusion groups (a store-brand trial never beside a
national coupon of its category) and face-value targets per value tier."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty_engine.shopping_lists.selection import SHORTFALL_REASONS, SelectionParams, select_lines
from test_lists_selection import make_members, make_offers

NATIONAL_SIDE, STORE_SIDE = 0, 1


def reason(sel, member: int) -> str | None:  # type: ignore[no-untyped-def]
    code = int(sel.shortfall[member])
    return None if code < 0 else SHORTFALL_REASONS[code]


def test_richer_side_of_an_exclusion_group_wins_per_member() -> None:
    # offer 0: store-brand trial, offer 1: national coupon, same group; offer 2 outside it
    offers = make_offers(3, exclusion_group=np.array([0, 0, -1]), exclusion_side=np.array([1, 0, -1], dtype=np.int8))
    members = make_members(2)
    probs = sp.csr_matrix(np.array([[0.9, 0.2, 0.5], [0.1, 0.8, 0.5]]))
    sel = select_lines(probs, members, offers)
    chosen = {m: sorted(sel.offer[sel.member == m].tolist()) for m in range(2)}
    assert chosen == {0: [0, 2], 1: [1, 2]}
    # the same offers with no exclusion groups share lists
    plain = select_lines(probs, members, make_offers(3))
    assert sorted(plain.offer[plain.member == 0].tolist()) == [0, 1, 2]


def test_offers_on_the_same_side_of_a_group_share_a_list() -> None:
    offers = make_offers(3, exclusion_group=np.array([0, 0, 0]), exclusion_side=np.array([0, 0, 1], dtype=np.int8))
    sel = select_lines(sp.csr_matrix(np.array([[0.9, 0.8, 0.3]])), make_members(1), offers)
    assert sorted(sel.offer.tolist()) == [0, 1]


def test_target_takes_stretch_offers_only_while_below_it() -> None:
    # offer 0 is likely enough for anyone; offers 1 and 2 are below their minimum probability
    offers = make_offers(3, min_probability=np.array([0.1, 0.5, 0.5]),
                         face_by_tier=np.array([[300] * 3, [400] * 3, [500] * 3], dtype=np.int64))
    probs = sp.csr_matrix(np.array([[0.9, 0.3, 0.2]] * 3))
    members = make_members(3, face_target_cents=np.array([0, 600, 5000]))
    sel = select_lines(probs, members, offers, SelectionParams(target_min_probability=0.05))
    assert sel.offer[sel.member == 0].tolist() == [0]  # no target: regular offers only
    assert sel.offer[sel.member == 1].tolist() == [0, 1]  # $3 + $4 reaches $6; offer 2 is not needed
    assert sorted(sel.offer[sel.member == 2].tolist()) == [0, 1, 2]
    assert reason(sel, 0) is None and reason(sel, 1) is None
    assert reason(sel, 2) == "not enough eligible offers"
    assert sel.face_total_cents.tolist() == [300, 700, 1200]
    # without a floor for stretch candidates the target changes nothing
    none = select_lines(probs, members, offers, SelectionParams())
    assert none.offer.tolist() == [0, 0, 0]


def test_a_list_below_its_target_may_grow_past_max_lines() -> None:
    offers = make_offers(4)
    probs = sp.csr_matrix(np.full((2, 4), 0.5))
    members = make_members(2, face_target_cents=np.array([0, 300]))
    sel = select_lines(probs, members, offers, SelectionParams(max_lines=2, target_max_lines=3))
    assert np.bincount(sel.member).tolist() == [2, 3]
    assert reason(sel, 1) is None
    capped = select_lines(probs[:1], make_members(1, face_target_cents=np.array([350])), offers,
                          SelectionParams(max_lines=2, target_max_lines=3))
    assert len(capped) == 3 and reason(capped, 0) == "line limit"


def test_shortfall_names_exclusions_budget_and_holdouts() -> None:
    excl = make_offers(2, exclusion_group=np.array([0, 0]), exclusion_side=np.array([0, 1], dtype=np.int8))
    sel = select_lines(sp.csr_matrix(np.array([[0.9, 0.5]])), make_members(1, face_target_cents=np.array([200])), excl)
    assert reason(sel, 0) == "exclusions"
    budget = make_offers(2, remaining_budget_cents=np.array([0.0, np.inf]))
    sel = select_lines(sp.csr_matrix(np.array([[0.9, 0.5]])), make_members(1, face_target_cents=np.array([200])), budget)
    assert reason(sel, 0) == "budget"
    held = make_offers(2, holdout_share=np.array([0.999999, 0.0]))
    sel = select_lines(sp.csr_matrix(np.array([[0.9, 0.5]])), make_members(1, face_target_cents=np.array([200])), held)
    assert reason(sel, 0) == "offer hold-out" and sel.face_total_cents.tolist() == [100]


@st.composite
def excluding_instances(draw: st.DrawFn):  # type: ignore[no-untyped-def]
    n_members = draw(st.integers(1, 20))
    n_offers = draw(st.integers(1, 10))
    probs = np.array(draw(st.lists(st.sampled_from([0.0, 0.02, 0.05, 0.1, 0.3, 0.6, 0.9]),
                                   min_size=n_members * n_offers, max_size=n_members * n_offers)))
    ints = lambda lo, hi, n: np.array(draw(st.lists(st.integers(lo, hi), min_size=n, max_size=n)))  # noqa: E731
    faces = np.sort(ints(10, 400, n_offers * 3).reshape(n_offers, 3), axis=1).astype(np.int64)
    budgets = np.array(draw(st.lists(st.one_of(st.just(np.inf), st.floats(0, 1500)),
                                     min_size=n_offers, max_size=n_offers)))
    offers = make_offers(
        n_offers, face_by_tier=faces, remaining_budget_cents=budgets, sale_value_cents=ints(50, 2000, n_offers),
        scope_group=ints(-1, 4, n_offers), min_probability=np.array(draw(st.lists(
            st.sampled_from([0.0, 0.05, 0.2]), min_size=n_offers, max_size=n_offers))),
        holdout_share=np.array(draw(st.lists(st.sampled_from([0.0, 0.3]), min_size=n_offers, max_size=n_offers))),
        exclusion_group=ints(-1, 2, n_offers), exclusion_side=ints(-1, 1, n_offers).astype(np.int8),
    )
    tiers = ints(-1, 2, n_members).astype(np.int8)
    members = make_members(n_members, brand_loyalty=np.where(tiers >= 0, 0, -1).astype(np.int8)[:, None],
                           usage_tier=tiers[:, None], face_cap_cents=ints(0, 1500, n_members).astype(np.int64),
                           face_target_cents=ints(0, 1500, n_members).astype(np.int64))
    max_lines = draw(st.integers(1, 4))
    params = SelectionParams(max_lines=max_lines, target_max_lines=max_lines + draw(st.integers(0, 3)),
                             target_min_probability=draw(st.sampled_from([None, 0.01])))
    return probs.reshape(n_members, n_offers), members, offers, params


@settings(max_examples=200, deadline=None)
@given(excluding_instances())
def test_property_no_list_breaks_an_exclusion_cap_or_line_limit(case) -> None:  # type: ignore[no-untyped-def]
    probs, members, offers, params = case
    sel = select_lines(sp.csr_matrix(probs), members, offers, params)
    group, side = offers.exclusions()
    sides_by_member_group: dict[tuple[int, int], set[int]] = {}
    for m, o in zip(sel.member.tolist(), sel.offer.tolist()):
        if group[o] >= 0 and side[o] >= 0:
            sides_by_member_group.setdefault((m, int(group[o])), set()).add(int(side[o]))
    assert all(len(s) == 1 for s in sides_by_member_group.values()), sides_by_member_group
    spent = sel.expected_funded_by_offer(len(offers))
    assert np.all(spent <= offers.remaining_budget_cents * (1 + 1e-9) + 1e-9)
    pairs = set(zip(sel.member.tolist(), sel.offer.tolist()))
    assert len(pairs) == len(sel) and not pairs & set(zip(sel.holdout_member.tolist(), sel.holdout_offer.tolist()))
    face = np.bincount(sel.member, weights=sel.face_cents, minlength=len(members))
    assert np.all(face <= members.face_cap_cents)
    lines = np.bincount(sel.member, minlength=len(members))
    assert np.all(lines <= params.line_limit)
    # past max_lines only while the list was below its target
    target = members.targets()
    for m in np.flatnonzero(lines > params.max_lines):
        faces = sel.face_cents[sel.member == m]
        assert faces[: params.max_lines].sum() < target[m]
    assert np.all(sel.face_total_cents == np.rint(face).astype(np.int64))
    reached = sel.face_total_cents >= target
    assert np.all((sel.shortfall >= 0) == ((target > 0) & ~reached))


# --- offers and builds against the database ------------------------------------------------

import copy  # noqa: E402
import json  # noqa: E402

import pytest  # noqa: E402
from sqlalchemy import select  # noqa: E402

from loyalty_engine.db import session_scope  # noqa: E402
from loyalty_engine.models.offers import Offer  # noqa: E402
from loyalty_engine.offers.definition import DefinitionError, parse_definitions  # noqa: E402
from loyalty_engine.offers.service import save_definitions  # noqa: E402
from loyalty_engine.shopping_lists.audit import trial_conflicts  # noqa: E402
from loyalty_engine.shopping_lists.build import build_lists  # noqa: E402
from test_lists_build import OFFERS, PERIOD, SETTINGS, TODAY, model_for  # noqa: E402
from test_lists_helpers import hand_model, make_small_chain  # noqa: E402
from loyalty_engine.models.lists import ShoppingListLine  # noqa: E402


def by_slug_ids(engine, *slugs: str) -> list[int]:  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        return list(s.execute(select(Offer.id).where(Offer.slug.in_(slugs))).scalars())


def _offers(**tylenol: object) -> dict:  # type: ignore[type-arg]
    data = copy.deepcopy(OFFERS)
    data["offers"][0].pop("exclusion_group", None)  # the default
    data["offers"][0].update(tylenol)
    return data


def test_default_groups_set_a_trial_against_national_coupons_of_its_category(engine) -> None:  # type: ignore[no-untyped-def]
    make_small_chain(engine)
    with session_scope(engine) as s:
        save_definitions(s, parse_definitions(_offers()), TODAY)
    with session_scope(engine) as s:
        by_slug = {o.slug: (o.exclusion_group, o.exclusion_side) for o in s.execute(select(Offer)).scalars()}
    assert by_slug["tylenol-save"] == ("pain relievers", "national")
    assert by_slug["dicks-trial"] == ("pain relievers", "store")
    assert by_slug["purina-winback"] == ("pet food", "national")


def test_built_lists_never_carry_a_trial_beside_a_competing_national_coupon(engine) -> None:  # type: ignore[no-untyped-def]
    chain = make_small_chain(engine)
    with session_scope(engine) as s:
        save_definitions(s, parse_definitions(_offers()), TODAY)
    n = chain.member_keys.shape[0]
    # per product; half the members are likelier to buy the store brand (the trial is richer)
    probs = np.tile(np.array([0.3, 0.2, 0.05, 0.4, 0.8, 0.1]), (n, 1))
    probs[::2, :3] = [0.02, 0.02, 0.9]
    view = hand_model(chain, np.full(n, 4000), probs)
    with session_scope(engine) as s:
        build_lists(s, PERIOD, lambda as_of: view, SETTINGS)
    with session_scope(engine) as s:
        result = trial_conflicts(s)
        lines = s.execute(select(ShoppingListLine.offer_id)).scalars().all()
    offers_on_lists = {o for o in lines}
    assert len(offers_on_lists & set(by_slug_ids(engine, "tylenol-save", "dicks-trial"))) == 2  # both sides won somewhere
    assert result.lists_with_trial > 0 and result.lists_with_conflict == 0


def test_opting_out_of_the_group_lets_them_share_lists(engine) -> None:  # type: ignore[no-untyped-def]
    """The measure can fail: with no exclusion group the same build has conflicts."""
    chain = make_small_chain(engine)
    with session_scope(engine) as s:
        save_definitions(s, parse_definitions(_offers(exclusion_group="none")), TODAY)
    with session_scope(engine) as s:
        build_lists(s, PERIOD, model_for(chain), SETTINGS)
    with session_scope(engine) as s:
        result = trial_conflicts(s)
    assert result.lists_with_trial > 0 and result.lists_with_conflict == result.lists_with_trial


def test_an_explicit_group_needs_a_scope_of_one_brand_type(engine) -> None:  # type: ignore[no-untyped-def]
    make_small_chain(engine)
    data = {"slug": "all-pain", "name": "Pain relief", "funder": "retailer",
            "scope": {"category": ["PAIN RELIEVERS"]}, "benefit": {"kind": "amount_off", "value": "1.00"},
            "validity": {"from": "2027-02-01", "to": "2027-06-30"}, "exclusion_group": "Pain Relievers"}
    with pytest.raises(DefinitionError, match="needs a scope of one brand type"):
        with session_scope(engine) as s:
            save_definitions(s, parse_definitions(data), TODAY)
    with pytest.raises(DefinitionError, match="exclusion_group is empty"):
        parse_definitions({**data, "exclusion_group": "  "})
    assert parse_definitions({**data, "exclusion_group": " Pain  Relievers "}).offers[0].exclusion_group == "pain relievers"


def test_build_reports_how_often_each_tier_reached_its_target(engine) -> None:  # type: ignore[no-untyped-def]
    from loyalty_engine.cli.lists import face_target_lines

    chain = make_small_chain(engine)
    with session_scope(engine) as s:
        save_definitions(s, parse_definitions(OFFERS), TODAY)
    n = chain.member_keys.shape[0]
    settings = SETTINGS.with_overrides(face_targets_cents=(0, 500, 1000))
    with session_scope(engine) as s:
        result = build_lists(s, PERIOD, model_for(chain, value_tier=np.arange(n, dtype=np.int8) % 3), settings)
    report = result.counts["face_targets"]
    assert report and "0" not in report  # tiers without a target are not reported
    for tier in report.values():
        assert tier["reached"] + sum(tier["short"].values()) == tier["members"]
    assert sum(sum(t["short"].values()) for t in report.values()) > 0  # $10 is out of reach here
    lines = face_target_lines(report)
    assert len(lines) == len(report) and "reached by" in lines[-1] and "target $" in lines[-1]


def test_a_list_below_its_target_replaces_a_line_lost_to_an_offer_holdout() -> None:
    offers = make_offers(3, holdout_share=np.array([0.999999, 0.0, 0.0]))
    probs = sp.csr_matrix(np.array([[0.9, 0.5, 0.3]] * 2))
    members = make_members(2, face_target_cents=np.array([0, 200]))
    sel = select_lines(probs, members, offers, SelectionParams(max_lines=2))
    assert sel.offer[sel.member == 0].tolist() == [1]  # no target: the hold-out just leaves a gap
    assert sel.offer[sel.member == 1].tolist() == [1, 2]  # the next best line takes its place
    assert sorted(zip(sel.holdout_member.tolist(), sel.holdout_offer.tolist())) == [(0, 0), (1, 0)]
    assert reason(sel, 1) is None


def test_offers_show_says_what_an_offer_excludes(engine, cli) -> None:  # type: ignore[no-untyped-def]
    make_small_chain(engine)
    with session_scope(engine) as s:
        save_definitions(s, parse_definitions(_offers()), TODAY)
    assert "Exclusion group 'pain relievers' (store brands): never on a list with a national-brand offer" in \
        cli("offers", "show", "dicks-trial").output
    assert "Exclusion group 'milk' (store brands)" in cli("offers", "show", "milk").output  # store milk only
    shown = json.loads(cli("offers", "show", "tylenol-save", "--json").output)
    assert (shown["exclusion_group"], shown["exclusion_side"]) == ("pain relievers", "national")
