"""What the model measured per member, kept for reports and the lane display (issue 3).

One row per member, replaced by the nightly lifecycle job (``as_of`` says which run): the
lifecycle stage and value tier, and the measures behind them. Rates and probabilities are
floats (they are not money); money is integer cents.
"""
from __future__ import annotations

from datetime import date
from typing import Optional

from sqlalchemy import BigInteger, CheckConstraint, Date, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base

STAGES_SQL = "'new', 'developing', 'established', 'declining', 'lapsed'"


class MemberProfile(Base):
    __tablename__ = "member_profiles"
    __table_args__ = (
        CheckConstraint(f"lifecycle_stage IN ({STAGES_SQL})", name="lifecycle_stage"),
    )

    member_key: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    as_of: Mapped[date] = mapped_column(Date)
    lifecycle_stage: Mapped[str] = mapped_column(String(16))
    value_tier: Mapped[str] = mapped_column(String(16))
    weekly_spend_cents: Mapped[int] = mapped_column(BigInteger)  # average over the last 8 weeks
    clv_cents: Mapped[int] = mapped_column(BigInteger)
    trips_per_week: Mapped[float] = mapped_column(Float)
    # the member's own norm: trips per week over the 26 weeks before the last 8 (None: no norm yet)
    norm_trips_per_week: Mapped[Optional[float]] = mapped_column(Float, nullable=True)
    repeat_rate: Mapped[float] = mapped_column(Float)  # share of purchases repeating an earlier one
    top_category_share: Mapped[float] = mapped_column(Float)  # share of spend in the top 3 categories
    p_alive: Mapped[float] = mapped_column(Float)
    trips: Mapped[int] = mapped_column(Integer)
    days_since_last_trip: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)
