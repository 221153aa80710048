"""Scheduler lease and job run history (issue 4).

``scheduler_leases``: one row per lease name; whoever holds an unexpired lease is the one
scheduler allowed to run jobs. Taken and renewed with a single conditional UPDATE, so it
works the same on SQLite and PostgreSQL.

``job_runs``: one row per fire of a scheduled job; UNIQUE (job_id, scheduled_for) is the
second guard that a fire time runs once even if two schedulers ever both fired it.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Optional

from sqlalchemy import JSON, BigInteger, CheckConstraint, Date, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigIntPK, utcnow

JOB_RUN_STATUSES = ("running", "ok", "failed")


class SchedulerLease(Base):
    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[Optional[str]] = mapped_column(String(200), nullable=True)
    acquired_at: Mapped[Optional[datetime]] = mapped_column(nullable=True)
    expires_at: Mapped[Optional[datetime]] = mapped_column(nullable=True)


class JobRun(Base):
    __tablename__ = "job_runs"
    __table_args__ = (
        UniqueConstraint("job_id", "scheduled_for", name="uq_job_runs_job_fire"),
        CheckConstraint("status IN ('running', 'ok', 'failed')", name="status"),
        Index("ix_job_runs_started_at", "started_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(100))
    # the fire time the scheduler planned (after coalescing), UTC
    scheduled_for: Mapped[datetime] = mapped_column()
    as_of: Mapped[Optional[date]] = mapped_column(Date, nullable=True)
    holder: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16), default="running")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[Optional[datetime]] = mapped_column(nullable=True)
    duration_ms: Mapped[Optional[int]] = mapped_column(BigInteger, nullable=True)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    message: Mapped[str] = mapped_column(Text, default="")


__all__ = ["JOB_RUN_STATUSES", "JobRun", "SchedulerLease"]
