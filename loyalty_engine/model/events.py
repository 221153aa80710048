"""Purchase events and their aggregates per (member, item), per member and per item.

An *item* is a product (sku level) or a subcategory (need level). A *purchase event* is a day
on which a member bought an item (several units or lines that day count once), which is what
"how often do they buy it" means to a shopper. Everything is computed for all members at once
from arrays sorted by (member, item, day); a cut-off day gives the state of knowledge then,
so the same code builds the training examples at earlier cut-offs and the live features.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .arrays import run_starts, unique_sorted
from .history import ScanHistory


@dataclass(frozen=True)
class PurchaseEvents:
    """Unique (member, item, day) purchase days, sorted by member, item, day."""

    member: np.ndarray  # int32 member position
    item: np.ndarray  # int32 item code
    day: np.ndarray  # int32
    n_members: int
    n_items: int

    def __len__(self) -> int:
        return int(self.day.shape[0])

    def pair_key(self) -> np.ndarray:
        return self.member.astype(np.int64) * self.n_items + self.item

    def for_members(self, keep_member: np.ndarray) -> "PurchaseEvents":
        """Events of the members flagged in the boolean array ``keep_member``."""
        keep = keep_member[self.member]
        return PurchaseEvents(self.member[keep], self.item[keep], self.day[keep], self.n_members, self.n_items)


def purchase_events(history: ScanHistory, item_of_product: np.ndarray, n_items: int) -> PurchaseEvents:
    """Purchase days of every (member, item); returns and zero-quantity lines are not purchases."""
    bought = history.quantity > 0
    member = history.member_pos[bought].astype(np.int64)
    item = item_of_product[history.product_pos[bought]].astype(np.int64)
    day = history.day[bought].astype(np.int64)
    n_members = len(history.members)
    if day.shape[0] == 0:
        empty = np.empty(0, dtype=np.int32)
        return PurchaseEvents(empty, empty, empty, n_members, n_items)
    first = int(day.min())
    span = int(day.max()) - first + 1
    key = (member * n_items + item) * span + (day - first)
    key = unique_sorted(key)
    rel = key % span
    pair = key // span
    return PurchaseEvents(
        member=(pair // n_items).astype(np.int32),
        item=(pair % n_items).astype(np.int32),
        day=(rel + first).astype(np.int32),
        n_members=n_members,
        n_items=n_items,
    )


def trip_days(history: ScanHistory) -> tuple[np.ndarray, np.ndarray]:
    """Unique (member position, day) shopping trips, sorted; returns the two arrays."""
    member = history.member_pos.astype(np.int64)
    if member.shape[0] == 0:
        empty = np.empty(0, dtype=np.int32)
        return empty, empty
    first = int(history.day.min())
    span = int(history.day.max()) - first + 1
    key = unique_sorted(member * span + (history.day.astype(np.int64) - first))
    return (key // span).astype(np.int32), (key % span + first).astype(np.int32)


@dataclass(frozen=True)
class PairAggregates:
    """What is known about each (member, item) pair bought before ``cutoff``."""

    cutoff: int
    member: np.ndarray  # int32
    item: np.ndarray  # int32
    count: np.ndarray  # float32 purchase days
    first_day: np.ndarray  # int32
    last_day: np.ndarray  # int32
    prev_day: np.ndarray  # int32 purchase day before the last (== last_day when count == 1)
    decayed: np.ndarray  # float32 (n_pairs, n_half_lives) sum of 0.5**(age/half_life)
    recent_28: np.ndarray  # float32 purchase days in the last 4 weeks
    log_gap_mean: np.ndarray  # float32 mean log gap between purchase days (0 when count < 2)
    log_gap_sd: np.ndarray  # float32 standard deviation of the log gaps (0 when count < 3): regularity
    n_items: int

    def __len__(self) -> int:
        return int(self.member.shape[0])

    def pair_key(self) -> np.ndarray:
        return self.member.astype(np.int64) * self.n_items + self.item

    def rows(self, start: int, stop: int) -> "PairAggregates":
        """A contiguous slice of pairs (to build features in bounded-memory chunks)."""
        sl = slice(start, stop)
        return PairAggregates(
            self.cutoff, self.member[sl], self.item[sl], self.count[sl], self.first_day[sl],
            self.last_day[sl], self.prev_day[sl], self.decayed[sl], self.recent_28[sl],
            self.log_gap_mean[sl], self.log_gap_sd[sl], self.n_items,
        )


def pair_aggregates(
    events: PurchaseEvents, cutoff: int, half_lives: tuple[float, ...], start: int | None = None
) -> PairAggregates:
    """Aggregate the events with ``start <= day < cutoff`` per (member, item)."""
    keep = events.day < cutoff
    if start is not None:
        keep &= events.day >= start
    member = events.member[keep]
    item = events.item[keep]
    day = events.day[keep]
    n = day.shape[0]
    if n == 0:
        e32 = np.empty(0, dtype=np.int32)
        ef = np.empty(0, dtype=np.float32)
        return PairAggregates(cutoff, e32, e32, ef, e32, e32, e32, np.empty((0, len(half_lives)), np.float32), ef, ef, ef,
                              events.n_items)
    new_pair = np.empty(n, dtype=bool)
    new_pair[0] = True
    new_pair[1:] = (member[1:] != member[:-1]) | (item[1:] != item[:-1])
    starts = np.flatnonzero(new_pair)
    ends = np.append(starts[1:], n) - 1
    count = (ends - starts + 1).astype(np.float32)
    age = (cutoff - day).astype(np.float64)
    decayed = np.empty((starts.shape[0], len(half_lives)), dtype=np.float32)
    for j, half_life in enumerate(half_lives):
        decayed[:, j] = np.add.reduceat(np.exp2(-age / half_life), starts)
    recent = np.add.reduceat((age <= 28).astype(np.float32), starts)
    # Gaps between consecutive purchase days of the same pair.
    gap = np.zeros(n, dtype=np.float64)
    gap[1:] = np.diff(day)
    gap[new_pair] = 0.0
    log_gap = np.where(new_pair, 0.0, np.log(np.maximum(gap, 1.0)))
    n_gaps = count - 1
    log_gap_mean = np.where(n_gaps > 0, np.add.reduceat(log_gap, starts) / np.maximum(n_gaps, 1), 0.0)
    mean_square = np.where(n_gaps > 0, np.add.reduceat(log_gap**2, starts) / np.maximum(n_gaps, 1), 0.0)
    log_gap_sd = np.where(n_gaps > 1, np.sqrt(np.maximum(mean_square - log_gap_mean**2, 0.0)), 0.0)
    prev = np.where(count > 1, day[np.maximum(ends - 1, 0)], day[ends])
    return PairAggregates(
        cutoff=cutoff,
        member=member[starts],
        item=item[starts],
        count=count,
        first_day=day[starts],
        last_day=day[ends],
        prev_day=prev.astype(np.int32),
        decayed=decayed,
        recent_28=recent.astype(np.float32),
        log_gap_mean=log_gap_mean.astype(np.float32),
        log_gap_sd=log_gap_sd.astype(np.float32),
        n_items=events.n_items,
    )


def window_pairs(events: PurchaseEvents, start: int, end: int) -> np.ndarray:
    """Sorted unique pair keys (member * n_items + item) bought in ``[start, end)``."""
    keep = (events.day >= start) & (events.day < end)
    return unique_sorted(events.member[keep].astype(np.int64) * events.n_items + events.item[keep])


def in_sorted(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Boolean mask: which ``keys`` occur in ``sorted_keys``."""
    if sorted_keys.shape[0] == 0:
        return np.zeros(keys.shape, dtype=bool)
    pos = np.searchsorted(sorted_keys, keys)
    pos = np.minimum(pos, sorted_keys.shape[0] - 1)
    return sorted_keys[pos] == keys


@dataclass(frozen=True)
class MemberAggregates:
    """Shopping-trip facts per member (dense over all members) at ``cutoff``."""

    cutoff: int
    trips: np.ndarray  # float32 trip days before cutoff
    trips_8w: np.ndarray  # float32 trip days in the last 8 weeks
    first_day: np.ndarray  # int32 (cutoff when none)
    last_day: np.ndarray  # int32 (NO trips -> cutoff)
    decayed_trips: np.ndarray  # float32 sum 0.5**(age/56)

    @property
    def has_history(self) -> np.ndarray:
        return self.trips > 0

    @property
    def weekly_trip_rate(self) -> np.ndarray:
        """Trips per week over the member's observed life (at least one week)."""
        weeks = np.maximum((self.cutoff - self.first_day) / 7.0, 1.0)
        return (self.trips / weeks).astype(np.float32)


def first_last_trip(member: np.ndarray, day: np.ndarray, first: np.ndarray, last: np.ndarray,
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Each member's first and last trip day written into ``first`` and ``last`` (per member,
    holding the value for members without a trip); ``member``/``day`` sorted by (member, day)."""
    if member.shape[0]:
        starts = run_starts(member)
        ends = np.r_[starts[1:] - 1, member.shape[0] - 1]
        first[member[starts]] = day[starts]
        last[member[ends]] = day[ends]
    return first, last


def member_aggregates(
    trip_member: np.ndarray, trip_day: np.ndarray, n_members: int, cutoff: int
) -> MemberAggregates:
    keep = trip_day < cutoff
    member = trip_member[keep]
    day = trip_day[keep]
    trips = np.bincount(member, minlength=n_members).astype(np.float32)
    trips_8w = np.bincount(member, weights=(day >= cutoff - 56), minlength=n_members).astype(np.float32)
    first, last = first_last_trip(member, day, np.full(n_members, cutoff, dtype=np.int32),
                                  np.full(n_members, cutoff, dtype=np.int32))
    decayed = np.bincount(
        member, weights=np.exp2(-(cutoff - day) / 56.0), minlength=n_members
    ).astype(np.float32)
    return MemberAggregates(cutoff, trips, trips_8w, first, last, decayed)


class TripIndex:
    """Shopping trips sorted by (member, day), to count trips between two days quickly."""

    def __init__(self, trip_member: np.ndarray, trip_day: np.ndarray) -> None:
        self.member = trip_member
        self.day = trip_day
        self._offset = int(trip_day.min()) if trip_day.shape[0] else 0
        self._span = (int(trip_day.max()) - self._offset + 2) if trip_day.shape[0] else 1
        self._key = self._keys(trip_member, trip_day)

    def _keys(self, member: np.ndarray, day: np.ndarray | int) -> np.ndarray:
        rel = np.clip(np.asarray(day, dtype=np.int64) - self._offset, -1, self._span - 1) + 1
        return member.astype(np.int64) * (self._span + 1) + rel

    def trips_before(self, member: np.ndarray, day: np.ndarray | int) -> np.ndarray:
        """Number of the member's trips strictly before ``day`` (per element)."""
        first = np.searchsorted(self._key, self._keys(member, np.full(member.shape, -10**9)))
        return np.searchsorted(self._key, self._keys(member, day)) - first

    def trips_between(self, member: np.ndarray, start: np.ndarray | int, end: np.ndarray | int) -> np.ndarray:
        """Trips on days in ``[start, end)``."""
        return np.searchsorted(self._key, self._keys(member, end)) - np.searchsorted(
            self._key, self._keys(member, start)
        )
