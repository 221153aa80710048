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
