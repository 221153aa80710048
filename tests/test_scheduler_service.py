"""The scheduler: lease, run log, schedules, misfire coalescing, and two schedulers at once."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from jobs.runtime import Lease, RunContext, run_logged
from jobs.schedule import ScheduleError, SchedulerService, SchedulerSettings, latest_fire_time, parse_schedule
from loyalty_engine.clock import FixedClock
from loyalty_engine.db import session_scope
from loyalty_engine.models.jobs import JobRun
from loyalty_engine.models.lists import ListBuild, ShoppingList

CHICAGO = ZoneInfo("America/Chicago")


def utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def runs(engine) -> list[JobRun]:  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        return list(s.execute(select(JobRun).order_by(JobRun.scheduled_for, JobRun.id)).scalars())


def test_lease_has_one_holder_until_it_expires_or_is_released(engine) -> None:  # type: ignore[no-untyped-def]
    clock = FixedClock(datetime(2027, 3, 1, 5, 0, tzinfo=timezone.utc))
    a = Lease(engine, "a", ttl_seconds=30, clock=clock)
    b = Lease(engine, "b", ttl_seconds=30, clock=clock)
    assert a.acquire() and not b.acquire()
    clock.at += timedelta(seconds=20)
    assert a.acquire()  # renewed until 05:00:50
    clock.at += timedelta(seconds=25)
    assert not b.acquire()
    clock.at += timedelta(seconds=10)  # a stopped renewing: expired
    assert b.acquire() and not a.acquire()
    a.release()  # not the holder: no effect
    assert b.current_holder()[0] == "b"
    b.release()
    assert a.acquire()


def test_a_fire_time_runs_once_and_failures_are_logged(engine, config) -> None:  # type: ignore[no-untyped-def]
    clock = FixedClock(datetime(2027, 3, 1, 6, 10, tzinfo=timezone.utc))
    context = RunContext(engine, config, clock, holder="test")
    fired = datetime(2027, 3, 1, 6, 10, tzinfo=timezone.utc)
    calls: list[date] = []

    def task(_ctx: RunContext, as_of: date) -> dict[str, int]:
        calls.append(as_of)
        return {"things": 3}

    first = run_logged(context, "expire", fired, date(2027, 3, 1), task)
    second = run_logged(context, "expire", fired, date(2027, 3, 1), task)
    assert first.ran and first.status == "ok" and not second.ran and calls == [date(2027, 3, 1)]

    def broken(_ctx: RunContext, _as_of: date) -> dict[str, int]:
        raise RuntimeError("model file is corrupt")

    failed = run_logged(context, "refresh_model", fired, date(2027, 3, 1), broken)
    assert failed.status == "failed"
    logged = {r.job_id: r for r in runs(engine)}
    assert logged["expire"].counts == {"things": 3} and logged["expire"].duration_ms is not None
    assert "model file is corrupt" in logged["refresh_model"].message


def test_schedules_and_latest_fire_time() -> None:
    weekly = parse_schedule("mon 05:00", CHICAGO)
    now = datetime(2027, 3, 3, 12, 0, tzinfo=CHICAGO)  # a Wednesday
    assert latest_fire_time(weekly, now) == datetime(2027, 3, 1, 5, 0, tzinfo=CHICAGO)
    daily = parse_schedule("00:10", CHICAGO)
    assert latest_fire_time(daily, now) == datetime(2027, 3, 3, 0, 10, tzinfo=CHICAGO)
    every = parse_schedule("every 5m", CHICAGO)
    start = every.start_date
    assert latest_fire_time(every, start + timedelta(minutes=12)) == start + timedelta(minutes=10)
    assert parse_schedule("off", CHICAGO) is None
    for bad in ("funday 05:00", "25:00", "every 0s", "every 3 fortnights", "mon 05:00 extra"):
        with pytest.raises(ScheduleError):
            parse_schedule(bad, CHICAGO)


def test_cli_scheduler_show_and_bad_schedule(cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    out = cli("scheduler", "--show").output
    assert "weekly_lists   mon 05:00" in out and "lease: free" in out
    monkeypatch.setenv("LOYALTY_SCHEDULE_EXPIRE", "sometimes")
    assert "bad time 'sometimes'" in cli("scheduler", "--show", expect=2).output


def test_a_job_missed_while_down_runs_once_when_the_scheduler_is_back(engine, config) -> None:  # type: ignore[no-untyped-def]
    settings = SchedulerSettings(timezone="America/Chicago",
                                 schedules={"expire": "every 3s", "weekly_lists": "off", "refresh_model": "off",
                                            "lifecycle": "off"},
                                 lease_seconds=30)
    first = SchedulerService(engine, config, settings, holder="first")
    assert first.step()
    stored = first.scheduler.get_job("expire")
    first_fire = stored.next_run_time
    first._stop_scheduler()
    first.lease.release()
    # down for two fire times (+3 s, +6 s); back shortly before the third (+9 s)
    time.sleep(max(0.0, (first_fire + timedelta(seconds=3.6) - datetime.now(timezone.utc)).total_seconds()))
    assert runs(engine) == []
    second = SchedulerService(engine, config, settings, holder="second")
    assert second.step()
    time.sleep(max(0.0, (first_fire + timedelta(seconds=5.4) - datetime.now(timezone.utc)).total_seconds()))
    second._stop_scheduler()
    logged = runs(engine)
    assert len(logged) == 1, [r.scheduled_for for r in logged]
    assert logged[0].holder == "second" and logged[0].status == "ok"
    # the latest missed fire time (stored in UTC, to the second)
    assert utc(logged[0].scheduled_for) == utc(first_fire + timedelta(seconds=3)).replace(microsecond=0)


def _start(config, holder: str, run_for: float) -> subprocess.Popen:  # type: ignore[no-untyped-def,type-arg]
    env = {**os.environ,
           "LOYALTY_DATABASE_URL": config.database_url, "LOYALTY_INSTANCE_PATH": str(config.instance_path),
           "LOYALTY_SECRET_KEY": config.secret_key,
           "LOYALTY_SCHEDULE_EXPIRE": "every 1s", "LOYALTY_SCHEDULE_WEEKLY_LISTS": "off",
           "LOYALTY_SCHEDULE_REFRESH_MODEL": "off", "LOYALTY_SCHEDULE_LIFECYCLE": "off",
           "LOYALTY_SCHEDULER_LEASE_SECONDS": "1.5"}
    return subprocess.Popen(
        [sys.executable, "-c", "from loyalty_engine.cli import main; main()", "scheduler",
         "--holder", holder, "--run-for", str(run_for)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def test_a_scheduler_started_twice_runs_each_job_once(engine, config) -> None:  # type: ignore[no-untyped-def]
    first = _start(config, "first", 6)
    lease = Lease(engine, "observer")
    deadline = time.time() + 30
    while lease.current_holder()[0] != "first" and time.time() < deadline:
        time.sleep(0.1)
    assert lease.current_holder()[0] == "first"
    second = _start(config, "second", 8)
    out_first, _ = first.communicate(timeout=60)
    out_second, _ = second.communicate(timeout=60)
    assert first.returncode == 0, out_first
    assert second.returncode == 0, out_second
    logged = runs(engine)
    fire_times = [r.scheduled_for for r in logged]
    assert len(fire_times) == len(set(fire_times)), "a fire time ran twice"
    assert all(r.status == "ok" and r.job_id == "expire" for r in logged)
    holders = [r.holder for r in logged]
    # one scheduler at a time: the second idled while the first held the lease, then took over
    assert holders[0] == "first" and holders[-1] == "second", holders
    handover = holders.index("second")
    assert set(holders[:handover]) == {"first"} and set(holders[handover:]) == {"second"}, holders
    assert utc(logged[handover].started_at) >= utc(logged[handover - 1].finished_at)
    assert len(logged) >= 5
