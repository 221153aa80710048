"""List selection on member shards, with the chain-wide budget cut as an explicit reduce step.

What is per member runs on the shards: scoring every offer scope, targeting, pruning the
candidates and the per-member rules (one offer per scope group, face-value cap, line count).
What is chain-wide runs on the client: an offer's budget and redemption cap are shared by all
members, so each round the shards send back their chosen lines (offer, expected value, funded
cost, probability), the client computes one cut per offer over all of them, and the shards
apply it (members who lost a line choose again from their own candidates). The rounds are the
same as in one process (:func:`loyalty_engine.shopping_lists.selection.select_lines`), so
the same data gives the same lines whatever the number of shards.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from ..shopping_lists.build import _Members, member_arrays, score_members, selection_params
from ..shopping_lists.model_view import ModelView
from ..shopping_lists.offer_inputs import PreparedOffers
from ..shopping_lists.candidates import (
    _Candidates, _concat, _member_order, _pruned_rows, _targeted, candidates,
)
from ..shopping_lists.selection import (
    Selection, _available_face, _budget_cut, _held_back, _holdouts_with_refill, _per_member, _shortfall,
)
from ..shopping_lists.selection_arrays import MemberArrays, OfferArrays, SelectionParams
from ..shopping_lists.settings import ListSettings
from .shards import shard_positions


@dataclass
class ShardState:
    """One shard's candidates and chosen lines (member positions local to the shard)."""

    index: np.ndarray  # the shard's members: ascending positions among the build's members
    members: MemberArrays
    offers: OfferArrays
    pool: _Candidates
    chosen: _Candidates
    candidates_per_offer: np.ndarray
    n_candidates: int
    pool_size: int
    # per shard member: face value of every usable candidate, before and after exclusion groups
    available: tuple[np.ndarray, np.ndarray]


def members_subset(members: _Members, index: np.ndarray) -> _Members:
    return _Members(*(getattr(members, f)[index] for f in _Members.__dataclass_fields__))


def shard_start(
    view: ModelView, prepared: PreparedOffers, own: _Members, index: np.ndarray,
    settings: ListSettings, seed: int, n_members_total: int,
) -> ShardState:
    """First pass on a shard: score, target and prune its members' candidates, then apply the
    per-member rules. ``own`` are the shard's members (``index``: their positions among the
    build's members), ``own.model_pos`` their positions in ``view``."""
    arrays = member_arrays(view, own)
    params = selection_params(settings, seed)
    n_offers = len(prepared)
    parts: list[_Candidates] = []
    n_candidates = 0
    per_offer = np.zeros(n_offers, dtype=np.int64)
    for start in range(0, len(index), params.chunk_members):
        stop = min(len(index), start + params.chunk_members)
        rows = score_members(view, prepared, own, settings.period_days, start, stop)
        chunk = _targeted(rows, arrays, prepared.arrays, params, first_member=start)
        n_candidates += chunk.member.shape[0]
        per_offer += np.bincount(chunk.offer, minlength=n_offers)
        # The chain-wide member count sizes the sort key, as in one process.
        order = _member_order(chunk, n_members_total, n_offers)
        parts.append(chunk.take(order[_pruned_rows(chunk.member[order], chunk.group[order], params)]))
    offers = prepared.arrays
    pool = _concat(parts) if parts else candidates(_empty_rows(n_offers), arrays, offers, params)
    n_own = len(index)
    available = _available_face(pool, offers, n_own) if (arrays.targets() > 0).any() else (
        np.zeros(n_own), np.zeros(n_own))
    chosen = _per_member(pool, arrays, offers, params)
    return ShardState(index, arrays, offers, pool, chosen, per_offer, n_candidates, int(pool.member.shape[0]),
                      available)


def member_shards(view: ModelView, members: _Members, n_shards: int) -> list[np.ndarray]:
    """The build's members split into shards (ascending positions among them): along the
    model's parts when it is saved in parts, so each shard's worker loads one part (``n_shards``
    is then the parts' count); else ``n_shards`` shards by a hash of the member key."""
    if view.part_bounds is None or view.for_members is None:
        return shard_positions(members.member_key, n_shards)
    part = np.searchsorted(view.part_bounds, members.model_pos, side="right") - 1
    order = np.argsort(part, kind="stable")
    cuts = np.searchsorted(part[order], np.arange(view.part_bounds.shape[0]))
    return [order[cuts[i]:cuts[i + 1]] for i in range(cuts.shape[0] - 1)]


def _shard_inputs(view: ModelView, members: _Members, index: np.ndarray) -> tuple[ModelView | None, _Members]:
    """The shard's members and, when the view can be sliced, the model view of just them
    (member positions renumbered from 0): a worker then holds its shard, not the chain."""
    own = members_subset(members, index)
    if view.for_members is None:
        return None, own
    # The shard never slices further, and its slicer may reach back to the whole chain's arrays.
    shard_view = replace(view.for_members(own.model_pos), for_members=None)
    return shard_view, replace(own, model_pos=np.arange(index.shape[0], dtype=np.int64))


def _empty_rows(n_offers: int):  # type: ignore[no-untyped-def]
    import scipy.sparse as sp

    return sp.csr_matrix((0, n_offers))


def shard_refill(state: ShardState, ok: np.ndarray, n_offers: int, params: SelectionParams) -> ShardState:
    """Second and later passes: drop the chosen lines the global cut refused (``ok`` False);
    their members choose again from their remaining candidates."""
    chosen, pool = state.chosen, state.pool
    n_members = len(state.index)
    affected = np.zeros(n_members, dtype=bool)
    affected[chosen.member[~ok]] = True
    lost = chosen.member[~ok] * n_offers + chosen.offer[~ok]
    in_affected = affected[pool.member]
    redo = pool.take(np.flatnonzero(in_affected))
    redo = redo.take(np.flatnonzero(~np.isin(redo.member * n_offers + redo.offer, lost)))
    pool = _concat([pool.take(np.flatnonzero(~in_affected)), redo])
    stay = chosen.take(np.flatnonzero(~affected[chosen.member]))
    return replace(state, pool=pool, chosen=_concat([stay, _per_member(redo, state.members, state.offers, params)]))


def shard_cut(state: ShardState, ok: np.ndarray) -> ShardState:
    """The last round: the cut only, never a refill."""
    return replace(state, chosen=state.chosen.take(np.flatnonzero(ok)))


def chosen_in_chain(state: ShardState) -> _Candidates:
    """The shard's chosen lines with member positions among all the build's members."""
    c = state.chosen
    return replace(c, member=state.index[c.member])


def pool_in_chain(state: ShardState, wanted: np.ndarray) -> _Candidates:
    """The shard's remaining candidates of the members ``wanted`` (a mask over all the build's
    members), with member positions among all of them."""
    c = state.pool.take(np.flatnonzero(wanted[state.index[state.pool.member]]))
    return replace(c, member=state.index[c.member])


def select_sharded(
    runner, view: ModelView, prepared: PreparedOffers, members: _Members, settings: ListSettings, seed: int,
    n_shards: int, start_task: Callable[..., ShardState] | None = None,
) -> Selection:
    """:func:`select_lines` over ``n_shards`` member shards run by ``runner`` (a
    ``distributed.Client`` or :class:`LocalRunner`). ``start_task`` wraps :func:`shard_start`
    (same arguments), e.g. to observe or disturb the first pass."""
    params = selection_params(settings, seed)
    offers = prepared.arrays
    n_members, n_offers = int(members.member_key.shape[0]), len(prepared)
    index = [ix for ix in member_shards(view, members, n_shards) if ix.shape[0]]
    # Scattered to every worker: a worker lost mid-build does not take the only copy with it.
    shared_offers = runner.scatter(prepared, broadcast=True, hash=False)
    shared_view = None
    states = []
    for ix in index:
        shard_view, own = _shard_inputs(view, members, ix)
        if shard_view is None:  # a view that cannot be sliced: every worker gets it whole
            shared_view = shared_view or runner.scatter(view, broadcast=True, hash=False)
            shard_view = shared_view
        # A shard's own model slice travels in its task, so the scheduler can run it again
        # on another worker if this one is lost.
        with warnings.catch_warnings():
            # Dask warns about large tasks; a shard's slice is large by design (see above).
            warnings.filterwarnings("ignore", message=".*[Ll]arge (object|graph).*")
            states.append(runner.submit(start_task or shard_start, shard_view, shared_offers, own, ix, settings,
                                        seed, n_members, pure=False, retries=2))

    budget_limited = np.zeros(n_offers, dtype=bool)
    lost_to_budget = np.zeros(n_members, dtype=bool)
    rounds = 0
    while True:
        rounds += 1
        parts = runner.gather([runner.submit(chosen_in_chain, s, pure=False, retries=2) for s in states])
        chosen = _concat(parts) if parts else _empty_candidates()
        ok = _budget_cut(chosen, offers)  # the reduce step: one cut per offer over every shard
        if ok.all():
            break
        budget_limited[np.unique(chosen.offer[~ok])] = True
        lost_to_budget[chosen.member[~ok]] = True
        bounds = np.cumsum([0] + [p.member.shape[0] for p in parts])
        shard_ok = [ok[bounds[i]:bounds[i + 1]] for i in range(len(parts))]
        if rounds >= params.budget_rounds:
            states = [runner.submit(shard_cut, s, k, pure=False, retries=2) for s, k in zip(states, shard_ok)]
            parts = runner.gather([runner.submit(chosen_in_chain, s, pure=False, retries=2) for s in states])
            chosen = _concat(parts) if parts else _empty_candidates()
            break
        states = [runner.submit(shard_refill, s, k, n_offers, params, pure=False, retries=2)
                  for s, k in zip(states, shard_ok)]
    summary = runner.gather([runner.submit(_shard_counts, s, pure=False, retries=2) for s in states])
    everyone = member_arrays(view, members)
    target = everyone.targets()
    chosen = chosen.take(_member_order(chosen, n_members, n_offers))
    # Offer hold-outs with their refill: the members who may refill are known from the chosen
    # lines; only their candidates come back from the shards, and the refill (budget room
    # over every member's kept lines) runs here, as in one process.
    may_refill = np.zeros(n_members, dtype=bool)
    may_refill[chosen.member[_held_back(chosen, everyone, offers, params)]] = True
    may_refill &= target > 0
    pool_parts = runner.gather([runner.submit(pool_in_chain, s, may_refill, pure=False, retries=2) for s in states])
    pool = _concat(pool_parts) if pool_parts else _empty_candidates()
    pool = pool.take(np.argsort(pool.member, kind="stable"))  # members ascending, each best first
    chosen, held = _holdouts_with_refill(chosen, pool, everyone, offers, params, target)
    available = (np.zeros(n_members), np.zeros(n_members))
    for (_, _, _, (before, after)), ix in zip(summary, index):
        available[0][ix], available[1][ix] = before, after
    face_total, shortfall = _shortfall(target, available, lost_to_budget, chosen, held, params)
    per_offer = sum((s[0] for s in summary), np.zeros(n_offers, dtype=np.int64))
    return Selection(
        member=chosen.member, offer=chosen.offer, probability=chosen.probability,
        brand_loyalty=chosen.loyalty, usage_tier=chosen.tier, face_cents=chosen.face,
        expected_value_cents=chosen.ev, expected_funded_cents=chosen.funded,
        holdout_member=held.member, holdout_offer=held.offer, holdout_probability=held.probability,
        candidates_per_offer=per_offer, budget_limited=budget_limited,
        face_total_cents=face_total, face_target_cents=target, shortfall=shortfall, rounds=rounds,
        stats={"candidates": int(sum(s[1] for s in summary)), "pool": int(sum(s[2] for s in summary)),
               "lines": int(chosen.member.shape[0]), "offer_holdouts": int(held.member.shape[0])},
    )


def _empty_candidates() -> _Candidates:
    return _Candidates(*(np.empty(0, np.int64) for _ in _Candidates.__dataclass_fields__))


def _shard_counts(state: ShardState) -> tuple[np.ndarray, int, int, tuple[np.ndarray, np.ndarray]]:
    return state.candidates_per_offer, state.n_candidates, state.pool_size, state.available
