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
   (overlapping non-stackable offers form one scope group); no two offers of one exclusion
   group on opposite brand sides (the richer side wins: a store-brand trial and a national
   coupon of its category never share a list); at most ``max_lines`` lines and a total face
   value within the member's cap (which grows with the value tier).
3b. **Face-value target**: a member whose value tier has a target also has *stretch*
   candidates, offers below their own minimum probability but above
   ``target_min_probability``. They rank after every regular candidate and are taken only
   while the list is still below the target; such a list may also grow past ``max_lines``
   (up to ``target_max_lines``). Why a list stays below its target is recorded
   per member (:data:`SHORTFALL_REASONS`).
4. **Budget pacing**, across all members: per offer, the expected funded cost (probability
   x redemption rate x funded face value) and expected redemptions are summed in expected-
   value order and cut where they would exceed the remaining budget / redemption cap, so the
   richest matches win. Members who lost a line get their next best candidates in another
   round; the last round only cuts, so the budget is never exceeded in expectation.
5. **Offer hold-outs**: a deterministic pseudo-random share of the members an offer would
   reach is held back (recorded as a control group) instead of receiving the line. A member
   below the face-value target who lost a line this way chooses again without it (the
   per-member rules, on the budget the other lines leave; a few rounds).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
import scipy.sparse as sp

from .candidates import _Candidates, _concat, _member_order, _offer_order, _segment_starts, candidate_pool, candidates
from .selection_arrays import (
    ALL_CELLS,
    ALL_STAGES,
    SHORTFALL_REASONS,
    UNLIMITED,
    UNSEGMENTED_CELL,
    MemberArrays,
    OfferArrays,
    SelectionParams,
    uniform_hash,
)

__all__ = [
    "ALL_CELLS", "ALL_STAGES", "SHORTFALL_REASONS", "UNLIMITED", "UNSEGMENTED_CELL", "MemberArrays",
    "OfferArrays", "Selection", "SelectionParams", "candidates", "select_lines", "uniform_hash",
]


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
    # per member position: the list's face value, its target, and why it is short of it
    # (index into SHORTFALL_REASONS; -1 = reached, or no target)
    face_total_cents: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    face_target_cents: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    shortfall: np.ndarray = field(default_factory=lambda: np.empty(0, np.int8))
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


def _one_per_scope_group(c: _Candidates) -> _Candidates:
    """The first (richest) offer of each (member, scope group) stays; stackable offers all stay."""
    stackable = c.group < 0
    n_groups = int(c.group.max()) + 1 if c.group.shape[0] else 1
    key = np.where(stackable, -1 - np.arange(c.group.shape[0]), c.member * n_groups + c.group)
    _, first = np.unique(key, return_index=True)
    keep = np.zeros(c.group.shape[0], dtype=bool)
    keep[first] = True
    return c.take(np.flatnonzero(keep))


def _exclusions_kept(c: _Candidates, offers: OfferArrays) -> np.ndarray:
    """Mask of candidates that survive the exclusion groups: per (member, group), the side of
    the richest sided candidate wins and the other side's candidates go.

    ``c`` is in member order, best first, so the first of each (member, group) is the richest."""
    group, side = offers.exclusions()
    g, sd = group[c.offer], side[c.offer]
    sided = np.flatnonzero((g >= 0) & (sd >= 0))
    keep = np.ones(c.offer.shape[0], dtype=bool)
    if sided.shape[0] == 0:
        return keep
    n_groups = int(g[sided].max()) + 1
    key = c.member[sided] * n_groups + g[sided]
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    winner = sd[sided][first]
    keep[sided] = sd[sided] == winner[inverse.reshape(-1)]
    return keep


def _per_member(c: _Candidates, members: MemberArrays, offers: OfferArrays, params: SelectionParams) -> _Candidates:
    """Greedy per member in expected-value order: one offer per scope group, exclusion groups,
    cap, max lines; stretch candidates only while the list is below its target.

    ``c`` is in member order, best first (as :func:`candidates` returns it); order is kept.
    """
    c = _one_per_scope_group(c)
    c = c.take(np.flatnonzero(_exclusions_kept(c, offers)))

    # Face-value cap and line count. Each round settles, per member, the prefix that fits;
    # the first line that does not fit is dropped, and so is every later line larger than
    # what is left (it can never fit), then the sums are taken again. A member whose prefix
    # is full takes nothing more: the line limit, or max_lines / a stretch line once the
    # target is reached (the total only grows, and only stretch lines follow a stretch line).
    cap = members.face_cap_cents
    target = members.targets()
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
        reached = within - face >= target[mem]
        ends = (rank >= params.line_limit) | ((rank >= params.max_lines) | c.stretch[idx]) & reached
        over = (within > cap[mem]) | ends
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
        full = ends[first_pos]
        drop = np.zeros(idx.shape[0], dtype=bool)
        drop[first_pos] = True
        pos = np.arange(idx.shape[0])
        after = pos > settled[mem]
        drop |= after & (face > left[mem])
        full_members = viol_members[full]
        if full_members.shape[0]:
            is_full = np.zeros(cap.shape[0], dtype=bool)
            is_full[full_members] = True
            drop |= after & is_full[mem]
        alive[idx[drop]] = False
    return c.take(np.flatnonzero(alive))


def _available_face(c: _Candidates, offers: OfferArrays, n_members: int) -> tuple[np.ndarray, np.ndarray]:
    """Per member, the face value of every usable candidate (one per scope group) before and
    after the exclusion groups: what the list could reach with no cap, line or budget limit."""
    c = _one_per_scope_group(c)
    total = np.bincount(c.member, weights=c.face, minlength=n_members)
    kept = _exclusions_kept(c, offers)
    after = np.bincount(c.member[kept], weights=c.face[kept], minlength=n_members)
    return total, after


def _shortfall(
    target: np.ndarray, available: tuple[np.ndarray, np.ndarray], lost_to_budget: np.ndarray,
    kept: _Candidates, held: _Candidates, params: SelectionParams,
) -> tuple[np.ndarray, np.ndarray]:
    """(face total per member, reason code per member: -1 reached or no target)."""
    n = target.shape[0]
    total = np.bincount(kept.member, weights=kept.face, minlength=n)
    before_holdout = total + np.bincount(held.member, weights=held.face, minlength=n)
    lines = np.bincount(kept.member, minlength=n) + np.bincount(held.member, minlength=n)
    reasons = [
        before_holdout >= target,  # offer hold-out took it below
        available[0] < target,  # not enough eligible offers
        available[1] < target,  # exclusions
        lost_to_budget,  # budget
        lines >= params.line_limit,  # line limit
        np.ones(n, dtype=bool),  # face cap: what is left does not fit under it
    ]
    codes = np.array([5, 0, 1, 2, 3, 4], dtype=np.int8)
    reason = codes[np.argmax(np.stack(reasons), axis=0)] if n else np.empty(0, np.int8)
    short = (target > 0) & (total < target)
    return np.rint(total).astype(np.int64), np.where(short, reason, -1).astype(np.int8)


def _held_back(c: _Candidates, members: MemberArrays, offers: OfferArrays, params: SelectionParams) -> np.ndarray:
    """Mask of lines drawn into their offer's hold-out (per (member, offer) from the seed)."""
    draw = uniform_hash(params.holdout_seed, members.member_key[c.member], offers.offer_id[c.offer])
    return draw < offers.holdout_share[c.offer]


def _budget_room(kept: _Candidates, offers: OfferArrays) -> OfferArrays:
    """The offers with what ``kept`` leaves of their remaining budgets and redemption caps."""
    n = len(offers)
    spent = np.bincount(kept.offer, weights=kept.funded, minlength=n)
    used = np.bincount(kept.offer, weights=kept.probability, minlength=n)
    return replace(offers, remaining_budget_cents=np.maximum(0.0, offers.remaining_budget_cents - spent),
                   remaining_redemptions=np.maximum(0.0, offers.remaining_redemptions - used))


def _holdouts_with_refill(
    chosen: _Candidates, pool: _Candidates, members: MemberArrays, offers: OfferArrays,
    params: SelectionParams, target: np.ndarray,
) -> tuple[_Candidates, _Candidates]:
    """(lines kept, lines held back). A member below the face-value target who lost a line
    to an offer hold-out chooses again without it (a few rounds): the pair stays in the
    control group, the list gets the next best line that fits the rules and the budget left."""
    n_members, n_offers = len(members), len(offers)
    held_mask = _held_back(chosen, members, offers, params)
    kept, held = chosen.take(np.flatnonzero(~held_mask)), chosen.take(np.flatnonzero(held_mask))
    lost_now = held
    for _ in range(params.holdout_refill_rounds):
        total = np.bincount(kept.member, weights=kept.face, minlength=n_members)
        refill = np.zeros(n_members, dtype=bool)
        refill[lost_now.member] = True
        refill &= (target > 0) & (total < target)
        if not refill.any():
            break
        redo = pool.take(np.flatnonzero(refill[pool.member]))
        redo = redo.take(np.flatnonzero(~np.isin(redo.member * n_offers + redo.offer,
                                                 held.member * n_offers + held.offer)))
        again = _per_member(redo, members, offers, params)
        others = kept.take(np.flatnonzero(~refill[kept.member]))
        is_old = np.isin(again.member * n_offers + again.offer, kept.member * n_offers + kept.offer)
        old, new = again.take(np.flatnonzero(is_old)), again.take(np.flatnonzero(~is_old))
        new = new.take(np.flatnonzero(_budget_cut(new, _budget_room(_concat([others, old]), offers))))
        new_held = _held_back(new, members, offers, params)
        lost_now = new.take(np.flatnonzero(new_held))
        kept = _concat([others, old, new.take(np.flatnonzero(~new_held))])
        held = _concat([held, lost_now])
    return kept.take(_member_order(kept, n_members, n_offers)), held.take(_member_order(held, n_members, n_offers))


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


@dataclass
class PoolCounts:
    """What a selection reports of its candidate pool, per offer and per member."""

    candidates_per_offer: np.ndarray  # int64: targeted candidates before pruning
    n_candidates: int
    pool_size: int  # candidates left after pruning
    # per member: face value of every usable candidate, before and after exclusion groups
    available: tuple[np.ndarray, np.ndarray]


@dataclass
class FirstPass:
    """The pruned candidate pool and the lines the per-member rules choose from it, before any budget cut."""

    pool: _Candidates
    chosen: _Candidates
    counts: PoolCounts


def first_pass(
    score_rows: Callable[[int, int], sp.csr_matrix], members: MemberArrays, offers: OfferArrays,
    params: SelectionParams, sort_members: int | None = None,
) -> FirstPass:
    """Score, target and prune the members' candidates (see :func:`.candidates.candidate_pool`,
    also for ``sort_members``), then apply the per-member rules."""
    pool, n_candidates, per_offer = candidate_pool(score_rows, members, offers, params, sort_members)
    n = len(members)
    available = _available_face(pool, offers, n) if (members.targets() > 0).any() else (np.zeros(n), np.zeros(n))
    counts = PoolCounts(per_offer, n_candidates, int(pool.member.shape[0]), available)
    return FirstPass(pool, _per_member(pool, members, offers, params), counts)


@dataclass
class BudgetCuts:
    """What the budget rounds did: the offers they cut, the members who lost a line, the rounds run."""

    budget_limited: np.ndarray  # bool per offer
    lost_to_budget: np.ndarray  # bool per member
    rounds: int = 0

    @classmethod
    def none(cls, n_members: int, n_offers: int) -> "BudgetCuts":
        return cls(np.zeros(n_offers, dtype=bool), np.zeros(n_members, dtype=bool))

    def cut(self, chosen: _Candidates, offers: OfferArrays) -> np.ndarray:
        """One round: the mask of ``chosen`` (every member's lines) that fits the budgets;
        the offers and members it refused are recorded."""
        self.rounds += 1
        ok = _budget_cut(chosen, offers)
        self.budget_limited[np.unique(chosen.offer[~ok])] = True
        self.lost_to_budget[chosen.member[~ok]] = True
        return ok

    def last(self, params: SelectionParams) -> bool:
        """The round just cut was the last: it cuts only, never refills."""
        return self.rounds >= params.budget_rounds


def refill_after_cut(
    pool: _Candidates, chosen: _Candidates, ok: np.ndarray, members: MemberArrays, offers: OfferArrays,
    params: SelectionParams,
) -> tuple[_Candidates, _Candidates]:
    """(pool, chosen) after a cut that refused the lines where ``ok`` is False: members who
    lost a line choose again from their remaining candidates (the lost pairs leave the pool);
    everyone else's lines stand as they are."""
    n_offers = len(offers)
    affected = np.zeros(len(members), dtype=bool)
    affected[chosen.member[~ok]] = True
    lost = chosen.member[~ok] * n_offers + chosen.offer[~ok]
    in_affected = affected[pool.member]
    redo = pool.take(np.flatnonzero(in_affected))
    redo = redo.take(np.flatnonzero(~np.isin(redo.member * n_offers + redo.offer, lost)))
    # each member's candidates stay contiguous and best first, which is all the rules need
    pool = _concat([pool.take(np.flatnonzero(~in_affected)), redo])
    stay = chosen.take(np.flatnonzero(~affected[chosen.member]))
    return pool, _concat([stay, _per_member(redo, members, offers, params)])


def finish_selection(
    chosen: _Candidates, pool: _Candidates, members: MemberArrays, offers: OfferArrays, params: SelectionParams,
    counts: PoolCounts, cuts: BudgetCuts,
) -> Selection:
    """The selection from the lines the budget rounds left (``chosen``, in member order):
    the offer hold-outs drawn, with their refill from ``pool`` (at least the candidates of
    the members who may refill, in member order, best first), and the face-value shortfalls."""
    target = members.targets()
    kept, held = _holdouts_with_refill(chosen, pool, members, offers, params, target)
    face_total, shortfall = _shortfall(target, counts.available, cuts.lost_to_budget, kept, held, params)
    return Selection(
        member=kept.member,
        offer=kept.offer,
        probability=kept.probability,
        brand_loyalty=kept.loyalty,
        usage_tier=kept.tier,
        face_cents=kept.face,
        expected_value_cents=kept.ev,
        expected_funded_cents=kept.funded,
        holdout_member=held.member,
        holdout_offer=held.offer,
        holdout_probability=held.probability,
        holdout_brand_loyalty=held.loyalty,
        holdout_usage_tier=held.tier,
        candidates_per_offer=counts.candidates_per_offer,
        budget_limited=cuts.budget_limited,
        face_total_cents=face_total,
        face_target_cents=target,
        shortfall=shortfall,
        rounds=cuts.rounds,
        stats={"candidates": int(counts.n_candidates), "pool": int(counts.pool_size),
               "lines": int(kept.member.shape[0]), "offer_holdouts": int(held.member.shape[0])},
    )


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
    first = first_pass(score_rows, members, offers, params)
    pool, chosen, counts = first.pool, first.chosen, first.counts
    del first  # the pool shrinks as members refill: hold only the latest
    cuts = BudgetCuts.none(n_members, len(offers))
    while True:
        ok = cuts.cut(chosen, offers)
        if ok.all():
            break
        if cuts.last(params):
            chosen = chosen.take(np.flatnonzero(ok))
            break
        pool, chosen = refill_after_cut(pool, chosen, ok, members, offers, params)
    chosen = chosen.take(_member_order(chosen, n_members, len(offers)))
    # Per-offer hold-outs: drawn per (member, offer) from the build's seed.
    return finish_selection(chosen, pool, members, offers, params, counts, cuts)
