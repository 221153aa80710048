"""Stored program results and members' lifecycle history.

``member_stage_history``: one row per member per week, written by the nightly lifecycle job
(``member_profiles`` holds only the latest run), so results can follow a member's stage
from one period to the next.

``result_periods`` / ``result_rows``: what ``loyalty-engine results compute`` measured for
one list period, stored so the console and the CLI read aggregates, never scan lines. A
recompute replaces the period's rows. ``data`` holds the measures of one row (counts and
money as integer cents; lift estimates as floats: they are statistics, not amounts owed).
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Optional

from sqlalchemy import JSON, BigInteger, Date, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigIntPK, utcnow


class MemberStageHistory(Base):
    """A member's lifecycle stage and value tier in one week (the week's latest nightly run)."""

    __tablename__ = "member_stage_history"
    __table_args__ = (Index("ix_member_stage_history_week", "week_start", "lifecycle_stage"),)

    member_key: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    week_start: Mapped[date] = mapped_column(Date, primary_key=True)  # Monday of the run's as_of
    as_of: Mapped[date] = mapped_column(Date)
    lifecycle_stage: Mapped[str] = mapped_column(String(16))
    value_tier: Mapped[str] = mapped_column(String(16))


class ResultPeriod(Base):
    """One computed list period: when it was computed and its headline figures."""

    __tablename__ = "result_periods"

    period_start: Mapped[date] = mapped_column(Date, primary_key=True)
    period_end: Mapped[date] = mapped_column(Date)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
    pre_weeks: Mapped[int] = mapped_column(Integer)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ResultRow(Base):
    """One row of a period's results: a dimension ('offer', 'cell', 'store', ...) and its key."""

    __tablename__ = "result_rows"
    __table_args__ = (
        Index("ix_result_rows_period_dimension", "period_start", "dimension"),
        Index("ix_result_rows_offer", "offer_id"),
        # the results page's lift charts: a period's largest lifts of a dimension (migration 0015)
        Index("ix_result_rows_lift", "period_start", "dimension", "units_lift"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    period_start: Mapped[date] = mapped_column(
        Date, ForeignKey("result_periods.period_start", ondelete="CASCADE")
    )
    dimension: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(200))
    offer_id: Mapped[Optional[int]] = mapped_column(BigInteger, nullable=True)
    manufacturer_id: Mapped[Optional[str]] = mapped_column(String(64), nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # data['units_cuped_lift'] again, as a column the lift charts sort on (None: not measured)
    units_lift: Mapped[Optional[float]] = mapped_column(Float, nullable=True)


class ResultAnalytics(Base):
    """One funder's anonymized analytics report of a computed period, suppression already applied,
    with the settings it was computed with (so the portal shows it without reading scan lines)."""

    __tablename__ = "result_analytics"

    period_start: Mapped[date] = mapped_column(
        Date, ForeignKey("result_periods.period_start", ondelete="CASCADE"), primary_key=True
    )
    manufacturer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    min_group_size: Mapped[int] = mapped_column(Integer)
    trial_weeks: Mapped[int] = mapped_column(Integer)
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


__all__ = ["MemberStageHistory", "ResultAnalytics", "ResultPeriod", "ResultRow"]
