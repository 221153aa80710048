"""List cadence: every member gets a list every ``period_days``; two cohorts on alternate weeks.

A member's cohort is a fixed hash of the member key (about half and half, and stable as
members join). A period start date belongs to cohort A on even weeks counted from the
anchor Monday and to cohort B on odd weeks, so each week prints about half of the lists.
"""
from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from .selection import uniform_hash

COHORTS = ("A", "B")
_COHORT_SALT = 0x5EED_C0DE


def member_cohorts(member_keys: np.ndarray) -> np.ndarray:
    """'A' or 'B' for each member key (object array)."""
    draw = uniform_hash(_COHORT_SALT, np.asarray(member_keys, dtype=np.int64))
    return np.where(draw < 0.5, "A", "B").astype(object)


def cohort_for_date(period_start: date, anchor: date = date(2001, 1, 1)) -> str:
    return COHORTS[((period_start - anchor).days // 7) % 2]


def period_end(period_start: date, period_days: int = 14) -> date:
    """Last day (inclusive) of a period."""
    return period_start + timedelta(days=period_days - 1)


def next_period_start(today: date, weekday: int = 0) -> date:
    """The next day on ``weekday`` (0 = Monday) strictly after ``today``."""
    ahead = (weekday - today.weekday()) % 7 or 7
    return today + timedelta(days=ahead)


def holdout_seed(period_start: date, cohort: str, salt: int = 0) -> int:
    """The member hold-out seed of a period: derived from the period so a replay draws the same."""
    base = np.array([period_start.toordinal() * 2 + COHORTS.index(cohort)], dtype=np.int64)
    return int(uniform_hash(0xA11_CE5 ^ salt, base)[0] * (2**53))
