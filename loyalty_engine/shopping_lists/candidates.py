"""The candidate pool of list selection: targeted (member, offer) pairs with their benefit,
expected value and funded cost, ordered (member, best first) and pruned. See :mod:`.selection`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import scipy.sparse as sp

from ..model.arrays import rank_in_runs, run_starts
from .selection_arrays import UNSEGMENTED_CELL, MemberArrays, OfferArrays, SelectionParams


@dataclass
class _Candidates:
    member: np.ndarray
    offer: np.ndarray
    probability: np.ndarray
    loyalty: np.ndarray
    tier: np.ndarray
    face: np.ndarray
    ev: np.ndarray
    funded: np.ndarray
    group: np.ndarray
    stretch: np.ndarray  # bool: below the offer's minimum probability, only to reach a target

    def take(self, idx: np.ndarray) -> "_Candidates":
        return _Candidates(*(getattr(self, f)[idx] for f in self.__dataclass_fields__))


def candidates(
    probabilities: sp.csr_matrix, members: MemberArrays, offers: OfferArrays, params: SelectionParams,
    first_member: int = 0,
) -> _Candidates:
    """Targeted (member, offer) pairs with their benefit, expected value and funded cost,
    in member order, best first. ``probabilities`` rows are members ``first_member`` on."""
    pool = _targeted(probabilities, members, offers, params, first_member)
    return pool.take(_member_order(pool, len(members), len(offers)))


def candidate_pool(
    score_rows: Callable[[int, int], sp.csr_matrix], members: MemberArrays, offers: OfferArrays,
    params: SelectionParams, sort_members: int | None = None,
) -> tuple[_Candidates, int, np.ndarray]:
    """(the pruned candidates of ``members`` in member order, best first; how many targeted
    candidates there were before pruning; how many per offer).

    ``score_rows(start, stop)`` gives members ``start:stop``'s probabilities (csr), asked
    ``params.chunk_members`` members at a time so memory stays bounded; each chunk is targeted,
    ordered and pruned on its own. ``sort_members`` sizes the ordering key (default: the
    members' count): a shard passes the whole build's count, so its near-ties break as in one
    process.
    """
    n_members, n_offers = len(members), len(offers)
    sort_members = n_members if sort_members is None else sort_members
    parts: list[_Candidates] = []
    n_candidates = 0
    per_offer = np.zeros(n_offers, dtype=np.int64)
    for start in range(0, n_members, params.chunk_members):
        stop = min(n_members, start + params.chunk_members)
        rows = score_rows(start, stop)
        if rows.shape != (stop - start, n_offers):
            raise ValueError(f"scored rows are {rows.shape}, expected {(stop - start, n_offers)}")
        chunk = _targeted(rows, members, offers, params, first_member=start)
        del rows
        n_candidates += chunk.member.shape[0]
        per_offer += np.bincount(chunk.offer, minlength=n_offers)
        order = _member_order(chunk, sort_members, n_offers)
        # prune on the ordered key columns, then gather the kept candidates once
        parts.append(chunk.take(order[_pruned_rows(chunk.member[order], chunk.group[order], params)]))
        del chunk, order
    if not parts:
        return candidates(sp.csr_matrix((0, n_offers)), members, offers, params), 0, per_offer
    return _concat(parts), n_candidates, per_offer


def _targeted(
    probabilities: sp.csr_matrix, members: MemberArrays, offers: OfferArrays, params: SelectionParams,
    first_member: int = 0,
) -> _Candidates:
    """:func:`candidates` before ordering."""
    coo = probabilities.tocoo()
    m = coo.row.astype(np.int64) + first_member
    o = coo.col.astype(np.int64)
    p = coo.data.astype(np.float64)
    del coo
    regular = p >= offers.min_probability[o]
    keep = (p > 0) & regular
    if params.target_min_probability is not None:
        has_target = members.targets()[m] > 0
        keep |= (p > 0) & has_target & (p >= params.target_min_probability)
    m, o, p, stretch = m[keep], o[keep], p[keep], ~regular[keep]

    seg = offers.segment_category[o]
    has_seg = seg >= 0
    seg_col = np.where(has_seg, seg, 0)
    if members.brand_loyalty.shape[1]:
        loyalty = np.where(has_seg, members.brand_loyalty[m, seg_col], -1).astype(np.int8)
        tier = np.where(has_seg, members.usage_tier[m, seg_col], -1).astype(np.int8)
    else:
        loyalty = np.full(m.shape, -1, dtype=np.int8)
        tier = np.full(m.shape, -1, dtype=np.int8)
    segmented = (loyalty >= 0) & (tier >= 0)
    cell = np.where(segmented, loyalty.astype(np.int64) * 3 + tier, UNSEGMENTED_CELL)
    in_cell = ((offers.cell_mask[o] >> cell) & 1).astype(bool)
    in_stage = ((offers.stage_mask[o] >> members.lifecycle_stage[m].astype(np.int64)) & 1).astype(bool)
    keep = in_cell & in_stage
    m, o, p, loyalty, tier, stretch = m[keep], o[keep], p[keep], loyalty[keep], tier[keep], stretch[keep]
    tier = np.where((loyalty >= 0) & (tier >= 0), tier, -1).astype(np.int8)

    tier_idx = np.maximum(tier, 0).astype(np.int64)
    face = offers.face_by_tier[o, tier_idx].astype(np.int64)
    weights = np.asarray(params.tier_weights, dtype=np.float64)
    ev = p * offers.sale_value_cents[o] * weights[tier.astype(np.int64) + 1]
    funded = p * params.redemption_rate * face * (offers.funded_share_bp[o] / 10_000.0)
    return _Candidates(m, o, p, loyalty, tier, face, ev, funded, offers.scope_group[o], stretch)


def _concat(parts: list[_Candidates]) -> _Candidates:
    return _Candidates(*(np.concatenate([getattr(p, f) for p in parts]) for f in _Candidates.__dataclass_fields__))


def _member_order(c: _Candidates, n_members: int, n_offers: int) -> np.ndarray:
    """Member ascending, regular before stretch candidates, expected value descending, offer
    position ascending on ties.

    One integer sort of a packed key (member | stretch | inverted, quantized value | offer)
    instead of a four-key lexsort; values equal to about 1e-9 of the largest tie-break on the offer.
    """
    n = c.ev.shape[0]
    if n == 0:
        return np.empty(0, dtype=np.int64)
    bits_m = max(1, int(n_members - 1).bit_length())
    bits_o = max(1, int(n_offers - 1).bit_length())
    bits_q = min(50, 61 - bits_m - bits_o)  # float64 resolves 52 bits: keep q exact
    if bits_q < 30:
        return np.lexsort((c.offer, -c.ev, c.stretch, c.member))
    top = float(c.ev.max()) or 1.0
    levels = (1 << bits_q) - 1
    q = levels - np.clip(np.floor(np.clip(c.ev / top, 0.0, 1.0) * levels).astype(np.int64), 0, levels)
    key = ((c.member.astype(np.int64) << (bits_q + bits_o + 1)) | (c.stretch.astype(np.int64) << (bits_q + bits_o))
           | (q << bits_o) | c.offer.astype(np.int64))
    return np.argsort(key)


def _prune(c: _Candidates, params: SelectionParams) -> _Candidates:
    """Keep what the per-member rules can use: per (member, scope group) the best
    ``group_alternates`` offers, and per member the best ``candidate_depth`` of those.

    The runners-up stand by for members who lose a line to budget pacing."""
    return c.take(_pruned_rows(c.member, c.group, params))


def _pruned_rows(member: np.ndarray, group: np.ndarray, params: SelectionParams) -> np.ndarray:
    """Positions :func:`_prune` keeps, from the member and group columns only (in member
    order, best first), so the candidates themselves are gathered once."""
    n = member.shape[0]
    if n == 0:
        return np.empty(0, dtype=np.int64)
    stackable = group < 0
    n_groups = int(group.max()) + 1 if (~stackable).any() else 1
    key = np.where(stackable, -1, member * n_groups + group)
    order = np.argsort(key, kind="stable")  # keeps the best-first order inside each (member, group)
    sorted_key = key[order]
    rank_sorted = rank_in_runs(sorted_key)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = rank_sorted
    kept = np.flatnonzero(stackable | (rank < params.group_alternates))
    kept_member = member[kept]
    depth = rank_in_runs(kept_member)
    return kept[depth < params.candidate_depth]


def _segment_starts(sorted_keys: np.ndarray) -> np.ndarray:
    """For each element of a sorted key array, the index where its run of equal keys starts."""
    starts = run_starts(sorted_keys)
    return np.repeat(starts, np.diff(np.append(starts, sorted_keys.shape[0])))


def _offer_order(c: _Candidates, n_offers: int) -> np.ndarray:
    """Offer ascending, expected value descending, member ascending on ties: one integer
    sort of a packed key, as :func:`_member_order` (values within ~1e-9 of the largest tie)."""
    n = c.ev.shape[0]
    if n == 0:
        return np.empty(0, dtype=np.int64)
    bits_m = max(1, int(c.member.max()).bit_length())
    bits_o = max(1, int(n_offers - 1).bit_length())
    bits_q = min(50, 62 - bits_m - bits_o)
    if bits_q < 30:
        return np.lexsort((c.member, -c.ev, c.offer))
    top = float(c.ev.max()) or 1.0
    levels = (1 << bits_q) - 1
    q = levels - np.clip(np.floor(np.clip(c.ev / top, 0.0, 1.0) * levels).astype(np.int64), 0, levels)
    key = (c.offer.astype(np.int64) << (bits_q + bits_m)) | (q << bits_m) | c.member.astype(np.int64)
    return np.argsort(key)
