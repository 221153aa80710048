"""Members' lifecycle history, program-level results against the global hold-out, and win-back.

* ``record_stage_history``: the nightly lifecycle job keeps each member's stage per week.
* ``program_level``: members with a list against the period's member-level hold-out (drawn
  at random among the eligible): trips, spend per week and retention (at least one trip).
* ``winback``: members sent a win-back list against win-back-eligible members held out:
  retention and spend, and their stage transitions (stage on the list -> first recorded
  stage after the period, from the history).
"""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Sequence

import numpy as np
from sqlalchemy import Connection, delete, text
from sqlalchemy.orm import Session

from ..models.results import MemberStageHistory
from ..shopping_lists.bulk import bulk_insert_columns
from .estimators import difference_in_means


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def record_stage_history(session: Session, as_of: date, member_keys: Sequence[int], stages: Sequence[str],
                         value_tiers: Sequence[str]) -> int:
    """Replace the week's rows (the week of ``as_of``) with this run's stages; returns rows written."""
    week = week_start(as_of)
    session.execute(delete(MemberStageHistory).where(MemberStageHistory.week_start == week))
    n = len(member_keys)
    return bulk_insert_columns(session, MemberStageHistory.__table__, {  # type: ignore[arg-type]
        "member_key": list(member_keys), "week_start": [week] * n, "as_of": [as_of] * n,
        "lifecycle_stage": list(stages), "value_tier": list(value_tiers),
    })


_PERIODS = text("""
    SELECT DISTINCT period_start, period_end FROM list_builds
    WHERE period_start BETWEEN :a AND :b AND status = 'complete'
""")
_WITH_LISTS = text("""
    SELECT member_key, kind, lifecycle_stage FROM shopping_lists
    WHERE period_start = :p AND status <> 'replaced'
""")
_HELD = text("""
    SELECT h.member_key, h.list_kind, h.lifecycle_stage FROM list_holdouts h JOIN list_builds b ON b.id = h.build_id
    WHERE b.period_start = :p AND b.status = 'complete' AND h.offer_id IS NULL
""")
# scan lines carry their basket's member and business date: no join to the baskets
_TRIPS = text("""
    SELECT s.member_key, COUNT(DISTINCT s.transaction_id), SUM(s.amount_cents)
    FROM scan_lines s
    WHERE s.business_date BETWEEN :a AND :b AND s.member_key IS NOT NULL
    GROUP BY s.member_key
""")
_STAGE_AFTER = text("""
    SELECT h.member_key, h.lifecycle_stage, h.week_start FROM member_stage_history h
    WHERE h.week_start > :end AND h.week_start <= :until
""")


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def period_arms(conn: Connection, a: date, b: date) -> dict[str, np.ndarray]:
    """Per member of each period: treated (has a list) or held out, list kind, stage, outcomes;
    what :func:`program_level` and :func:`winback` read (one pass serves both)."""
    names = ("member", "treated", "winback", "stage", "trips", "spend", "weeks", "end")
    cols: dict[str, list[Any]] = {k: [] for k in names}
    for start, end in conn.execute(_PERIODS, {"a": a, "b": b}).all():
        start, end = _day(start), _day(end)
        arms = [(conn.execute(_WITH_LISTS, {"p": start}).all(), True), (conn.execute(_HELD, {"p": start}).all(), False)]
        rows = [r for found, _ in arms for r in found]
        if not rows:
            continue
        key = np.array([r[0] for r in rows], dtype=np.int64)
        treated = np.concatenate([np.full(len(found), flag) for found, flag in arms])
        trips, spend = _trips_of(conn, start, end, key)
        n = key.shape[0]
        for name, value in zip(names, (key, treated, np.array([r[1] == "winback" for r in rows], dtype=bool),
                                       np.asarray([r[2] or "" for r in rows]), trips, spend,
                                       np.full(n, ((end - start).days + 1) / 7.0), np.full(n, end.toordinal()))):
            cols[name].append(value)
    if not cols["member"]:
        return {k: np.asarray([]) for k in names}
    return {k: np.concatenate(v) for k, v in cols.items()}


def _trips_of(conn: Connection, start: date, end: date, members: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each member's trips and spend in ``[start, end]`` (0 for members who made none)."""
    result = conn.execute(_TRIPS, {"a": start, "b": end})
    rows = result.cursor.fetchall() if result.cursor is not None else []  # plain tuples
    table = np.array([(r[0], r[1], r[2] or 0) for r in rows], dtype=np.int64).reshape(-1, 3)
    trips, spend = np.zeros(members.shape[0], np.int64), np.zeros(members.shape[0], np.int64)
    if table.shape[0]:
        order = np.argsort(table[:, 0])
        at = np.minimum(np.searchsorted(table[order, 0], members), table.shape[0] - 1)
        found = table[order[at], 0] == members
        trips[found], spend[found] = table[order[at[found]], 1], table[order[at[found]], 2]
    return trips, spend


def _compare(y: np.ndarray, treated: np.ndarray) -> dict[str, Any]:
    est = difference_in_means(y, treated, np.zeros(y.shape[0], np.int64), 1)

    def f(x: np.ndarray) -> float | None:
        return round(float(x[0]), 4) if np.isfinite(x[0]) else None

    return {"n_treated": int(est.n_treated[0]), "n_control": int(est.n_control[0]),
            "mean_treated": f(est.mean_treated), "mean_control": f(est.mean_control), "lift": f(est.lift),
            "ci_low": f(est.ci_low), "ci_high": f(est.ci_high)}



def program_level(conn: Connection, a: date, b: date, arms: dict[str, np.ndarray] | None = None) -> list[dict[str, Any]]:
    """Members with lists against the member-level hold-out: trips, spend per week, retention."""
    arms = period_arms(conn, a, b) if arms is None else arms
    if arms["member"].shape[0] == 0:
        return []
    treated = arms["treated"].astype(bool)
    spend_week = arms["spend"].astype(np.float64) / arms["weeks"].astype(np.float64)
    return [
        {"key": "trips", **_compare(arms["trips"].astype(np.float64), treated)},
        {"key": "spend_per_week_cents", **_compare(spend_week, treated)},
        {"key": "retention", **_compare((arms["trips"] > 0).astype(np.float64), treated)},
    ]


def winback(conn: Connection, a: date, b: date, horizon_weeks: int = 6,
            arms: dict[str, np.ndarray] | None = None) -> list[dict[str, Any]]:
    """Win-back lists against held-out win-back members: retention, spend and stage transitions."""
    arms = period_arms(conn, a, b) if arms is None else arms
    if arms["member"].shape[0] == 0:
        return []
    wb = arms["winback"].astype(bool)
    treated = arms["treated"].astype(bool)[wb]
    rows = [
        {"key": "retention", **_compare((arms["trips"][wb] > 0).astype(np.float64), treated)},
        {"key": "spend_per_week_cents",
         **_compare(arms["spend"][wb].astype(np.float64) / arms["weeks"][wb].astype(np.float64), treated)},
    ]
    rows.extend(_transitions(conn, arms, wb, horizon_weeks))
    return rows


def _transitions(conn: Connection, arms: dict[str, np.ndarray], wb: np.ndarray, horizon_weeks: int) -> list[dict[str, Any]]:
    """Stage on the list -> first stage recorded after the period, counted per arm."""
    if not wb.any():
        return []
    end = date.fromordinal(int(arms["end"][wb].min()))
    until = date.fromordinal(int(arms["end"][wb].max())) + timedelta(weeks=horizon_weeks)
    after: dict[int, tuple[date, str]] = {}
    for key, stage, week in conn.execute(_STAGE_AFTER, {"end": end, "until": until}):
        week = _day(week)
        if key not in after or week < after[key][0]:
            after[key] = (week, stage)
    counts: dict[tuple[str, str, str], int] = {}
    for key, treated, before, period_end in zip(arms["member"][wb].tolist(), arms["treated"][wb].tolist(),
                                                arms["stage"][wb].tolist(), arms["end"][wb].tolist()):
        seen = after.get(key)
        if seen is None or seen[0].toordinal() <= period_end:
            continue
        arm = "winback_list" if treated else "held_out"
        counts[(arm, before, seen[1])] = counts.get((arm, before, seen[1]), 0) + 1
    return [{"key": f"{arm}: {before} -> {after_stage}", "arm": arm, "from": before, "to": after_stage,
             "members": n} for (arm, before, after_stage), n in sorted(counts.items())]


__all__ = ["period_arms", "program_level", "record_stage_history", "week_start", "winback"]
