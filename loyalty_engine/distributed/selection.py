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

import logging
import warnings
from concurrent.futures import CancelledError
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
import scipy.sparse as sp

from ..shopping_lists.build import _Members, member_arrays, score_members, selection_params
from ..shopping_lists.model_view import ModelView
from ..shopping_lists.offer_inputs import PreparedOffers
from ..shopping_lists.candidates import _Candidates, _concat, _member_order
from ..shopping_lists.selection import (
    BudgetCuts, PoolCounts, Selection, _held_back, finish_selection, first_pass, refill_after_cut,
)
from ..shopping_lists.selection_arrays import MemberArrays, OfferArrays, SelectionParams
from ..shopping_lists.settings import ListSettings
from .shards import shard_positions

log = logging.getLogger(__name__)


@dataclass
class ShardState:
    """One shard's candidates and chosen lines (member positions local to the shard)."""

    index: np.ndarray  # the shard's members: ascending positions among the build's members
    members: MemberArrays
    offers: OfferArrays
    pool: _Candidates
    chosen: _Candidates
    counts: PoolCounts  # of the first pass, per shard member


def members_subset(members: _Members, index: np.ndarray) -> _Members:
    return _Members(*(getattr(members, f)[index] for f in _Members.__dataclass_fields__))


def shard_start(
    view: ModelView, prepared: PreparedOffers, own: _Members, index: np.ndarray,
    settings: ListSettings, seed: int, n_members_total: int,
) -> ShardState:
    """First pass on a shard (:func:`.first_pass`, as in one process): score, target and prune
    its members' candidates, then apply the per-member rules. ``own`` are the shard's members
    (``index``: their positions among the build's members), ``own.model_pos`` their positions
    in ``view``."""
    arrays = member_arrays(view, own)

    def rows(start: int, stop: int) -> sp.csr_matrix:
        return score_members(view, prepared, own, settings.period_days, start, stop)

    # The chain-wide member count sizes the sort key, as in one process.
    first = first_pass(rows, arrays, prepared.arrays, selection_params(settings, seed), n_members_total)
    return ShardState(index, arrays, prepared.arrays, first.pool, first.chosen, first.counts)


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


def shard_refill(state: ShardState, ok: np.ndarray, n_offers: int, params: SelectionParams) -> ShardState:
    """Second and later passes: drop the chosen lines the global cut refused (``ok`` False);
    their members choose again from their remaining candidates (:func:`.refill_after_cut`)."""
    pool, chosen = refill_after_cut(state.pool, state.chosen, ok, state.members, state.offers, params)
    return replace(state, pool=pool, chosen=chosen)


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
    shared_view = None
    states = []
    for ix in index:
        shard_view, own = _shard_inputs(view, members, ix)
        if shard_view is None:  # a view that cannot be sliced: every worker gets it whole
            shared_view = shared_view or runner.scatter(view, broadcast=True, hash=False)
            shard_view = shared_view
        # A shard's own model slice and the offers travel in its task, so the scheduler can
        # run it again on another worker if this one is lost (a scattered input lost with its
        # worker would cancel the shard's later rounds instead: "lost dependencies").
        with warnings.catch_warnings():
            # Dask warns about large tasks; a shard's slice is large by design (see above).
            warnings.filterwarnings("ignore", message=".*[Ll]arge (object|graph).*")
            states.append(runner.submit(start_task or shard_start, shard_view, prepared, own, ix, settings,
                                        seed, n_members, pure=False, retries=2))

    cuts = BudgetCuts.none(n_members, n_offers)
    while True:
        parts = _each_shard(runner, chosen_in_chain, states)
        chosen = _concat(parts) if parts else _empty_candidates()
        ok = cuts.cut(chosen, offers)  # the reduce step: one cut per offer over every shard
        if ok.all():
            break
        if cuts.last(params):
            chosen = chosen.take(np.flatnonzero(ok))  # the shards' pools stay as they are
            break
        bounds = np.cumsum([0] + [p.member.shape[0] for p in parts])
        states = [runner.submit(shard_refill, s, ok[bounds[i]:bounds[i + 1]], n_offers, params, pure=False,
                                retries=2) for i, s in enumerate(states)]
    counts = _chain_counts(_each_shard(runner, _shard_counts, states), index, n_members, n_offers)
    everyone = member_arrays(view, members)
    chosen = chosen.take(_member_order(chosen, n_members, n_offers))
    # Offer hold-outs with their refill: the members who may refill are known from the chosen
    # lines; only their candidates come back from the shards, and the refill (budget room
    # over every member's kept lines) runs here, as in one process.
    may_refill = np.zeros(n_members, dtype=bool)
    may_refill[chosen.member[_held_back(chosen, everyone, offers, params)]] = True
    may_refill &= everyone.targets() > 0
    pool_parts = _each_shard(runner, pool_in_chain, states, may_refill)
    pool = _concat(pool_parts) if pool_parts else _empty_candidates()
    pool = pool.take(np.argsort(pool.member, kind="stable"))  # members ascending, each best first
    return finish_selection(chosen, pool, everyone, offers, params, counts, cuts)


def _each_shard(runner, fn, states: list, *args):  # type: ignore[no-untyped-def]
    """``fn(state, *args)`` on every shard's state, gathered in shard order.

    When a worker is lost, the scheduler may drop (cancel) a task of this round it had not run
    yet while it recomputes the lost states; the round is then submitted again: the states are
    still held, and recomputed by Dask where they were lost, so the answer is the same."""
    attempt = 1
    while True:
        try:
            return runner.gather([runner.submit(fn, s, *args, pure=False, retries=2) for s in states])
        except CancelledError as exc:
            if attempt == _ROUND_ATTEMPTS:
                raise
            log.warning("a shard task was cancelled (%s); the round is submitted again", exc)
            attempt += 1


_ROUND_ATTEMPTS = 3


def _empty_candidates() -> _Candidates:
    return _Candidates(*(np.empty(0, np.int64) for _ in _Candidates.__dataclass_fields__))


def _shard_counts(state: ShardState) -> PoolCounts:
    return state.counts


def _chain_counts(shards: list[PoolCounts], index: list[np.ndarray], n_members: int, n_offers: int) -> PoolCounts:
    """The shards' pool counts summed; their per-member figures placed at their members' positions."""
    available = (np.zeros(n_members), np.zeros(n_members))
    for counts, ix in zip(shards, index):
        available[0][ix], available[1][ix] = counts.available
    per_offer = sum((c.candidates_per_offer for c in shards), np.zeros(n_offers, dtype=np.int64))
    return PoolCounts(per_offer, sum(c.n_candidates for c in shards), sum(c.pool_size for c in shards), available)
