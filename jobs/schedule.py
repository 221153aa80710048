"""The ``loyalty-engine scheduler`` service: APScheduler 3 with its job store in the database.

- Jobs (configurable, in the chain's timezone): ``weekly_lists`` (default Monday 05:00),
  ``refresh_model`` (01:30 nightly), ``expire`` (00:10 daily), ``lifecycle`` (02:30 nightly),
  ``statements`` (04:00 daily: issues statements of periods closed ``LOYALTY_STATEMENT_GRACE_DAYS`` ago),
  ``results`` (03:30 nightly: measures and stores the results of periods under way or ended in the last 28 days).
  A schedule is ``"mon 05:00"`` (weekly), ``"05:00"`` (daily), ``"every 30s"`` / ``"every 5m"``
  (interval) or ``"off"``; set with ``LOYALTY_SCHEDULE_<JOB>``.
- One active scheduler: a service only starts APScheduler while it holds the database lease,
  renews it every ``lease/3`` seconds and stops APScheduler as soon as it loses it. A second
  service waits (idles) and takes over when the lease expires.
- Misfires: ``coalesce=True`` and no misfire grace limit, so a job missed while no scheduler
  was running runs once when one comes back. Job definitions already in the store are kept
  (with their pending run) unless their schedule changed.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Mapping
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine

from loyalty_engine.clock import Clock, SystemClock
from loyalty_engine.config import Config

from .runtime import Lease, RunContext, RunOutcome, current_context, run_logged, set_context
from .tasks import TASKS

log = logging.getLogger("loyalty_engine.jobs")

DEFAULT_SCHEDULES = {
    "weekly_lists": "mon 05:00",
    "refresh_model": "01:30",
    "expire": "00:10",
    "lifecycle": "02:30",
    "statements": "04:00",
    "results": "03:30",
}
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class ScheduleError(ValueError):
    pass


def parse_schedule(spec: str, tz: ZoneInfo) -> BaseTrigger | None:
    """A trigger from ``"mon 05:00"``, ``"05:00"``, ``"every 30s|5m|2h"`` or ``"off"``."""
    text = spec.strip().lower()
    if text in ("off", "none", ""):
        return None
    if text.startswith("every "):
        amount = text[6:].strip()
        units = {"s": "seconds", "m": "minutes", "h": "hours"}
        if not amount or amount[-1] not in units or not amount[:-1].isdigit() or int(amount[:-1]) <= 0:
            raise ScheduleError(f"bad interval {spec!r}: use e.g. 'every 30s', 'every 5m', 'every 2h'")
        return IntervalTrigger(**{units[amount[-1]]: int(amount[:-1])}, timezone=tz)
    parts = text.split()
    day = None
    if len(parts) == 2:
        day, clock = parts
        if day not in DAYS:
            raise ScheduleError(f"bad day {day!r} in {spec!r}: use one of {', '.join(DAYS)}")
    elif len(parts) == 1:
        clock = parts[0]
    else:
        raise ScheduleError(f"bad schedule {spec!r}: use 'mon 05:00', '05:00', 'every 30s' or 'off'")
    try:
        hour, minute = (int(p) for p in clock.split(":"))
        if not (0 <= hour < 24 and 0 <= minute < 60):
            raise ValueError
    except ValueError:
        raise ScheduleError(f"bad time {clock!r} in {spec!r}: use HH:MM (24 h)") from None
    return CronTrigger(day_of_week=day or "*", hour=hour, minute=minute, timezone=tz)


@dataclass(frozen=True)
class SchedulerSettings:
    timezone: str
    schedules: dict[str, str]
    lease_seconds: float = 60.0

    @classmethod
    def from_config(cls, config: Config, environ: Mapping[str, str] | None = None) -> "SchedulerSettings":
        env = os.environ if environ is None else environ
        schedules = {job: env.get(f"LOYALTY_SCHEDULE_{job.upper()}", spec) for job, spec in DEFAULT_SCHEDULES.items()}
        settings = cls(timezone=env.get("LOYALTY_SCHEDULER_TIMEZONE", config.default_timezone),
                       schedules=schedules,
                       lease_seconds=float(env.get("LOYALTY_SCHEDULER_LEASE_SECONDS", "60")))
        settings.triggers()  # validate
        return settings

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def triggers(self) -> dict[str, BaseTrigger]:
        out = {}
        for job, spec in self.schedules.items():
            trigger = parse_schedule(spec, self.tz)
            if trigger is not None:
                out[job] = trigger
        return out


def latest_fire_time(trigger: BaseTrigger, now: datetime) -> datetime | None:
    """The trigger's most recent fire time at or before ``now`` (the run being executed)."""
    if isinstance(trigger, IntervalTrigger):
        start = trigger.start_date
        if start > now:
            return None
        steps = (now - start) // trigger.interval
        return start + steps * trigger.interval
    last = None
    t = trigger.get_next_fire_time(None, now - timedelta(days=8))
    while t is not None and t <= now:
        last = t
        t = trigger.get_next_fire_time(t, t + timedelta(microseconds=1))
    return last


_scheduler_ref: dict[str, BackgroundScheduler] = {}


def fire(job_id: str) -> None:
    """APScheduler's entry point for every job (a module-level function, so the store can pickle it)."""
    context = current_context()
    scheduler = _scheduler_ref.get("active")
    job = scheduler.get_job(job_id) if scheduler else None
    now = context.clock.now()
    now = now if now.tzinfo else now.replace(tzinfo=timezone.utc)
    scheduled = latest_fire_time(job.trigger, now) if job is not None else None
    scheduled = scheduled or now
    as_of = scheduled.astimezone(ZoneInfo(context.timezone)).date()
    run_logged(context, job_id, scheduled, as_of, TASKS[job_id])


def run_now(context: RunContext, job_id: str, as_of: date) -> RunOutcome:
    """Run one job at once (``loyalty-engine jobs run``), logged like a scheduled run."""
    if job_id not in TASKS:
        raise ScheduleError(f"unknown job {job_id!r}: one of {', '.join(TASKS)}")
    now = context.clock.now()
    return run_logged(context, job_id, now if now.tzinfo else now.replace(tzinfo=timezone.utc), as_of, TASKS[job_id],
                      manual=True)


def default_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class SchedulerService:
    """Holds the lease and runs APScheduler while it does; idles while someone else does."""

    def __init__(self, engine: Engine, config: Config, settings: SchedulerSettings, holder: str | None = None,
                 clock: Clock | None = None) -> None:
        self.engine = engine
        self.config = config
        self.settings = settings
        self.holder = holder or default_holder()
        self.clock = clock or SystemClock()
        self.lease = Lease(engine, self.holder, settings.lease_seconds, self.clock)
        self.scheduler: BackgroundScheduler | None = None
        self._stop = threading.Event()
        self.active_since: datetime | None = None

    # -- APScheduler lifecycle -------------------------------------------------------------

    def _start_scheduler(self) -> None:
        set_context(RunContext(self.engine, self.config, self.clock, self.holder, self.settings.timezone))
        scheduler = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=self.engine)},
            executors={"default": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "misfire_grace_time": None, "max_instances": 1},
            timezone=self.settings.tz,
        )
        scheduler.start(paused=True)
        wanted = self.settings.triggers()
        for job in scheduler.get_jobs():
            if job.id not in wanted:
                scheduler.remove_job(job.id)
        for job_id, trigger in wanted.items():
            existing = scheduler.get_job(job_id)
            if existing is not None and str(existing.trigger) == str(trigger):
                continue  # keep its pending run: a misfire during downtime still runs once
            scheduler.add_job(fire, trigger=trigger, args=[job_id], id=job_id, name=job_id,
                              replace_existing=True)
        _scheduler_ref["active"] = scheduler
        scheduler.resume()
        self.scheduler = scheduler
        self.active_since = self.clock.now()
        log.info("scheduler %s is active: %s", self.holder,
                 ", ".join(f"{j.id} next {j.next_run_time}" for j in scheduler.get_jobs()))

    def _stop_scheduler(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)
            if _scheduler_ref.get("active") is self.scheduler:
                _scheduler_ref.pop("active", None)
            self.scheduler = None
            self.active_since = None
            set_context(None)

    # -- service loop ----------------------------------------------------------------------

    def step(self) -> bool:
        """Take or renew the lease and start/stop APScheduler accordingly; True if active."""
        try:
            held = self.lease.acquire()
        except Exception:  # database unreachable: stop running jobs until it is back
            log.exception("scheduler %s could not reach the lease", self.holder)
            held = False
        if held and self.scheduler is None:
            self._start_scheduler()
        elif not held and self.scheduler is not None:
            log.warning("scheduler %s lost the lease; stopping its jobs", self.holder)
            self._stop_scheduler()
        elif not held:
            log.debug("scheduler %s idles: another scheduler holds the lease", self.holder)
        return held

    def run(self, run_for: float | None = None) -> None:
        """Serve until :meth:`stop` (or ``run_for`` seconds); releases the lease on the way out."""
        timer = threading.Timer(run_for, self._stop.set) if run_for is not None else None
        if timer:
            timer.daemon = True
            timer.start()
        interval = max(0.2, self.settings.lease_seconds / 3)
        try:
            while not self._stop.is_set():
                self.step()
                self._stop.wait(interval)
        finally:
            if timer:
                timer.cancel()
            was_active = self.scheduler is not None
            self._stop_scheduler()
            if was_active:
                self.lease.release()

    def stop(self) -> None:
        self._stop.set()

    def planned(self) -> list[tuple[str, str, datetime | None]]:
        """(job, schedule, next fire time) for display."""
        now = datetime.now(self.settings.tz)
        out = []
        for job_id, trigger in self.settings.triggers().items():
            out.append((job_id, self.settings.schedules[job_id], trigger.get_next_fire_time(None, now)))
        return out
