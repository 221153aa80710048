"""Scan times made explicit: the store's wall clock plus the UTC offset in force.

A ``scanned_at`` without an offset is the store's wall clock (in the store's IANA zone). With
``Z`` or ``+hh:mm`` it is an instant, converted to the store's wall clock. Daylight-saving
transitions are handled deliberately, vectorized per zone:

* a wall-clock time inside the spring-forward gap (02:30 on the day clocks jump 02:00 -> 03:00)
  never happened; the lane clock had not been moved yet, so it is read with the offset in force
  just before the gap (02:30 CST = 03:30 CDT) and stored as the legal local time 03:30;
* a wall-clock time inside the fall-back overlap (01:30 happens twice) is read as the first
  occurrence (daylight time). The basket's business date and hour are the same either way.

Both are counted in the import report.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

_LOOKBACK = np.timedelta64(3, "h")  # far enough to leave any DST gap, never near another one


@dataclass
class LocalTimes:
    local: np.ndarray  # datetime64[us], store wall clock
    offset_minutes: np.ndarray  # int64, local - UTC
    in_gap: np.ndarray  # bool: naive time in a spring-forward gap
    ambiguous: np.ndarray  # bool: naive time in a fall-back overlap


def to_store_local(naive: np.ndarray, offset_minutes: np.ndarray, has_offset: np.ndarray,
                   zones: np.ndarray) -> LocalTimes:
    """Per row: the clock reading as written, the offset written (if any), and the store's zone."""
    n = len(naive)
    naive = naive.astype("datetime64[us]")
    utc = np.full(n, np.datetime64("NaT", "us"))
    in_gap = np.zeros(n, dtype=bool)
    ambiguous = np.zeros(n, dtype=bool)
    usable = ~np.isnat(naive)
    written_utc = naive - offset_minutes.astype("timedelta64[m]")
    utc[usable & has_offset] = written_utc[usable & has_offset]
    # Hashing, not sorting: np.unique sorts the rows' zone names (Python strings) every chunk.
    zone_of_row, zone_names = pd.factorize(zones.astype(str))
    for z, zone in enumerate(zone_names):
        rows = np.flatnonzero((zone_of_row == z) & usable & ~has_offset)
        if len(rows) == 0:
            continue
        utc[rows], in_gap[rows], ambiguous[rows] = _wall_clock_to_utc(naive[rows], zone)
    local = np.full(n, np.datetime64("NaT", "us"))
    for z, zone in enumerate(zone_names):
        rows = np.flatnonzero((zone_of_row == z) & usable)
        if len(rows) == 0:
            continue
        stamps = pd.DatetimeIndex(utc[rows]).tz_localize("UTC").tz_convert(zone).tz_localize(None)
        local[rows] = stamps.to_numpy().astype("datetime64[us]")
    offsets = np.zeros(n, dtype=np.int64)
    offsets[usable] = ((local[usable] - utc[usable]) // np.timedelta64(1, "m")).astype(np.int64)
    return LocalTimes(local=local, offset_minutes=offsets, in_gap=in_gap, ambiguous=ambiguous)


def _wall_clock_to_utc(naive: np.ndarray, zone: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    index = pd.DatetimeIndex(naive)
    strict = index.tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
    utc = strict.tz_convert("UTC").tz_localize(None).to_numpy().astype("datetime64[us]")
    unresolved = np.flatnonzero(np.isnat(utc))
    in_gap = np.zeros(len(naive), dtype=bool)
    ambiguous = np.zeros(len(naive), dtype=bool)
    if len(unresolved) == 0:
        return utc, in_gap, ambiguous
    odd = pd.DatetimeIndex(naive[unresolved])
    first_occurrence = odd.tz_localize(zone, ambiguous=np.ones(len(odd), dtype=bool), nonexistent="NaT")
    as_dst = first_occurrence.tz_convert("UTC").tz_localize(None).to_numpy().astype("datetime64[us]")
    is_ambiguous = ~np.isnat(as_dst)
    utc[unresolved[is_ambiguous]] = as_dst[is_ambiguous]
    ambiguous[unresolved[is_ambiguous]] = True
    gap = unresolved[~is_ambiguous]
    if len(gap):
        # The offset in force before the gap: localize a time safely before it, keep its offset.
        earlier = naive[gap] - _LOOKBACK
        earlier_utc = (pd.DatetimeIndex(earlier).tz_localize(zone, ambiguous=np.ones(len(gap), dtype=bool),
                                                              nonexistent="shift_forward")
                       .tz_convert("UTC").tz_localize(None).to_numpy().astype("datetime64[us]"))
        utc[gap] = earlier_utc + _LOOKBACK
        in_gap[gap] = True
    return utc, in_gap, ambiguous
