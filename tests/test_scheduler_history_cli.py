"""``jobs history`` in a terminal: the table fits the terminal's width, so the terminal never
wraps a row and a duration is read whole."""
from __future__ import annotations

from datetime import date, datetime, timezone

from loyalty_engine.db import session_scope
from loyalty_engine.models.jobs import JobRun


def test_history_fits_the_width_and_keeps_durations_whole(cli, engine) -> None:  # type: ignore[no-untyped-def]
    counts = {"path": "/srv/loyalty/instance/models/model-2026-12-06.npz", "members": 2000, "sku_pairs": 80961,
              "states_removed": 0, "seconds": 32.06}
    with session_scope(engine) as session:
        session.add(JobRun(job_id="refresh_model", scheduled_for=datetime(2026, 12, 6, 3, tzinfo=timezone.utc),
                           as_of=date(2026, 12, 6), holder="manual loyalty-host-0123456789abcdef pid 424242",
                           status="ok", started_at=datetime(2026, 12, 6, 3, tzinfo=timezone.utc),
                           duration_ms=32_060, counts=counts, message=""))
        session.commit()
    out = cli("jobs", "history").output
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 160  # the width the command is given off a terminal
    assert "32.06s" in out  # the duration is one unbroken cell
    assert any("refresh_model" in line and "32.06s" in line for line in lines)


def test_manual_runs_in_the_same_second_both_run(engine, config) -> None:  # type: ignore[no-untyped-def]
    """``jobs run`` twice within one second (here: a fixed clock) runs and logs both; only a
    scheduled fire time is claimed once."""
    from jobs import schedule
    from jobs.runtime import RunContext, run_history
    from loyalty_engine.clock import FixedClock

    seen: list[date] = []
    context = RunContext(engine, config, clock=FixedClock(datetime(2026, 12, 6, 3, 0, 0, 500, tzinfo=timezone.utc)),
                         holder="manual test")
    original = schedule.TASKS["expire"]
    schedule.TASKS["expire"] = lambda _ctx, as_of: seen.append(as_of) or {"as_of": as_of.isoformat()}
    try:
        first = schedule.run_now(context, "expire", date(2026, 11, 29))
        second = schedule.run_now(context, "expire", date(2026, 12, 6))
    finally:
        schedule.TASKS["expire"] = original
    assert first.ran and second.ran and first.run_id != second.run_id
    assert seen == [date(2026, 11, 29), date(2026, 12, 6)]
    assert sorted(r.as_of for r in run_history(engine, job_id="expire")) == [date(2026, 11, 29), date(2026, 12, 6)]
