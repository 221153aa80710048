"""Scoring offer scopes: P(member buys any product of a scope in ``[as_of, as_of + horizon)``).

An offer's scope is a set of products (brand, line, single sku), usually inside one
subcategory but possibly spanning several. Per (member, subcategory of the scope) the
probability is *need x choice*:

* need: the re-ranked ``need_probability`` of the (member, subcategory) pair when the member
  bought the subcategory before; otherwise a first purchase at the subcategory's
  ``need_new_rate`` per expected trip (Poisson: ``1 - exp(-rate * trips)``);
* choice: the share of the member's subcategory purchases going to the scope's skus, shrunk
  toward the population share with ``choice_prior_strength`` pseudo-purchases (so skus the
  member never bought, the brand-switch offers, get the population's share of the member's
  need), then passed through the choice calibration fitted in ``fit_model``. A member new to
  the subcategory chooses like the population (the population share, uncalibrated: the
  calibration was fitted on members who bought the subcategory before).

The probability of a sku the member bought is never below that sku's own re-ranked
probability (``sku_probability``), which ranks better than need x choice for known skus; the
maximum keeps the result monotone when a scope grows. Subcategories of one scope are
combined as independent needs: ``1 - prod(1 - p)``.

Horizon: the state is fitted for ``state.horizon_days`` (H). For another horizon h the
need and sku probabilities are converted at a constant purchase rate,
``p_h = 1 - (1 - p_H) ** (h / H)``, and first purchases scale the expected trips linearly.
The conversion is exact for a memoryless need and a fair approximation for h within about
half to twice H; a renewal-cycle member due *now* is slightly under-rated for short h.

Work per call is proportional to the (member, subcategory) and (member, sku) pairs of the
members asked for, plus the output entries: the list builder calls it in chunks of members.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import scipy.sparse as sp
from scipy.special import expit, logit

from .arrays import unique_inverse, unique_sorted
from .state import ModelState

_NO_DAY = np.iinfo(np.int32).max  # "no expected day" inside the min-reduction


@dataclass(frozen=True)
class ScopeIndex:
    """The scopes broken into (scope, subcategory) parts, and which parts hold each product.

    Built once per scope list; it does not depend on the members, so a caller scoring many
    member chunks may build it once with :func:`index_scopes` and pass it on.
    """

    n_scopes: int
    part_scope: np.ndarray  # int64 scope of each part
    part_need: np.ndarray  # int64 subcategory of each part
    part_population_share: np.ndarray  # float64 population choice share of the part's skus
    need_part_start: np.ndarray  # int64 (n_needs + 1): parts of need g are order[start[g]:start[g+1]]
    need_part_order: np.ndarray  # int64 part indices sorted by need
    product_part_start: np.ndarray  # int64 (n_products + 1): same, per product
    product_part_order: np.ndarray  # int64 part indices, grouped by product

    @property
    def n_parts(self) -> int:
        return int(self.part_scope.shape[0])


def index_scopes(state: ModelState, scopes: Sequence[np.ndarray]) -> ScopeIndex:
    """Split every scope by subcategory; unknown product keys and duplicates are ignored."""
    n_scopes = len(scopes)
    sizes = np.array([np.asarray(s).shape[0] for s in scopes], dtype=np.int64)
    keys = (np.concatenate([np.asarray(s, dtype=np.int64).ravel() for s in scopes])
            if n_scopes else np.empty(0, np.int64))
    scope_of = np.repeat(np.arange(n_scopes, dtype=np.int64), sizes)
    product = state.product_positions(keys)
    known = product >= 0
    scope_of, product = scope_of[known], product[known]
    n_products, n_needs = state.n_products, state.n_needs
    pairs = unique_sorted(scope_of * n_products + product)  # (scope, product), duplicates gone
    scope_of, product = pairs // n_products, pairs % n_products
    need = state.need_of_product[product].astype(np.int64)

    part_key, part_of_row = unique_inverse(scope_of * n_needs + need)
    n_parts = part_key.shape[0]
    share = np.bincount(part_of_row, weights=state.product_choice_share[product], minlength=n_parts)
    part_need = part_key % n_needs
    need_order = np.argsort(part_need, kind="stable")
    product_order = np.argsort(product, kind="stable")
    return ScopeIndex(
        n_scopes=n_scopes,
        part_scope=part_key // n_needs,
        part_need=part_need,
        part_population_share=np.minimum(share, 1.0),
        need_part_start=_starts(part_need, n_needs),
        need_part_order=need_order,
        product_part_start=_starts(product, n_products),
        product_part_order=part_of_row[product_order].astype(np.int64),
    )


def score_offer_scopes(
    state: ModelState,
    scopes: Sequence[np.ndarray] | ScopeIndex,
    horizon_days: int,
    member_positions: np.ndarray,
) -> sp.csr_matrix:
    """(len(member_positions), len(scopes)) csr of P(the member buys any product of the scope).

    ``scopes``: arrays of product keys (``products.id``), or a prebuilt :func:`index_scopes`.
    ``member_positions``: positions into ``state.member_key`` (``state.member_positions``);
    -1 gives an empty row. Entries below ``state.params.min_probability`` are left out.
    """
    probability, _ = _score(state, scopes, horizon_days, member_positions, want_days=False)
    return probability


def score_offer_scopes_with_days(
    state: ModelState,
    scopes: Sequence[np.ndarray] | ScopeIndex,
    horizon_days: int,
    member_positions: np.ndarray,
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """The probabilities and, on the same entries, the expected purchase day (days since
    1970-01-01) where one is meaningful: the earliest expected next purchase among the scope's
    subcategories the member bought before. Entries without one (first purchases only) are
    absent from the second matrix."""
    probability, days = _score(state, scopes, horizon_days, member_positions, want_days=True)
    assert days is not None
    return probability, days


# --- the computation ---------------------------------------------------------------------------


def _score(
    state: ModelState,
    scopes: Sequence[np.ndarray] | ScopeIndex,
    horizon_days: int,
    member_positions: np.ndarray,
    want_days: bool,
) -> tuple[sp.csr_matrix, sp.csr_matrix | None]:
    if horizon_days <= 0:
        raise ValueError(f"horizon_days must be positive, got {horizon_days}")
    index = scopes if isinstance(scopes, ScopeIndex) else index_scopes(state, scopes)
    positions = np.asarray(member_positions, dtype=np.int64).ravel()
    n_rows, n_parts = positions.shape[0], index.n_parts
    exponent = horizon_days / float(state.horizon_days)

    # (local member row, part) entries of subcategories the member bought before.
    need_rows, need_local = _rows_of_members(state.need_member, positions)
    entry_local, entry_part, entry_need_row = _expand(
        need_local, state.need_group[need_rows].astype(np.int64), need_rows,
        index.need_part_start, index.need_part_order,
    )
    entry_key = entry_local * n_parts + entry_part
    order = np.argsort(entry_key, kind="stable")
    entry_key, entry_part, entry_need_row = entry_key[order], entry_part[order], entry_need_row[order]
    entry_local = entry_key // max(n_parts, 1)

    known_weight, known_probability = _known_skus(state, index, positions, entry_key, n_parts, exponent)
    need_weight = state.need_weight[entry_need_row].astype(np.float64)
    strength = state.params.choice_prior_strength
    share = (known_weight + strength * index.part_population_share[entry_part]) / (need_weight + strength)
    need_p = _convert(state.need_probability[entry_need_row], exponent)
    p_bought = np.maximum(need_p * calibrated_choice(state, share), known_probability)

    new_local, new_part, p_new = _first_purchases(state, index, positions, entry_key, horizon_days)

    local = np.concatenate([entry_local, new_local])
    part = np.concatenate([entry_part, new_part])
    p = np.concatenate([p_bought, p_new])
    probability = _combine(local, index.part_scope[part], p, n_rows, index.n_scopes, state.params.min_probability)
    if not want_days:
        return probability, None
    expected = state.need_expected_day[entry_need_row].astype(np.int64)
    days = _earliest_days(entry_local, index.part_scope[entry_part], expected, probability, n_rows, index.n_scopes)
    return probability, days


def calibrated_choice(state: ModelState, share: np.ndarray) -> np.ndarray:
    """The fitted Platt calibration of a shrunk choice share.

    The slope is floored at a small positive value so a larger share never scores lower (a
    degenerate fit on little data could otherwise invert the order).
    """
    slope = max(float(state.choice_slope), 1e-3)
    clipped = np.clip(share, 1e-9, 1 - 1e-9)
    return expit(slope * logit(clipped) + float(state.choice_offset))


def _convert(p: np.ndarray, exponent: float) -> np.ndarray:
    """P over the fitted horizon -> P over ``exponent`` times it, at a constant rate."""
    p = np.clip(p.astype(np.float64), 0.0, 1.0 - 1e-9)
    if exponent == 1.0:
        return p
    return -np.expm1(exponent * np.log1p(-p))


def _known_skus(
    state: ModelState, index: ScopeIndex, positions: np.ndarray, entry_key: np.ndarray, n_parts: int,
    exponent: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Per entry: the member's decayed purchase weight on the part's skus, and the best
    re-ranked probability among them (0 when the member bought none of them)."""
    sku_rows, sku_local = _rows_of_members(state.sku_member, positions)
    local, part, row = _expand(
        sku_local, state.sku_product[sku_rows].astype(np.int64), sku_rows,
        index.product_part_start, index.product_part_order,
    )
    weight = np.zeros(entry_key.shape[0])
    best = np.zeros(entry_key.shape[0])
    if local.shape[0] == 0:
        return weight, best
    # Every bought sku's subcategory is a bought subcategory, so each key is an entry.
    at = np.searchsorted(entry_key, local * n_parts + part)
    np.add.at(weight, at, state.sku_weight[row].astype(np.float64))
    np.maximum.at(best, at, _convert(state.sku_probability[row], exponent))
    return weight, best


def _first_purchases(
    state: ModelState, index: ScopeIndex, positions: np.ndarray, bought_keys: np.ndarray, horizon_days: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(local row, part, P) of first purchases of a subcategory the member never bought.

    Only entries that can reach ``min_probability`` are generated: for each part the members
    are taken in order of expected trips down to the trips it needs, so the work follows the
    output rather than members x parts.
    """
    empty = (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0))
    n_parts = index.n_parts
    valid = np.flatnonzero(positions >= 0)
    if n_parts == 0 or valid.shape[0] == 0:
        return empty
    trips = _member_trips(state, positions[valid]) * (horizon_days / float(state.horizon_days))
    order = np.argsort(-trips, kind="stable")
    sorted_trips, sorted_local = trips[order], valid[order]

    rate = state.need_new_rate[index.part_need].astype(np.float64)
    share = index.part_population_share
    floor = state.params.min_probability
    # p = share * (1 - exp(-rate * trips)) >= floor  <=>  trips >= -log(1 - floor / share) / rate
    reachable = share > floor
    needed = np.full(n_parts, np.inf)
    needed[reachable] = -np.log1p(-floor / share[reachable]) / np.maximum(rate[reachable], 1e-300)
    counts = np.searchsorted(-sorted_trips, -needed, side="right")  # members with trips >= needed
    part = np.repeat(np.arange(n_parts, dtype=np.int64), counts)
    rank = np.arange(part.shape[0]) - np.repeat(np.cumsum(counts) - counts, counts)
    local = sorted_local[rank]
    fresh = ~_in_sorted(bought_keys, local * n_parts + part)
    local, part = local[fresh], part[fresh]
    p = share[part] * -np.expm1(-rate[part] * trips[order][rank][fresh])
    return local, part, p


def _member_trips(state: ModelState, members: np.ndarray) -> np.ndarray:
    """Expected trips in the fitted horizon; a member who never shopped is given the average
    pace of members who did (a prior, so new members still get first-purchase chances)."""
    mine = state.member_expected_trips[members].astype(np.float64)
    if (mine > 0).all():
        return mine
    return np.where(mine > 0, mine, state.prior_trips())


def _combine(
    local: np.ndarray, scope: np.ndarray, p: np.ndarray, n_rows: int, n_scopes: int, floor: float,
) -> sp.csr_matrix:
    """1 - prod(1 - p) over the parts of each (member row, scope); drops entries below floor."""
    if local.shape[0] == 0:
        return sp.csr_matrix((n_rows, n_scopes), dtype=np.float32)
    key = local * n_scopes + scope
    cells, inverse = unique_inverse(key)
    log_miss = np.bincount(inverse, weights=np.log1p(-np.clip(p, 0.0, 1.0 - 1e-9)), minlength=cells.shape[0])
    value = -np.expm1(log_miss)
    keep = value >= floor
    cells, value = cells[keep], value[keep]
    return sp.csr_matrix(
        (value.astype(np.float32), (cells // n_scopes, cells % n_scopes)), shape=(n_rows, n_scopes)
    )


def _earliest_days(
    local: np.ndarray, scope: np.ndarray, day: np.ndarray, probability: sp.csr_matrix, n_rows: int, n_scopes: int,
) -> sp.csr_matrix:
    """Earliest expected day per (member row, scope), on the entries kept in ``probability``."""
    if local.shape[0] == 0:
        return sp.csr_matrix((n_rows, n_scopes), dtype=np.int32)
    key = local * n_scopes + scope
    cells, inverse = unique_inverse(key)
    earliest = np.full(cells.shape[0], _NO_DAY, dtype=np.int64)
    np.minimum.at(earliest, inverse, day)
    coo = probability.tocoo()
    kept = np.sort(coo.row.astype(np.int64) * n_scopes + coo.col)
    on = _in_sorted(kept, cells)
    cells, earliest = cells[on], earliest[on]
    return sp.csr_matrix(
        (earliest.astype(np.int32), (cells // n_scopes, cells % n_scopes)), shape=(n_rows, n_scopes)
    )


# --- small array helpers -----------------------------------------------------------------------


def _starts(sorted_or_not: np.ndarray, n: int) -> np.ndarray:
    """CSR-style start offsets of the values 0..n-1 (counts, cumulated)."""
    counts = np.bincount(sorted_or_not, minlength=n)
    return np.r_[0, np.cumsum(counts)].astype(np.int64)


def _rows_of_members(pair_member: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pair rows (of arrays sorted by member) belonging to each requested member position,
    and the local row (index into ``positions``) of each; -1 positions have none."""
    begin = np.searchsorted(pair_member, positions, side="left")
    end = np.searchsorted(pair_member, positions, side="right")
    count = np.where(positions >= 0, end - begin, 0)
    local = np.repeat(np.arange(positions.shape[0], dtype=np.int64), count)
    offset = np.arange(local.shape[0]) - np.repeat(np.cumsum(count) - count, count)
    return np.repeat(begin, count) + offset, local


def _expand(
    local: np.ndarray, key: np.ndarray, row: np.ndarray, start: np.ndarray, order: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each (local, key, row) repeated once per part listed for ``key`` in the CSR (start, order)."""
    count = start[key + 1] - start[key]
    first = np.repeat(start[key], count)
    offset = np.arange(first.shape[0]) - np.repeat(np.cumsum(count) - count, count)
    return np.repeat(local, count), order[first + offset], np.repeat(row, count)


def _in_sorted(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    if sorted_keys.shape[0] == 0:
        return np.zeros(keys.shape, dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_keys, keys), sorted_keys.shape[0] - 1)
    return sorted_keys[pos] == keys


__all__ = ["ScopeIndex", "index_scopes", "score_offer_scopes", "score_offer_scopes_with_days", "calibrated_choice"]
