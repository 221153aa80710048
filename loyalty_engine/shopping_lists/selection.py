"""Choosing every member's list lines in one vectorized pass over members x offers.

Pure numpy/scipy: takes the purchase probabilities (members x offers), the members' cells,
lifecycle stages and value tiers, and the offers' targeting, benefits and remaining budgets;
returns the chosen lines. No database, no clock, no loop per member.

The rules, in order:

1. **Candidates**: a (member, offer) pair with probability >= the offer's minimum, whose
   member is in a targeted cell of the offer's segment category (brand loyalty x usage tier,
   or "unsegmented") and, if the offer names lifecycle stages, in one of them.
2. **Value**: expected value = probability x value of the sale (typical price x minimum
   quantity) x the usage-tier weight (heavy users are worth most). The benefit comes from
   the member's usage tier (unsegmented members get the low tier's).
3. **Per member**, greedily in expected-value order: at most one offer per product scope
   (overlapping non-stackable offers form one scope group), at most ``max_lines`` lines and a
   total face value within the member's cap (which grows with the value tier).
4. **Budget pacing**, across all members: per offer, the expected funded cost (probability
   x redemption rate x funded face value) and expected redemptions are summed in expected-
   value order and cut where they would exceed the remaining budget / redemption cap, so the
   richest matches win. Members who lost a line get their next best candidates in another
   round; the last round only cuts, so the budget is never exceeded in expectation.
5. **Offer hold-outs**: a deterministic pseudo-random share of the members an offer would
   reach is held back (recorded as a control group) instead of receiving the line.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import scipy.sparse as sp

from ..model.arrays import rank_in_runs, run_starts

UNSEGMENTED_CELL = 9  # cells 0..8 are loyalty * 3 + tier
ALL_CELLS = (1 << 10) - 1
ALL_STAGES = (1 << 5) - 1
UNLIMITED = np.inf


@dataclass(frozen=True)
class OfferArrays:
    """The active offers of a period as aligned arrays (one position per offer)."""

    offer_id: np.ndarray  # int64
    segment_category: np.ndarray  # int32: column of MemberArrays' segment arrays, -1 = none
    cell_mask: np.ndarray  # int64 bit mask over cells 0..9
    stage_mask: np.ndarray  # int64 bit mask over lifecycle stages 0..4
    min_probability: np.ndarray  # float64
    face_by_tier: np.ndarray  # int64 (n_offers, 3): face value cents per redemption, low/medium/high
    funded_share_bp: np.ndarray  # int64, 0..10000
    handling_fee_cents: np.ndarray  # int64
    sale_value_cents: np.ndarray  # int64: typical price x minimum quantity
    remaining_budget_cents: np.ndarray  # float64, inf = no budget
    remaining_redemptions: np.ndarray  # float64, inf = no cap
    scope_group: np.ndarray  # int64: offers sharing a group exclude each other; -1 = stackable
    holdout_share: np.ndarray  # float64

    def __len__(self) -> int:
        return int(self.offer_id.shape[0])


@dataclass(frozen=True)
class MemberArrays:
    """The eligible members of a build as aligned arrays (one position per member)."""

    member_key: np.ndarray  # int64
    brand_loyalty: np.ndarray  # int8 (n_members, n_segment_categories): 0 national, 1 store, 2 switcher, -1 none
    usage_tier: np.ndarray  # int8 (n_members, n_segment_categories): 0 low, 1 medium, 2 high, -1 none
    lifecycle_stage: np.ndarray  # int8: index into LIFECYCLE_STAGES
    face_cap_cents: np.ndarray  # int64

    def __len__(self) -> int:
        return int(self.member_key.shape[0])


@dataclass(frozen=True)
class SelectionParams:
    max_lines: int = 15
    # weight of unsegmented, low, medium, high usage in the expected value
    tier_weights: tuple[float, float, float, float] = (1.0, 1.0, 1.5, 2.5)
    # share of purchases of a listed offer that are redeemed (the list/card is scanned)
    redemption_rate: float = 1.0
    budget_rounds: int = 6
    holdout_seed: int = 0
    # pruning: per member only the best candidate_depth candidates, and per scope group the
    # best group_alternates of them (runners-up for members who lose a line to the budget)
    candidate_depth: int = 60
    group_alternates: int = 2
    chunk_members: int = 20_000


@dataclass
class Selection:
    """Chosen lines, sorted by member position then expected value (best first)."""

    member: np.ndarray  # int64 member position
    offer: np.ndarray  # int64 offer position
    probability: np.ndarray  # float64
    brand_loyalty: np.ndarray  # int8, -1 unsegmented
    usage_tier: np.ndarray  # int8, -1 unsegmented
    face_cents: np.ndarray  # int64
    expected_value_cents: np.ndarray  # float64
    expected_funded_cents: np.ndarray  # float64
    # (member, offer, probability) pairs held back as per-offer control groups
    holdout_member: np.ndarray
    holdout_offer: np.ndarray
    holdout_probability: np.ndarray
    candidates_per_offer: np.ndarray  # int64: targeted candidates before the per-member rules
    budget_limited: np.ndarray  # bool per offer: pacing cut some matches
    rounds: int = 0
    stats: dict[str, int] = field(default_factory=dict)
    # the held-back pairs' cells, as their lines would have had them (-1 unsegmented)
    holdout_brand_loyalty: np.ndarray = field(default_factory=lambda: np.empty(0, np.int8))
    holdout_usage_tier: np.ndarray = field(default_factory=lambda: np.empty(0, np.int8))

    def __len__(self) -> int:
        return int(self.member.shape[0])

    def expected_funded_by_offer(self, n_offers: int) -> np.ndarray:
        return np.bincount(self.offer, weights=self.expected_funded_cents, minlength=n_offers)

    def expected_redemptions_by_offer(self, n_offers: int, redemption_rate: float = 1.0) -> np.ndarray:
        return np.bincount(self.offer, weights=self.probability, minlength=n_offers) * redemption_rate


def uniform_hash(seed: int, *keys: np.ndarray) -> np.ndarray:
    """Deterministic uniform [0, 1) numbers from integer keys (splitmix64), for replayable draws."""
    with np.errstate(over="ignore"):
        x = np.full(np.broadcast(*keys).shape if keys else (), np.uint64(seed & (2**64 - 1)), dtype=np.uint64)
        for key in keys:
            x = _splitmix(x ^ np.asarray(key).astype(np.uint64))
        return (x >> np.uint64(11)).astype(np.float64) / float(2**53)


def _splitmix(x: np.ndarray) -> np.ndarray:
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


# ---------------------------------------------------------------------------------------------


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
    keep = (p > 0) & (p >= offers.min_probability[o])
    m, o, p = m[keep], o[keep], p[keep]

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
    m, o, p, loyalty, tier = m[keep], o[keep], p[keep], loyalty[keep], tier[keep]
    tier = np.where((loyalty >= 0) & (tier >= 0), tier, -1).astype(np.int8)

    tier_idx = np.maximum(tier, 0).astype(np.int64)
    face = offers.face_by_tier[o, tier_idx].astype(np.int64)
    weights = np.asarray(params.tier_weights, dtype=np.float64)
    ev = p * offers.sale_value_cents[o] * weights[tier.astype(np.int64) + 1]
    funded = p * params.redemption_rate * face * (offers.funded_share_bp[o] / 10_000.0)
    return _Candidates(m, o, p, loyalty, tier, face, ev, funded, offers.scope_group[o])


def _concat(parts: list[_Candidates]) -> _Candidates:
    return _Candidates(*(np.concatenate([getattr(p, f) for p in parts]) for f in _Candidates.__dataclass_fields__))


def _member_order(c: _Candidates, n_members: int, n_offers: int) -> np.ndarray:
    """Member ascending, expected value descending, offer position ascending on ties.

    One integer sort of a packed key (member | inverted, quantized value | offer) instead of
    a three-key lexsort; values equal to about 1e-9 of the largest tie-break on the offer.
    """
    n = c.ev.shape[0]
    if n == 0:
        return np.empty(0, dtype=np.int64)
    bits_m = max(1, int(n_members - 1).bit_length())
    bits_o = max(1, int(n_offers - 1).bit_length())
    bits_q = min(50, 62 - bits_m - bits_o)  # float64 resolves 52 bits: keep q exact
    if bits_q < 30:
        return np.lexsort((c.offer, -c.ev, c.member))
    top = float(c.ev.max()) or 1.0
    levels = (1 << bits_q) - 1
    q = levels - np.clip(np.floor(np.clip(c.ev / top, 0.0, 1.0) * levels).astype(np.int64), 0, levels)
    key = (c.member.astype(np.int64) << (bits_q + bits_o)) | (q << bits_o) | c.offer.astype(np.int64)
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


def _per_member(c: _Candidates, members: MemberArrays, params: SelectionParams) -> _Candidates:
    """Greedy per member in expected-value order: one offer per scope group, cap, max lines.

    ``c`` is in member order, best first (as :func:`candidates` returns it); order is kept.
    """
    # One offer per scope group: the first (richest) of each (member, group) stays.
    stackable = c.group < 0
    n_groups = int(c.group.max()) + 1 if c.group.shape[0] else 1
    key = np.where(stackable, -1 - np.arange(c.group.shape[0]), c.member * n_groups + c.group)
    _, first = np.unique(key, return_index=True)
    keep = np.zeros(c.group.shape[0], dtype=bool)
    keep[first] = True
    c = c.take(np.flatnonzero(keep))

    # Face-value cap and line count. Each round settles, per member, the prefix that fits;
    # the first line that does not fit is dropped, and so is every later line larger than
    # what is left (it can never fit), then the sums are taken again.
    cap = members.face_cap_cents
    alive = np.ones(c.member.shape[0], dtype=bool)
    while True:
        idx = np.flatnonzero(alive)
        if idx.shape[0] == 0:
            break
        mem = c.member[idx]
        face = c.face[idx]
        starts = _segment_starts(mem)
        csum = np.cumsum(face)
        before = csum - face  # running total before this line, across all members
        within = csum - (before[starts])  # member's running total including this line
        rank = np.arange(idx.shape[0]) - starts
        over = (within > cap[mem]) | (rank >= params.max_lines)
        if not over.any():
            break
        # first violation of each member
        viol_members, first_viol = np.unique(mem[over], return_index=True)
        first_pos = np.flatnonzero(over)[first_viol]
        left = np.full(cap.shape[0], np.iinfo(np.int64).max, dtype=np.int64)
        settled = np.full(cap.shape[0], np.iinfo(np.int64).max, dtype=np.int64)
        prefix_total = within[first_pos] - face[first_pos]
        left[viol_members] = cap[viol_members] - prefix_total
        settled[viol_members] = first_pos
        full = rank[first_pos] >= params.max_lines
        drop = np.zeros(idx.shape[0], dtype=bool)
        drop[first_pos] = True
        pos = np.arange(idx.shape[0])
        after = pos > settled[mem]
        drop |= after & (face > left[mem])
        # a member whose accepted prefix already has max_lines takes nothing more
        full_members = viol_members[full]
        if full_members.shape[0]:
            is_full = np.zeros(cap.shape[0], dtype=bool)
            is_full[full_members] = True
            drop |= after & is_full[mem]
        alive[idx[drop]] = False
    return c.take(np.flatnonzero(alive))


def _budget_cut(c: _Candidates, offers: OfferArrays) -> np.ndarray:
    """Boolean mask of chosen lines that fit their offer's remaining budget and redemption cap."""
    order = _offer_order(c, len(offers))
    off = c.offer[order]
    starts = _segment_starts(off)
    funded_cum = np.cumsum(c.funded[order])
    funded_within = funded_cum - (funded_cum[starts] - c.funded[order][starts])
    red_cum = np.cumsum(c.probability[order])
    red_within = red_cum - (red_cum[starts] - c.probability[order][starts])
    # A tiny tolerance keeps float summation noise from cutting an exactly-fitting line.
    fits = (funded_within <= offers.remaining_budget_cents[off] * (1 + 1e-12)) & (
        red_within <= offers.remaining_redemptions[off] * (1 + 1e-12)
    )
    # Once an offer overflows, none of its poorer matches get it (richest matches win).
    first_bad = np.full(len(offers), np.iinfo(np.int64).max, dtype=np.int64)
    pos = np.arange(off.shape[0])
    bad = ~fits
    np.minimum.at(first_bad, off[bad], pos[bad])
    ok_sorted = pos < first_bad[off]
    ok = np.empty_like(ok_sorted)
    ok[order] = ok_sorted
    return ok


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


def select_lines(
    probabilities: sp.csr_matrix | Callable[[int, int], sp.csr_matrix],
    members: MemberArrays,
    offers: OfferArrays,
    params: SelectionParams = SelectionParams(),
) -> Selection:
    """Every member's lines at once.

    ``probabilities`` is members x offers (csr), or a function ``(start, stop) -> csr`` of
    those members' rows, so the model can score members in chunks (memory stays bounded;
    each chunk is still one vectorized pass). Candidates are pruned per chunk.
    """
    n_members = len(members)
    if callable(probabilities):
        score_rows = probabilities
    else:
        if probabilities.shape != (n_members, len(offers)):
            raise ValueError(
                f"probabilities are {probabilities.shape}, expected {(n_members, len(offers))}"
            )
        matrix = sp.csr_matrix(probabilities)
        score_rows = lambda start, stop: matrix[start:stop]  # noqa: E731
    parts: list[_Candidates] = []
    n_candidates = 0
    candidates_per_offer = np.zeros(len(offers), dtype=np.int64)
    for start in range(0, n_members, params.chunk_members):
        stop = min(n_members, start + params.chunk_members)
        rows = score_rows(start, stop)
        if rows.shape != (stop - start, len(offers)):
            raise ValueError(f"scored rows are {rows.shape}, expected {(stop - start, len(offers))}")
        chunk = _targeted(rows, members, offers, params, first_member=start)
        del rows
        n_candidates += chunk.member.shape[0]
        candidates_per_offer += np.bincount(chunk.offer, minlength=len(offers))
        order = _member_order(chunk, n_members, len(offers))
        # prune on the ordered key columns, then gather the kept candidates once
        parts.append(chunk.take(order[_pruned_rows(chunk.member[order], chunk.group[order], params)]))
        del chunk, order
    pool = _concat(parts) if parts else candidates(
        sp.csr_matrix((0, len(offers))), members, offers, params)
    del parts
    pool_size = pool.member.shape[0]
    budget_limited = np.zeros(len(offers), dtype=bool)
    rounds = 0
    chosen = _per_member(pool, members, params)
    while True:
        rounds += 1
        ok = _budget_cut(chosen, offers)
        if ok.all():
            break
        budget_limited[np.unique(chosen.offer[~ok])] = True
        if rounds >= params.budget_rounds:
            chosen = chosen.take(np.flatnonzero(ok))  # last round: cut only, never refill
            break
        # Members who lost a line choose again from their remaining candidates (the lost
        # pairs leave the pool); everyone else's lines stand as they are.
        affected = np.zeros(n_members, dtype=bool)
        affected[chosen.member[~ok]] = True
        lost = chosen.member[~ok] * len(offers) + chosen.offer[~ok]
        in_affected = affected[pool.member]
        redo = pool.take(np.flatnonzero(in_affected))
        keep_redo = ~np.isin(redo.member * len(offers) + redo.offer, lost)
        redo = redo.take(np.flatnonzero(keep_redo))
        # each member's candidates stay contiguous and best first, which is all the rules need
        pool = _concat([pool.take(np.flatnonzero(~in_affected)), redo])
        stay = chosen.take(np.flatnonzero(~affected[chosen.member]))
        chosen = _concat([stay, _per_member(redo, members, params)])
    chosen = chosen.take(_member_order(chosen, n_members, len(offers)))

    # Per-offer hold-outs: drawn per (member, offer) from the build's seed.
    draw = uniform_hash(params.holdout_seed, members.member_key[chosen.member], offers.offer_id[chosen.offer])
    held = draw < offers.holdout_share[chosen.offer]
    held_lines = chosen.take(np.flatnonzero(held))
    chosen = chosen.take(np.flatnonzero(~held))
    return Selection(
        member=chosen.member,
        offer=chosen.offer,
        probability=chosen.probability,
        brand_loyalty=chosen.loyalty,
        usage_tier=chosen.tier,
        face_cents=chosen.face,
        expected_value_cents=chosen.ev,
        expected_funded_cents=chosen.funded,
        holdout_member=held_lines.member,
        holdout_offer=held_lines.offer,
        holdout_probability=held_lines.probability,
        holdout_brand_loyalty=held_lines.loyalty,
        holdout_usage_tier=held_lines.tier,
        candidates_per_offer=candidates_per_offer,
        budget_limited=budget_limited,
        rounds=rounds,
        stats={"candidates": int(n_candidates), "pool": int(pool_size), "lines": int(chosen.member.shape[0]),
               "offer_holdouts": int(held_lines.member.shape[0])},
    )
