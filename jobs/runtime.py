"""What a scheduled run needs: the single-scheduler lease, the run log, the process context.

The lease is one row of ``scheduler_leases`` taken and renewed by a conditional UPDATE
(``... WHERE holder = me OR holder IS NULL OR expires_at < now``): whoever's UPDATE matched
holds it, on SQLite and PostgreSQL alike. A second scheduler finds the lease held and idles
until it expires (the first one stopped renewing) or is released.

Every run claims its ``job_runs`` row first (UNIQUE job_id + scheduled_for): a fire time
that was already claimed by anyone is skipped, so a job never runs twice for one fire time.
"""
from __future__ import annotations

import logging
import time
import traceback
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from loyalty_engine.clock import Clock, SystemClock
from loyalty_engine.config import Config
from loyalty_engine.db import session_scope
from loyalty_engine.models.jobs import JobRun, SchedulerLease

log = logging.getLogger("loyalty_engine.jobs")
LEASE_NAME = "scheduler"


def _utc(value: datetime) -> datetime:
    """Aware UTC (naive values are taken as UTC: SQLite hands stored datetimes back naive)."""
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Lease:
    """The database lease that makes one scheduler the active one."""

    def __init__(self, engine: Engine, holder: str, ttl_seconds: float = 60.0, clock: Clock | None = None,
                 name: str = LEASE_NAME) -> None:
        self.engine = engine
        self.holder = holder
        self.ttl = timedelta(seconds=ttl_seconds)
        self.clock = clock or SystemClock()
        self.name = name

    def acquire(self) -> bool:
        """Take or renew the lease; True if this holder has it now."""
        now = _utc(self.clock.now())
        with self.engine.begin() as conn:
            exists = conn.execute(select(SchedulerLease.name).where(SchedulerLease.name == self.name)).first()
            if exists is None:
                try:
                    with conn.begin_nested():
                        conn.execute(insert(SchedulerLease).values(name=self.name, holder=None))
                except IntegrityError:
                    pass  # another scheduler created it at the same moment
            result = conn.execute(
                update(SchedulerLease)
                .where(SchedulerLease.name == self.name)
                .where((SchedulerLease.holder == self.holder) | SchedulerLease.holder.is_(None)
                       | (SchedulerLease.expires_at < now))
                .values(holder=self.holder, expires_at=now + self.ttl,
                        acquired_at=now)
            )
            return bool(result.rowcount)

    def release(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(SchedulerLease).where(SchedulerLease.name == self.name,
                                                      SchedulerLease.holder == self.holder)
                         .values(holder=None, expires_at=None))

    def current_holder(self) -> tuple[str | None, datetime | None]:
        with self.engine.connect() as conn:
            row = conn.execute(select(SchedulerLease.holder, SchedulerLease.expires_at)
                               .where(SchedulerLease.name == self.name)).first()
        return (row[0], row[1]) if row else (None, None)


@dataclass
class RunContext:
    """Handed to every task: the database, settings, clock and who is running it."""

    engine: Engine
    config: Config
    clock: Clock = field(default_factory=SystemClock)
    holder: str = ""
    timezone: str = "America/Chicago"


_context: RunContext | None = None


def set_context(context: RunContext | None) -> None:
    global _context
    _context = context


def current_context() -> RunContext:
    if _context is None:
        raise RuntimeError("no scheduler context: jobs run inside `loyalty-engine scheduler`")
    return _context


@dataclass
class RunOutcome:
    ran: bool
    run_id: int | None = None
    status: str = ""
    counts: dict[str, Any] = field(default_factory=dict)


def run_logged(
    context: RunContext, job_id: str, scheduled_for: datetime, as_of: date, task: Callable[[RunContext, date], dict[str, Any]],
    *, manual: bool = False,
) -> RunOutcome:
    """Claim the (job, fire time), run the task, record status, counts and duration.

    A scheduled fire time is claimed once across every scheduler (to the second). A manual run
    is never skipped: two ``jobs run`` in the same second (or under a fixed clock) each get
    their own moment, a millisecond apart."""
    started = _utc(context.clock.now())
    scheduled_for = _utc(scheduled_for)
    if not manual:
        scheduled_for = scheduled_for.replace(microsecond=0)
    run_id = _claim(context, job_id, scheduled_for, as_of, started, attempts=MANUAL_CLAIM_ATTEMPTS if manual else 1)
    if run_id is None:
        log.info("job %s for %s already ran; skipped", job_id, scheduled_for.isoformat())
        return RunOutcome(ran=False)
    t0 = time.perf_counter()
    status, counts, message = "ok", {}, ""
    try:
        counts = task(context, as_of) or {}
    except Exception as exc:  # a failed run is logged, the scheduler keeps going
        status, message = "failed", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"
        log.exception("job %s failed", job_id)
    duration_ms = int((time.perf_counter() - t0) * 1000)
    with context.engine.begin() as conn:
        conn.execute(update(JobRun).where(JobRun.id == run_id).values(
            status=status, counts=_jsonable(counts), message=message[:4000],
            finished_at=_utc(context.clock.now()), duration_ms=duration_ms))
    log.info("job %s (%s) %s in %d ms: %s", job_id, as_of, status, duration_ms, counts)
    return RunOutcome(ran=True, run_id=run_id, status=status, counts=counts)


MANUAL_CLAIM_ATTEMPTS = 1000


def _claim(context: RunContext, job_id: str, scheduled_for: datetime, as_of: date, started: datetime,
           attempts: int) -> int | None:
    """Insert the run's row; ``None`` when every moment tried was taken already."""
    for attempt in range(attempts):
        moment = scheduled_for + timedelta(milliseconds=attempt)
        try:
            with context.engine.begin() as conn:
                return int(conn.execute(
                    insert(JobRun).values(job_id=job_id, scheduled_for=moment, as_of=as_of,
                                          holder=context.holder, status="running", started_at=started,
                                          counts={}, message="")
                    .returning(JobRun.id)
                ).scalar_one())
        except IntegrityError:
            continue
    return None


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def run_history(engine: Engine, limit: int = 50, job_id: str | None = None) -> list[JobRun]:
    with session_scope(engine) as session:
        query = select(JobRun).order_by(JobRun.started_at.desc(), JobRun.id.desc()).limit(limit)
        if job_id:
            query = query.where(JobRun.job_id == job_id)
        return list(session.execute(query).scalars())
