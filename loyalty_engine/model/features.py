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

import numpy as np
from scipy.special import gammaincc

from .events import MemberAggregates, PairAggregates, PurchaseEvents, TripIndex


@dataclass(frozen=True)
class ItemStats:
    """Population facts per item at a cut-off."""

    log_interval: np.ndarray  # float64 shrunk mean log gap between purchase days
    repeat_share: np.ndarray  # share of buyers who bought it on two or more days
    penetration: np.ndarray  # buyers in the last 4 weeks / members who shopped then
    buyer_share: np.ndarray  # share of members with history who ever bought it
    trend: np.ndarray  # log of (last 2 weeks' purchase days / 2-week average of last 12 weeks)


def item_stats(
    pairs: PairAggregates,
    events: PurchaseEvents,
    members: MemberAggregates,
    parent: np.ndarray | None = None,
    parent_log_interval: np.ndarray | None = None,
) -> ItemStats:
    """Item facts; an item's interval is shrunk toward its parent's (sku -> subcategory) or the
    overall mean when it has few repeat buyers."""
    n_items = pairs.n_items
    repeat = pairs.count >= 2
    gaps = (pairs.count - 1)[repeat].astype(np.float64)
    log_sum = np.bincount(pairs.item[repeat], weights=pairs.log_gap_mean[repeat] * gaps, minlength=n_items)
    gap_count = np.bincount(pairs.item[repeat], weights=gaps, minlength=n_items)
    overall = log_sum.sum() / gap_count.sum() if gap_count.sum() > 0 else np.log(28.0)
    if parent is not None and parent_log_interval is not None:
        prior = parent_log_interval[parent]
    else:
        prior = np.full(n_items, overall)
    strength = 5.0
    log_interval = (log_sum + strength * prior) / (gap_count + strength)

    buyers = np.bincount(pairs.item, minlength=n_items).astype(np.float64)
    repeaters = np.bincount(pairs.item[repeat], minlength=n_items)
    repeat_share = (repeaters + 1.0) / (buyers + 2.0)
    shoppers = max(float((members.trips_8w > 0).sum()), 1.0)
    recent_buyers = np.bincount(pairs.item[pairs.recent_28 > 0], minlength=n_items)
    penetration = (recent_buyers + 0.1) / shoppers

    cutoff = pairs.cutoff
    in_12w = (events.day >= cutoff - 84) & (events.day < cutoff)
    last_2w = in_12w & (events.day >= cutoff - 14)
    count_12w = np.bincount(events.item[in_12w], minlength=n_items)
    count_2w = np.bincount(events.item[last_2w], minlength=n_items)
    trend = np.log((count_2w + 1.0) / (count_12w / 6.0 + 1.0))
    with_history = max(float((members.trips > 0).sum()), 1.0)
    return ItemStats(log_interval, repeat_share, penetration, (buyers + 0.1) / with_history, trend)


@dataclass(frozen=True)
class PairCycle:
    interval: np.ndarray  # shrunk mean gap (days)
    since: np.ndarray  # days since the last purchase
    ratio: np.ndarray  # since / interval: where the member is in the cycle
    renewal_probability: np.ndarray  # P(next purchase in the horizon | none since the last)


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
    survive_now = gammaincc(shape, since / scale)
    survive_end = gammaincc(shape, (since + horizon_days) / scale)
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


def base_features(
    pairs: PairAggregates,
    members: MemberAggregates,
    stats: ItemStats,
    cycle: PairCycle,
    trips: TripIndex,
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
        np.log1p(pairs.count),
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
        np.log1p(cutoff - members.first_day[m]),
        np.log(stats.repeat_share[item]),
        np.log(stats.penetration[item]),
        np.log(stats.buyer_share[item]),
        stats.trend[item],
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
    conditional gap is memoryless and the median is ``scale * ln 2`` from today.
    """
    from scipy.special import gammainccinv

    scale = cycle.interval / shape
    survive = gammaincc(shape, cycle.since / scale)
    tail = survive < 1e-9
    gap = scale * gammainccinv(shape, np.where(tail, 0.5, survive / 2.0))
    remaining = np.where(tail, scale * np.log(2.0), gap - cycle.since)
    return (cutoff + np.maximum(np.rint(remaining), 0)).astype(np.int32)
