"""A basket's time at its store: the local wall clock, the UTC offset and the business date.

The lane sends ``scanned_at`` (naive = the store's wall clock, or with an offset); the store's
IANA zone comes with the lane's key. A basket from the future (beyond the lane clock's skew)
or older than :data:`MAX_BASKET_AGE` is refused.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import Unprocessable

MAX_FUTURE_SKEW = timedelta(minutes=15)
MAX_BASKET_AGE = timedelta(days=30)


@lru_cache(maxsize=256)
def store_zone(name: str) -> ZoneInfo:
    """The store's time zone (UTC for a name this machine does not know)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def business_date_guess(scanned_at: datetime, tz_name: str) -> date:
    """The business date, read before the key is checked (a card's list depends on it)."""
    zone = store_zone(tz_name)
    try:
        return (scanned_at.replace(tzinfo=zone) if scanned_at.tzinfo is None else scanned_at.astimezone(zone)).date()
    except OverflowError:  # the calendar's edges: refused once the key is checked (local_time)
        return scanned_at.date()


def local_time(scanned_at: datetime, tz_name: str, now: datetime) -> tuple[datetime, int, date]:
    """(store wall clock, UTC offset in minutes, business date) of a basket scanned at ``scanned_at``."""
    zone = store_zone(tz_name)
    try:
        aware = scanned_at.replace(tzinfo=zone) if scanned_at.tzinfo is None else scanned_at.astimezone(zone)
        aware.utcoffset()
        aware - now  # noqa: B018  (the edges of the calendar overflow here, see below)
    except OverflowError:
        # year 1 or 9999 with an offset: outside what a datetime can hold in the store's zone
        aware = datetime.max.replace(tzinfo=timezone.utc) if scanned_at.year > now.year else \
            datetime.min.replace(tzinfo=timezone.utc)
    if aware > now + MAX_FUTURE_SKEW:
        raise Unprocessable("scanned_at is in the future (check the lane's clock)", code="scanned_at_in_future",
                            field="scanned_at")
    if aware < now - MAX_BASKET_AGE:
        raise Unprocessable(f"scanned_at is more than {MAX_BASKET_AGE.days} days old", code="scanned_at_too_old",
                            field="scanned_at")
    offset = aware.utcoffset() or timedelta(0)
    return aware.replace(tzinfo=None), int(offset.total_seconds() // 60), aware.date()
