"""Lifecycle history (one row per member per week) and win-back results from it."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from sqlalchemy import func, select, text

from loyalty_engine.db import session_scope
from loyalty_engine.models.members import Member
from loyalty_engine.models.results import MemberStageHistory
from loyalty_engine.results.lifecycle import record_stage_history, week_start
from test_results_cli import PERIOD, _chain


def test_history_keeps_one_row_per_member_per_week(engine) -> None:  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        s.add_all([Member(member_id=f"M{i}", card_number=f"C{i}") for i in range(3)])
    with engine.connect() as conn:
        keys = conn.execute(select(Member.id).order_by(Member.id)).scalars().all()
    with session_scope(engine) as s:
        record_stage_history(s, date(2026, 6, 23), keys, ["new", "declining", "lapsed"], ["1", "2", "3"])
        # a later run in the same week replaces the week's rows; another week adds rows
        record_stage_history(s, date(2026, 6, 25), keys, ["developing", "established", "lapsed"], ["1", "2", "3"])
        record_stage_history(s, date(2026, 6, 29), keys[:1], ["established"], ["1"])
    with engine.connect() as conn:
        rows = conn.execute(select(MemberStageHistory.week_start, MemberStageHistory.lifecycle_stage)
                            .order_by(MemberStageHistory.week_start, MemberStageHistory.member_key)).all()
    assert rows == [(date(2026, 6, 22), "developing"), (date(2026, 6, 22), "established"),
                    (date(2026, 6, 22), "lapsed"), (date(2026, 6, 29), "established")]
    assert week_start(date(2026, 6, 28)) == date(2026, 6, 22)


def test_winback_transitions_follow_the_history(cli, engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _chain(cli, engine, tmp_path)
    cli("simulate", "--period", PERIOD, "--seed", "3", "--out", str(tmp_path / "sim"))
    cli("jobs", "run", "lifecycle", "--as-of", "2026-07-06")  # the week after the period
    rows = json.loads(cli("results", "--period", PERIOD, "--by", "winback", "--format", "json").stdout)["rows"]
    with engine.connect() as conn:
        winback_lists = conn.execute(text(
            "SELECT COUNT(*) FROM shopping_lists WHERE period_start = :p AND kind = 'winback'"), {"p": PERIOD}).scalar_one()
        after = dict(conn.execute(text(
            "SELECT h.lifecycle_stage, COUNT(*) FROM shopping_lists l JOIN member_stage_history h "
            "ON h.member_key = l.member_key AND h.week_start = '2026-07-06' "
            "WHERE l.period_start = :p AND l.kind = 'winback' GROUP BY h.lifecycle_stage"), {"p": PERIOD}).all())
        weeks = conn.execute(select(func.count(func.distinct(MemberStageHistory.week_start)))).scalar_one()
    assert winback_lists > 0 and weeks == 2
    retention = next(r for r in rows if r["key"] == "retention")
    assert retention["n_treated"] == winback_lists
    moves = [r for r in rows if r.get("arm") == "winback_list"]
    assert sum(r["members"] for r in moves) == winback_lists
    by_stage: dict[str, int] = {}
    for r in moves:
        by_stage[r["to"]] = by_stage.get(r["to"], 0) + r["members"]
    assert by_stage == after
