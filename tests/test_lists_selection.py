"""The pure list selection: hand-built arrays in, chosen lines out."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty_engine.shopping_lists.selection import (
    ALL_CELLS,
    ALL_STAGES,
    MemberArrays,
    OfferArrays,
    SelectionParams,
    select_lines,
    uniform_hash,
)

NATIONAL, STORE, SWITCHER = 0, 1, 2
LOW, MEDIUM, HIGH = 0, 1, 2


def cell_bit(loyalty: int, tier: int) -> int:
    return 1 << (loyalty * 3 + tier)


def make_offers(n: int, **overrides: object) -> OfferArrays:
    base: dict[str, object] = dict(
        offer_id=np.arange(1, n + 1, dtype=np.int64),
        segment_category=np.zeros(n, dtype=np.int32),
        cell_mask=np.full(n, ALL_CELLS, dtype=np.int64),
        stage_mask=np.full(n, ALL_STAGES, dtype=np.int64),
        min_probability=np.zeros(n),
        face_by_tier=np.tile(np.array([100, 150, 250], dtype=np.int64), (n, 1)),
        funded_share_bp=np.full(n, 10_000, dtype=np.int64),
        handling_fee_cents=np.full(n, 8, dtype=np.int64),
        sale_value_cents=np.full(n, 500, dtype=np.int64),
        remaining_budget_cents=np.full(n, np.inf),
        remaining_redemptions=np.full(n, np.inf),
        scope_group=np.arange(n, dtype=np.int64),
        holdout_share=np.zeros(n),
    )
    base.update(overrides)
    return OfferArrays(**base)  # type: ignore[arg-type]


def make_members(n: int, n_categories: int = 1, **overrides: object) -> MemberArrays:
    base: dict[str, object] = dict(
        member_key=np.arange(1, n + 1, dtype=np.int64),
        brand_loyalty=np.zeros((n, n_categories), dtype=np.int8),
        usage_tier=np.zeros((n, n_categories), dtype=np.int8),
        lifecycle_stage=np.full(n, 2, dtype=np.int8),
        face_cap_cents=np.full(n, 10_000, dtype=np.int64),
    )
    base.update(overrides)
    return MemberArrays(**base)  # type: ignore[arg-type]


def lines_of(selection, member: int) -> list[int]:  # type: ignore[no-untyped-def]
    return selection.offer[selection.member == member].tolist()


def test_benefit_follows_usage_tier_and_heavy_users_rank_first() -> None:
    members = make_members(
        4,
        brand_loyalty=np.array([[NATIONAL], [NATIONAL], [NATIONAL], [-1]], dtype=np.int8),
        usage_tier=np.array([[LOW], [MEDIUM], [HIGH], [-1]], dtype=np.int8),
    )
    offers = make_offers(1)
    probs = sp.csr_matrix(np.full((4, 1), 0.5))
    sel = select_lines(probs, members, offers)
    face = dict(zip(sel.member.tolist(), sel.face_cents.tolist()))
    assert face == {0: 100, 1: 150, 2: 250, 3: 100}  # unsegmented gets the low tier's benefit
    ev = dict(zip(sel.member.tolist(), sel.expected_value_cents.tolist()))
    assert ev[2] > ev[1] > ev[0] == ev[3]
    assert sel.usage_tier[sel.member == 3][0] == -1


def test_targeting_by_cell_and_stage() -> None:
    members = make_members(
        3,
        brand_loyalty=np.array([[NATIONAL], [STORE], [NATIONAL]], dtype=np.int8),
        usage_tier=np.array([[HIGH], [HIGH], [LOW]], dtype=np.int8),
        lifecycle_stage=np.array([2, 2, 4], dtype=np.int8),  # established, established, lapsed
    )
    trial = cell_bit(NATIONAL, HIGH) | cell_bit(NATIONAL, MEDIUM)
    winback = ALL_CELLS
    offers = make_offers(
        2,
        cell_mask=np.array([trial, winback], dtype=np.int64),
        stage_mask=np.array([ALL_STAGES, (1 << 3) | (1 << 4)], dtype=np.int64),
    )
    sel = select_lines(sp.csr_matrix(np.full((3, 2), 0.4)), members, offers)
    assert lines_of(sel, 0) == [0]  # national heavy user: trial only (not lapsing)
    assert lines_of(sel, 1) == []  # store-brand buyer: neither
    assert lines_of(sel, 2) == [1]  # lapsed national light user: win-back only


def test_min_probability_and_offer_segment_category() -> None:
    # two segment categories; the offer targets category 1, where member 0 is a store buyer
    members = make_members(
        2, n_categories=2,
        brand_loyalty=np.array([[NATIONAL, STORE], [NATIONAL, NATIONAL]], dtype=np.int8),
    )
    offers = make_offers(
        1, segment_category=np.array([1], dtype=np.int32),
        cell_mask=np.array([cell_bit(NATIONAL, LOW)], dtype=np.int64),
        min_probability=np.array([0.3]),
    )
    sel = select_lines(sp.csr_matrix(np.array([[0.9], [0.2]])), members, offers)
    assert len(sel) == 0  # member 0 is in the wrong cell, member 1 is below the minimum
    sel = select_lines(sp.csr_matrix(np.array([[0.9], [0.35]])), members, offers)
    assert sel.member.tolist() == [1]


def test_face_value_cap_skips_a_line_that_does_not_fit_but_takes_smaller_ones() -> None:
    members = make_members(1, face_cap_cents=np.array([500], dtype=np.int64))
    faces = np.array([[300, 300, 300], [400, 400, 400], [150, 150, 150], [60, 60, 60]], dtype=np.int64)
    offers = make_offers(4, face_by_tier=faces, sale_value_cents=np.array([900, 800, 700, 600]))
    sel = select_lines(sp.csr_matrix(np.full((1, 4), 0.5)), members, offers)
    assert sel.offer.tolist() == [0, 2]  # 300 + 150; the 400 does not fit; 60 would exceed too
    assert sel.face_cents.sum() <= 500


def test_max_lines_and_one_offer_per_scope_group_unless_stackable() -> None:
    members = make_members(1)
    offers = make_offers(
        5,
        scope_group=np.array([0, 0, -1, 1, 2], dtype=np.int64),
        sale_value_cents=np.array([900, 800, 700, 600, 500]),
    )
    probs = sp.csr_matrix(np.full((1, 5), 0.5))
    sel = select_lines(probs, members, offers)
    assert sel.offer.tolist() == [0, 2, 3, 4]  # offer 1 shares offer 0's scope; 2 is stackable
    sel = select_lines(probs, members, offers, SelectionParams(max_lines=2))
    assert sel.offer.tolist() == [0, 2]


def test_small_budget_goes_to_the_highest_value_matches() -> None:
    n = 10
    members = make_members(
        n,
        brand_loyalty=np.zeros((n, 1), dtype=np.int8),
        usage_tier=np.array([[t] for t in [0, 1, 2, 0, 1, 2, 0, 1, 2, 2]], dtype=np.int8),
    )
    probs = np.linspace(0.2, 0.65, n).reshape(n, 1)
    # funded cost = p * face (100% funded); budget for about three matches
    offers = make_offers(1, remaining_budget_cents=np.array([300.0]))
    sel = select_lines(sp.csr_matrix(probs), members, offers)
    assert sel.budget_limited[0]
    assert sel.expected_funded_cents.sum() <= 300.0
    ev_all = probs[:, 0] * 500 * np.array([1.0, 1.5, 2.5])[members.usage_tier[:, 0]]
    chosen = set(sel.member.tolist())
    # every chosen member is richer than every member left out
    assert min(ev_all[list(chosen)]) > max(ev_all[[m for m in range(n) if m not in chosen]])


def test_a_member_who_loses_a_line_to_the_budget_gets_the_next_best_offer() -> None:
    members = make_members(2, face_cap_cents=np.array([250, 250], dtype=np.int64))
    faces = np.array([[200, 200, 200], [200, 200, 200]], dtype=np.int64)
    offers = make_offers(
        2, face_by_tier=faces, sale_value_cents=np.array([900, 100]),
        remaining_budget_cents=np.array([100.0, np.inf]),
    )
    probs = sp.csr_matrix(np.array([[0.5, 0.5], [0.4, 0.5]]))
    sel = select_lines(probs, members, offers)
    assert lines_of(sel, 0) == [0]
    assert lines_of(sel, 1) == [1]  # offer 0's budget ran out; the cap had kept offer 1 out
    assert sel.rounds == 2


def test_redemption_cap_paces_like_a_budget() -> None:
    members = make_members(5)
    offers = make_offers(1, remaining_redemptions=np.array([1.0]))
    sel = select_lines(sp.csr_matrix(np.full((5, 1), 0.3)), members, offers)
    assert len(sel) == 3 and sel.probability.sum() <= 1.0


def test_offer_holdouts_are_deterministic_and_recorded() -> None:
    n = 2000
    members = make_members(n)
    offers = make_offers(1, holdout_share=np.array([0.1]))
    probs = sp.csr_matrix(np.full((n, 1), 0.5))
    a = select_lines(probs, members, offers, SelectionParams(holdout_seed=7))
    b = select_lines(probs, members, offers, SelectionParams(holdout_seed=7))
    c = select_lines(probs, members, offers, SelectionParams(holdout_seed=8))
    assert np.array_equal(a.holdout_member, b.holdout_member)
    assert not np.array_equal(a.holdout_member, c.holdout_member)
    assert 140 < len(a.holdout_member) < 260
    assert len(a) + len(a.holdout_member) == n
    assert not set(a.holdout_member.tolist()) & set(a.member.tolist())


def test_chunked_scoring_and_pruning_choose_the_same_lines() -> None:
    rng = np.random.default_rng(5)
    n, k = 300, 40
    probs = sp.random(n, k, density=0.5, random_state=6, format="csr")
    members = make_members(n, usage_tier=rng.integers(-1, 3, (n, 1)).astype(np.int8),
                           face_cap_cents=rng.integers(200, 2000, n))
    offers = make_offers(k, scope_group=rng.integers(-1, 12, k), sale_value_cents=rng.integers(100, 900, k),
                         remaining_budget_cents=rng.choice([np.inf, 500.0, 2000.0], k))
    whole = select_lines(probs, members, offers, SelectionParams(max_lines=6))
    chunked = select_lines(lambda a, b: probs[a:b], members, offers,
                           SelectionParams(max_lines=6, chunk_members=37))
    assert np.array_equal(whole.member, chunked.member) and np.array_equal(whole.offer, chunked.offer)
    assert whole.stats["candidates"] == chunked.stats["candidates"]
    shallow = select_lines(probs, members, offers, SelectionParams(max_lines=6, candidate_depth=8))
    assert shallow.stats["pool"] < whole.stats["pool"]
    assert np.all(np.bincount(shallow.member, minlength=n) <= 6)


def test_uniform_hash_is_uniform_enough() -> None:
    u = uniform_hash(3, np.arange(100_000))
    assert 0 <= u.min() and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.01
    assert abs((u < 0.05).mean() - 0.05) < 0.005


@st.composite
def instances(draw: st.DrawFn, binding: bool):  # type: ignore[no-untyped-def]
    n_members = draw(st.integers(1, 25))
    n_offers = draw(st.integers(1, 8))
    probs = np.array(
        draw(st.lists(st.sampled_from([0.0, 0.05, 0.1, 0.3, 0.5, 0.7, 0.9, 0.97]),
                      min_size=n_members * n_offers, max_size=n_members * n_offers))
    ).reshape(n_members, n_offers)
    tiers = np.array(draw(st.lists(st.integers(-1, 2), min_size=n_members, max_size=n_members)), dtype=np.int8)
    loyalty = np.where(tiers >= 0, 0, -1).astype(np.int8)
    faces = np.array(draw(st.lists(st.integers(10, 400), min_size=n_offers * 3, max_size=n_offers * 3)),
                     dtype=np.int64).reshape(n_offers, 3)
    faces.sort(axis=1)
    budgets = np.array(draw(st.lists(st.one_of(st.just(np.inf), st.floats(0, 2000)),
                                     min_size=n_offers, max_size=n_offers)))
    shares = np.array(draw(st.lists(st.integers(0, 10_000), min_size=n_offers, max_size=n_offers)))
    sale = np.array(draw(st.lists(st.integers(50, 2000), min_size=n_offers, max_size=n_offers)))
    if binding:
        caps = np.array(draw(st.lists(st.integers(0, 800), min_size=n_members, max_size=n_members)), dtype=np.int64)
        groups = np.array(draw(st.lists(st.integers(-1, 3), min_size=n_offers, max_size=n_offers)), dtype=np.int64)
        max_lines = draw(st.integers(1, 4))
    else:
        caps = np.full(n_members, 10**9, dtype=np.int64)
        groups = np.arange(n_offers, dtype=np.int64)
        max_lines = n_offers
    members = make_members(n_members, brand_loyalty=loyalty[:, None], usage_tier=tiers[:, None],
                           face_cap_cents=caps)
    offers = make_offers(n_offers, face_by_tier=faces, remaining_budget_cents=budgets,
                         funded_share_bp=shares, sale_value_cents=sale, scope_group=groups)
    return probs, members, offers, SelectionParams(max_lines=max_lines)


@settings(max_examples=150, deadline=None)
@given(instances(binding=False))
def test_property_budget_goes_to_the_richest_prefix_and_is_never_exceeded(case) -> None:  # type: ignore[no-untyped-def]
    probs, members, offers, params = case
    sel = select_lines(sp.csr_matrix(probs), members, offers, params)
    spent = sel.expected_funded_by_offer(len(offers))
    assert np.all(spent <= offers.remaining_budget_cents * (1 + 1e-9) + 1e-9)
    weights = np.array(params.tier_weights)[members.usage_tier[:, 0].astype(int) + 1]
    tier_idx = np.maximum(members.usage_tier[:, 0], 0)
    for o in range(len(offers)):
        cand = np.flatnonzero(probs[:, o] > 0)
        ev = probs[cand, o] * offers.sale_value_cents[o] * weights[cand]
        cost = probs[cand, o] * offers.face_by_tier[o, tier_idx[cand]] * offers.funded_share_bp[o] / 10_000
        order = np.lexsort((cand, -ev))
        fits = np.cumsum(cost[order]) <= offers.remaining_budget_cents[o] * (1 + 1e-12)
        k = int(np.argmin(fits)) if not fits.all() else len(order)
        expected = set(cand[order[:k]].tolist())
        assert set(sel.member[sel.offer == o].tolist()) == expected


@settings(max_examples=150, deadline=None)
@given(instances(binding=True))
def test_property_lists_respect_cap_lines_scopes_and_budgets(case) -> None:  # type: ignore[no-untyped-def]
    probs, members, offers, params = case
    sel = select_lines(sp.csr_matrix(probs), members, offers, params)
    spent = sel.expected_funded_by_offer(len(offers))
    assert np.all(spent <= offers.remaining_budget_cents * (1 + 1e-9) + 1e-9)
    face = np.bincount(sel.member, weights=sel.face_cents, minlength=len(members))
    assert np.all(face <= members.face_cap_cents)
    assert np.all(np.bincount(sel.member, minlength=len(members)) <= params.max_lines)
    groups = offers.scope_group[sel.offer]
    pairs = [(m, g) for m, g in zip(sel.member.tolist(), groups.tolist()) if g >= 0]
    assert len(pairs) == len(set(pairs))
    assert len(set(zip(sel.member.tolist(), sel.offer.tolist()))) == len(sel)
    assert np.all(probs[sel.member, sel.offer] > 0)
