"""Features of a (member, item) pair at a cut-off day: frequency, recency, purchase cycle, trips.

The same function builds the training examples at earlier cut-offs and the live features at
``as_of``; nothing reads past the cut-off. All arrays are over pairs (vectorized).

The purchase cycle of a pair is the member's typical gap between purchase days, shrunk toward
the item's population gap (log scale, ``interval_prior_strength`` pseudo-gaps), so a member
with two purchases does not get a wild cycle. The renewal probability is the chance that the
next purchase falls in ``[cutoff, cutoff + horizon)`` given that none happened since the last
one, with gamma-distributed gaps of that mean.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.special import gammaincc, gammainccinv

from .events import MemberAggregates, PairAggregates, PurchaseEvents, TripIndex
from .exact import fixed_bincount, from_fixed, to_fixed


@dataclass(frozen=True)
class ItemStats:
    """Population facts per item at a cut-off."""

    log_interval: np.ndarray  # float64 shrunk mean log gap between purchase days
    repeat_share: np.ndarray  # share of buyers who bought it on two or more days
    penetration: np.ndarray  # buyers in the last 4 weeks / members who shopped then
    buyer_share: np.ndarray  # share of members with history who ever bought it
    trend: np.ndarray  # log of (last 2 weeks' purchase days / 2-week average of last 12 weeks)
    hazard: "GapHazard | None" = None  # the item's empirical repurchase hazard by days since last


# Day bins of the gap between two purchase days of a pair: fine where cycles are short.
GAP_EDGES = np.array([1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 17, 21, 25, 30, 36, 43, 52, 62, 75, 90, 110,
                      135, 165, 200, 250, 300, 366], dtype=np.float64)
HAZARD_PRIOR_AT_RISK = 20.0  # pseudo at-risk spells per bin pulling an item toward its parent


@dataclass(frozen=True)
class GapHazard:
    """Kaplan-Meier style repurchase hazard per item on ``GAP_EDGES`` bins, from every gap
    between consecutive purchase days (events) and every open spell since the last purchase
    (censored), shrunk toward all items' hazard.

    Unlike the gamma renewal of one shrunk mean interval, it keeps each item's own shape: a
    weekly staple's hazard peaks at 7 days, a snack's is flat.
    """

    cumulative: np.ndarray  # (items, bins + 1) cumulative hazard at the bin edges
    rate: np.ndarray  # (items, bins) constant hazard rate per day inside each bin
    row_of_item: np.ndarray | None = None  # table row per item when the table is the parent's

    def renewal(self, item: np.ndarray, since: np.ndarray, horizon: int) -> np.ndarray:
        """P(next purchase within ``horizon`` days | none in the ``since`` days so far)."""
        row = item if self.row_of_item is None else self.row_of_item[item]
        return -np.expm1(-(self._cum(row, since + horizon) - self._cum(row, since)))

    def _cum(self, item: np.ndarray, day: np.ndarray) -> np.ndarray:
        day = np.clip(day.astype(np.float64), GAP_EDGES[0], GAP_EDGES[-1])
        b = np.minimum(np.searchsorted(GAP_EDGES, day, side="right") - 1, GAP_EDGES.shape[0] - 2)
        return self.cumulative[item, b] + self.rate[item, b] * (day - GAP_EDGES[b])


def gap_counts(pairs: PairAggregates, events: PurchaseEvents, start: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per item and gap bin: observed gaps (events) and open spells since the last purchase
    (censored), as integer counts: they add up exactly across member shards."""
    n_items = pairs.n_items
    keep = events.day < pairs.cutoff
    if start is not None:
        keep &= events.day >= start
    item, member, day = events.item[keep], events.member[keep], events.day[keep]
    same = np.zeros(day.shape[0], dtype=bool)
    same[1:] = (item[1:] == item[:-1]) & (member[1:] == member[:-1])
    gap = np.diff(day, prepend=day[:1]).astype(np.float64)[same]
    observed = _bin_counts(item[same], gap, n_items)
    censored = _bin_counts(pairs.item, (pairs.cutoff - pairs.last_day).astype(np.float64), n_items)
    return observed, censored


def hazard_from_counts(observed: np.ndarray, censored: np.ndarray) -> GapHazard:
    n_items, n_bins = observed.shape[0], GAP_EDGES.shape[0] - 1
    observed, censored = observed.astype(np.float64), censored.astype(np.float64)
    at_risk = np.cumsum((observed + censored)[:, ::-1], axis=1)[:, ::-1]
    prior = (observed.sum(axis=0) / np.maximum(at_risk.sum(axis=0), 1.0))[None, :]
    share = (observed + HAZARD_PRIOR_AT_RISK * prior) / (at_risk + HAZARD_PRIOR_AT_RISK)
    rate = -np.log1p(-np.clip(share, 0.0, 1 - 1e-6)) / np.diff(GAP_EDGES)[None, :]
    cumulative = np.zeros((n_items, n_bins + 1))
    np.cumsum(rate * np.diff(GAP_EDGES)[None, :], axis=1, out=cumulative[:, 1:])
    return GapHazard(cumulative, rate)


def _bin_counts(item: np.ndarray, gap: np.ndarray, n_items: int) -> np.ndarray:
    n_bins = GAP_EDGES.shape[0] - 1
    b = np.clip(np.searchsorted(GAP_EDGES, gap, side="right") - 1, 0, n_bins - 1)
    cells = item.astype(np.int64) * n_bins + b
    return np.bincount(cells, minlength=n_items * n_bins).reshape(n_items, n_bins).astype(np.float64)


@dataclass
class ItemPartials:
    """What the members of one shard contribute to the item facts at a cut-off: integer
    counts and fixed-point sums only, so shards add up exactly (``+``) in any order."""

    log_sum: np.ndarray  # int64 fixed-point sum of log gaps per item (exact.FIXED_BITS)
    gap_count: np.ndarray  # int64 gaps between purchase days per item
    buyers: np.ndarray  # int64
    repeaters: np.ndarray  # int64
    recent_buyers: np.ndarray  # int64 buyers in the last 4 weeks
    count_12w: np.ndarray  # int64 purchase days in the last 12 weeks
    count_2w: np.ndarray  # int64 ... in the last 2 weeks
    shoppers: int  # members with a trip in the last 8 weeks
    with_history: int  # members with a trip before the cut-off
    hazard_observed: np.ndarray | None = None  # int64 (items, bins), need level only
    hazard_censored: np.ndarray | None = None

    def __add__(self, other: "ItemPartials") -> "ItemPartials":
        def add(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
            return None if a is None or b is None else a + b

        return ItemPartials(
            self.log_sum + other.log_sum, self.gap_count + other.gap_count, self.buyers + other.buyers,
            self.repeaters + other.repeaters, self.recent_buyers + other.recent_buyers,
            self.count_12w + other.count_12w, self.count_2w + other.count_2w,
            self.shoppers + other.shoppers, self.with_history + other.with_history,
            add(self.hazard_observed, other.hazard_observed), add(self.hazard_censored, other.hazard_censored),
        )


def _count(index: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(index, minlength=n).astype(np.int64)


def item_partials(
    pairs: PairAggregates, events: PurchaseEvents, members: MemberAggregates, with_hazard: bool,
    start: int | None = None,
) -> ItemPartials:
    """This shard's counts behind :func:`finish_item_stats` (members: the shard's, dense)."""
    n_items = pairs.n_items
    repeat = pairs.count >= 2
    gaps = (pairs.count - 1)[repeat].astype(np.int64)
    log_sum = fixed_bincount(
        pairs.item[repeat], to_fixed(pairs.log_gap_mean[repeat].astype(np.float64) * gaps), n_items)
    gap_count = np.rint(np.bincount(pairs.item[repeat], weights=gaps, minlength=n_items)).astype(np.int64)
    cutoff = pairs.cutoff
    in_12w = (events.day >= cutoff - 84) & (events.day < cutoff)
    last_2w = in_12w & (events.day >= cutoff - 14)
    observed, censored = gap_counts(pairs, events, start) if with_hazard else (None, None)
    return ItemPartials(
        log_sum=log_sum, gap_count=gap_count, buyers=_count(pairs.item, n_items),
        repeaters=_count(pairs.item[repeat], n_items), recent_buyers=_count(pairs.item[pairs.recent_28 > 0], n_items),
        count_12w=_count(events.item[in_12w], n_items), count_2w=_count(events.item[last_2w], n_items),
        shoppers=int((members.trips_8w > 0).sum()), with_history=int((members.trips > 0).sum()),
        hazard_observed=None if observed is None else observed.astype(np.int64),
        hazard_censored=None if censored is None else censored.astype(np.int64),
    )


def finish_item_stats(
    partials: ItemPartials, parent: np.ndarray | None = None, parent_stats: "ItemStats | None" = None,
) -> ItemStats:
    """Item facts from the chain's summed partials; an item's interval is shrunk toward its
    parent's (sku -> subcategory) or the overall mean when it has few repeat buyers."""
    p = partials
    n_items = p.buyers.shape[0]
    log_sum = from_fixed(p.log_sum)
    gap_count = p.gap_count.astype(np.float64)
    total_gaps = float(gap_count.sum())
    overall = float(np.asarray(log_sum).sum()) / total_gaps if total_gaps > 0 else np.log(28.0)
    parent_log_interval = None if parent_stats is None else parent_stats.log_interval
    if parent is not None and parent_log_interval is not None:
        prior = parent_log_interval[parent]
    else:
        prior = np.full(n_items, overall)
    strength = 5.0
    log_interval = (log_sum + strength * prior) / (gap_count + strength)
    buyers = p.buyers.astype(np.float64)
    repeat_share = (p.repeaters + 1.0) / (buyers + 2.0)
    penetration = (p.recent_buyers + 0.1) / max(float(p.shoppers), 1.0)
    trend = np.log((p.count_2w + 1.0) / (p.count_12w / 6.0 + 1.0))
    with_history = max(float(p.with_history), 1.0)
    if parent is not None and parent_stats is not None and parent_stats.hazard is not None:
        # Skus use their subcategory's hazard shape (a per-sku table is costly on a large
        # catalog and added nothing measurable on the grocery sample).
        hazard = GapHazard(parent_stats.hazard.cumulative, parent_stats.hazard.rate, parent)
    elif p.hazard_observed is not None and p.hazard_censored is not None:
        hazard = hazard_from_counts(p.hazard_observed, p.hazard_censored)
    else:
        hazard = None
    return ItemStats(log_interval, repeat_share, penetration, (buyers + 0.1) / with_history, trend, hazard)


@dataclass(frozen=True)
class PairCycle:
    interval: np.ndarray  # shrunk mean gap (days)
    since: np.ndarray  # days since the last purchase
    ratio: np.ndarray  # since / interval: where the member is in the cycle
    renewal_probability: np.ndarray  # P(next purchase in the horizon | none since the last)


def gamma_survival(shape: float, x: np.ndarray) -> np.ndarray:
    """P(gamma(shape, 1) > x); for a whole-number shape the closed form
    ``exp(-x) * sum_{i < shape} x**i / i!`` (several times faster than ``gammaincc``)."""
    if shape != int(shape) or not 1 <= shape <= 8:
        return gammaincc(shape, x)
    term = np.ones_like(x)
    total = np.ones_like(x)
    for i in range(1, int(shape)):
        term = term * x / i
        total += term
    return total * np.exp(-x)


def pair_cycle(
    pairs: PairAggregates, stats: ItemStats, horizon_days: int, prior_strength: float, shape: float
) -> PairCycle:
    gaps = pairs.count.astype(np.float64) - 1.0
    log_interval = (gaps * pairs.log_gap_mean + prior_strength * stats.log_interval[pairs.item]) / (
        gaps + prior_strength
    )
    interval = np.exp(log_interval)
    since = (pairs.cutoff - pairs.last_day).astype(np.float64)
    scale = interval / shape
    survive_now = gamma_survival(shape, since / scale)
    survive_end = gamma_survival(shape, (since + horizon_days) / scale)
    renewal = np.clip((survive_now - survive_end) / np.maximum(survive_now, 1e-12), 1e-4, 1 - 1e-4)
    # Far past the cycle both tails vanish: the renewal chance tends to the constant hazard.
    far = survive_now < 1e-9
    renewal = np.where(far, 1 - np.exp(-horizon_days * shape / interval), renewal)
    return PairCycle(interval, since, since / interval, renewal)


BASE_FEATURES = (
    "log_purchase_days",
    "log_decayed_14", "log_decayed_28", "log_decayed_56", "log_decayed_112",
    "log_days_since_last",
    "log_cycle_position",
    "log_interval",
    "logit_renewal",
    "log_recent_28",
    "log_per_trip_rate",
    "log_decayed_share_of_trips",
    "log_trips_since_last",
    "log_member_trips_8w",
    "log_member_days_since_trip",
    "log_member_tenure",
    "log_item_repeat_share",
    "log_item_penetration",
    "log_item_buyer_share",
    "item_trend",
    "logit_item_hazard_renewal",
    "log_gap_sd",
    "log_since_over_item_interval",
)
NEED_JOIN_FEATURES = (
    "need_log_purchase_days", "need_log_decayed_56", "need_log_days_since_last",
    "need_log_cycle_position", "need_logit_renewal", "need_log_interval",
    "choice_share_decayed_28", "choice_share_decayed_112", "choice_share_purchase_days",
    "choice_is_last_in_need", "log_skus_in_need", "need_trend",
)


def feature_matrix(columns: list[np.ndarray]) -> np.ndarray:
    """float32 (rows, features) in column-major order: the re-rankers read one feature
    column at a time, which is contiguous only in this layout."""
    n = columns[0].shape[0] if columns else 0
    out = np.empty((n, len(columns)), dtype=np.float32, order="F")
    for j, column in enumerate(columns):
        out[:, j] = column
    return out


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-5, 1 - 1e-5)
    return np.log(p / (1 - p))


def base_features(
    pairs: PairAggregates,
    members: MemberAggregates,
    stats: ItemStats,
    cycle: PairCycle,
    trips: TripIndex,
    horizon_days: int = 14,
) -> np.ndarray:
    """The ``BASE_FEATURES`` matrix (float32, one row per pair)."""
    m = pairs.member
    cutoff = pairs.cutoff
    trips_total = np.maximum(members.trips[m], 1.0)
    decayed_trips = np.maximum(members.decayed_trips[m], 0.05)
    trips_since = trips.trips_between(m, pairs.last_day.astype(np.int64) + 1, cutoff)
    renewal = cycle.renewal_probability
    item = pairs.item
    columns = [
        np.log((pairs.count + 0.5) / np.maximum((cutoff - members.first_day[m]) / 7.0, 1.0)),  # purchase days per week observed
        *[np.log1p(pairs.decayed[:, j]) for j in range(4)],
        np.log1p(cycle.since),
        np.log(cycle.ratio + 0.05),
        np.log(cycle.interval),
        np.log(renewal / (1 - renewal)),
        np.log1p(pairs.recent_28),
        np.log(pairs.count / trips_total + 0.01),
        np.log((pairs.decayed[:, 2] + 0.01) / decayed_trips),
        np.log1p(trips_since),
        np.log1p(members.trips_8w[m]),
        np.log1p(cutoff - members.last_day[m]),
        np.log1p(np.minimum(cutoff - members.first_day[m], 56)),  # capped: beyond, tenure would only say "which window"
        np.log(stats.repeat_share[item]),
        np.log(stats.penetration[item]),
        np.log(stats.buyer_share[item]),
        stats.trend[item],
        _logit(stats.hazard.renewal(item, cycle.since, horizon_days) if stats.hazard is not None
               else renewal),
        np.log(pairs.log_gap_sd + 0.05),
        np.log((cycle.since + 1.0) / np.exp(stats.log_interval[item])),
    ]
    return feature_matrix(columns)


def need_join_features(
    sku_pairs: PairAggregates,
    need_pairs: PairAggregates,
    need_of_sku: np.ndarray,
    need_cycle: PairCycle,
    need_stats: ItemStats,
) -> tuple[np.ndarray, np.ndarray]:
    """Need-level (subcategory) features joined onto sku pairs, plus the sku's choice share.

    Returns the ``NEED_JOIN_FEATURES`` matrix and, per sku pair, the row of its need pair.
    """
    need_key = sku_pairs.member.astype(np.int64) * need_pairs.n_items + need_of_sku[sku_pairs.item]
    row = np.searchsorted(need_pairs.pair_key(), need_key)
    renewal = need_cycle.renewal_probability[row]
    skus_in_need = np.bincount(row, minlength=len(need_pairs))[row]
    columns = [
        np.log1p(need_pairs.count[row]),
        np.log1p(need_pairs.decayed[row, 2]),
        np.log1p(need_cycle.since[row]),
        np.log(need_cycle.ratio[row] + 0.05),
        np.log(renewal / (1 - renewal)),
        np.log(need_cycle.interval[row]),
        np.log((sku_pairs.decayed[:, 1] + 0.01) / (need_pairs.decayed[row, 1] + 0.01)),
        np.log((sku_pairs.decayed[:, 3] + 0.01) / (need_pairs.decayed[row, 3] + 0.01)),
        np.log(sku_pairs.count / need_pairs.count[row]),
        (sku_pairs.last_day == need_pairs.last_day[row]).astype(np.float64),
        np.log(skus_in_need),
        need_stats.trend[need_pairs.item[row]],
    ]
    return feature_matrix(columns), row


def expected_next_day(cycle: PairCycle, cutoff: int, shape: float) -> np.ndarray:
    """Expected purchase day: the median next-purchase day given none since the last purchase.

    Under gamma gaps that is ``last + scale * Q^-1(shape, S(since) / 2)``; far in the tail the
    conditional gap is memoryless and the median is ``scale * ln 2`` from today. In units of
    ``scale`` the remaining time depends on ``since / scale`` only, so it is read from a table
    (millions of pairs; the inverse incomplete gamma is slow).
    """
    scale = cycle.interval / shape
    grid, remaining_in_scales = _median_remaining_table(float(shape))
    remaining = scale * np.interp(cycle.since / scale, grid, remaining_in_scales)
    return (cutoff + np.maximum(np.rint(remaining), 0)).astype(np.int32)


@lru_cache(maxsize=8)
def _median_remaining_table(shape: float) -> tuple[np.ndarray, np.ndarray]:
    """(since / scale, median remaining time / scale) on a fine grid, for gamma gaps."""
    grid = np.concatenate([[0.0], np.geomspace(1e-4, 200.0, 8191)])
    survive = gammaincc(shape, grid)
    tail = survive < 1e-12
    remaining = np.where(tail, np.log(2.0), gammainccinv(shape, np.where(tail, 0.5, survive / 2.0)) - grid)
    return grid, remaining
