"""Stored aggregates the console reads instead of raw scan lines or the redemption ledger.

* ``segment_cells``: per nightly run (``as_of``) and category, the 3 x 3 grid of brand loyalty
  x usage tier (plus the unsegmented buyers): members, their spend and their mean purchase
  interval over the segment look-back window. Kept for a few runs so pages show movement.
* ``segment_moves``: members per (category, cell at an earlier run, cell at this run).
* ``redemption_days``: the signed redemption ledger summed per business day and offer.
* ``offer_forecasts``: the last forecast run for an offer (what the approver sees).
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Optional

from sqlalchemy import JSON, BigInteger, CheckConstraint, Date, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, utcnow

LOYALTY_VALUES = "'national', 'store', 'switcher', 'unsegmented'"
TIER_VALUES = "'low', 'medium', 'high', 'unsegmented'"


class SegmentCell(Base):
    """One cell of one category's grid as of one nightly run."""

    __tablename__ = "segment_cells"
    __table_args__ = (
        CheckConstraint(f"brand_loyalty IN ({LOYALTY_VALUES})", name="brand_loyalty"),
        CheckConstraint(f"usage_tier IN ({TIER_VALUES})", name="usage_tier"),
    )

    as_of: Mapped[date] = mapped_column(Date, primary_key=True)
    category: Mapped[str] = mapped_column(String(100), primary_key=True)
    brand_loyalty: Mapped[str] = mapped_column(String(16), primary_key=True)
    usage_tier: Mapped[str] = mapped_column(String(16), primary_key=True)
    members: Mapped[int] = mapped_column(Integer)
    spend_cents: Mapped[int] = mapped_column(BigInteger)  # net spend in the look-back window
    units: Mapped[int] = mapped_column(BigInteger)
    # mean days between purchase days, over members with two or more; None when none has
    interval_days: Mapped[Optional[float]] = mapped_column(Float, nullable=True)


MOVE_VALUES = "'national:low', 'national:medium', 'national:high', 'store:low', 'store:medium', 'store:high', " \
    "'switcher:low', 'switcher:medium', 'switcher:high', 'unsegmented', 'none'"


class SegmentMove(Base):
    """Members of a category who were in one cell at the ``since`` run and in another (or the
    same) at the ``as_of`` run; "none" = not a buyer in the category at that run."""

    __tablename__ = "segment_moves"
    __table_args__ = (
        CheckConstraint(f"from_cell IN ({MOVE_VALUES})", name="from_cell"),
        CheckConstraint(f"to_cell IN ({MOVE_VALUES})", name="to_cell"),
    )

    as_of: Mapped[date] = mapped_column(Date, primary_key=True)
    category: Mapped[str] = mapped_column(String(100), primary_key=True)
    from_cell: Mapped[str] = mapped_column(String(16), primary_key=True)
    to_cell: Mapped[str] = mapped_column(String(16), primary_key=True)
    since: Mapped[date] = mapped_column(Date)
    members: Mapped[int] = mapped_column(Integer)


class RedemptionDay(Base):
    """The redemption ledger summed per (business day, offer): net of reversals."""

    __tablename__ = "redemption_days"
    __table_args__ = (Index("ix_redemption_days_offer", "offer_id", "business_date"),)

    business_date: Mapped[date] = mapped_column(Date, primary_key=True)
    offer_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("offers.id", ondelete="CASCADE"), primary_key=True
    )
    applications: Mapped[int] = mapped_column(BigInteger)
    discount_cents: Mapped[int] = mapped_column(BigInteger)
    funded_cents: Mapped[int] = mapped_column(BigInteger)
    handling_fee_cents: Mapped[int] = mapped_column(BigInteger)


class OfferForecastRecord(Base):
    """The latest forecast of an offer, as run from the console before submission."""

    __tablename__ = "offer_forecasts"

    offer_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("offers.id", ondelete="CASCADE"), primary_key=True
    )
    period_start: Mapped[date] = mapped_column(Date)
    # digest of the offer's definition when forecast: a later edit makes the forecast stale
    definition_sha256: Mapped[str] = mapped_column(String(64))
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
    computed_by: Mapped[str] = mapped_column(String(100), default="")
    body: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # OfferForecast.as_dict()


__all__ = ["OfferForecastRecord", "RedemptionDay", "SegmentCell", "SegmentMove"]
