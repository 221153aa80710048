"""Computing a list period's results and storing them, so the CLI and the console only read.

``compute_period`` measures everything once (delivery, money, accuracy, lift per offer and
per cell, pooled lift per funder and category, program level, win-back) and replaces the
period's rows in ``result_periods`` / ``result_rows``. ``read_results`` returns the stored
rows of one dimension. The same transaction stores every funder's analytics report
(:mod:`.analytics_store`), so the manufacturer portal reads it too.
"""
from __future__ import annotations

import time
from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import Connection, Engine, delete, select, text

from ..models.results import ResultPeriod, ResultRow
from .analytics_inputs import read_funded_offers
from .analytics_store import store_period_analytics
from .inputs import load_lift_inputs
from .lift import LiftRow, clean_value, lift_from_inputs, pooled_lift
from .lifecycle import period_arms, program_level, winback
from .measures import accuracy, accuracy_by_offer, by_dimensions, by_week
from .period_lines import PeriodLines, read_period_lines
from .scan_window import ScanWindows
from .statements import find_period

BY_CHOICES = ("offer", "cell", "store", "week", "stage", "offer_cell", "calibration", "funder", "category",
              "program", "winback")


class ResultsError(ValueError):
    """The period cannot be reported (unknown, or nothing was built for it)."""


_PERIOD = text("SELECT MIN(period_end), COUNT(*) FROM list_builds WHERE period_start = :p AND status = 'complete'")

_LIFT_FIELDS = ("n_treated", "n_control", "mean_treated", "mean_control", "lift", "relative_lift", "ci_low",
                "ci_high", "cuped_lift", "cuped_ci_low", "cuped_ci_high", "variance_reduction", "significant",
                "incremental_total")
_PREFIX = {"units": "units_", "net_sales_cents": "sales_"}


def period_end_of(conn: Connection, period_start: date) -> date:
    end, builds = conn.execute(_PERIOD, {"p": period_start}).one()
    if not builds:
        raise ResultsError(f"no lists were built for the period starting {period_start.isoformat()}")
    return end if isinstance(end, date) else date.fromisoformat(str(end))


def _lift_fields(row: LiftRow) -> dict[str, Any]:
    """The stored fields of a lift row (only those: eleven thousand rows at 500 offers)."""
    prefix = _PREFIX[row.outcome]
    out = {prefix + k: clean_value(getattr(row, k)) for k in _LIFT_FIELDS}
    if row.outcome == "net_sales_cents":
        out.update(sales_per_funded_dollar=clean_value(row.sales_per_funded_dollar),
                   sales_per_retailer_dollar=clean_value(row.sales_per_retailer_dollar))
    return out


def compute(conn: Connection, period_start: date, pre_weeks: int = 8, scans: ScanWindows | None = None,
            lines: PeriodLines | None = None) -> dict[str, list[dict[str, Any]]]:
    """Every dimension's rows for the period (nothing written); the scan lines are read
    through ``scans`` and the list lines taken from ``lines`` when given (reads shared with
    analytics)."""
    end = period_end_of(conn, period_start)
    if lines is None:  # one read serves the pairs, the dimensions and the ledger by cell
        lines = read_period_lines(conn, period_start, period_start)
    inputs = load_lift_inputs(conn, period_start, period_start, pre_weeks=pre_weeks, scans=scans, lines=lines)
    offers = {int(o["id"]): o for o in inputs.offers}
    lift = lift_from_inputs(inputs)
    by_cell = lift_from_inputs(inputs, by_cell=True)
    hit = accuracy_by_offer(inputs)

    dims = by_dimensions(conn, period_start, period_start, lines)
    # each offer's lift rows (units, sales) once, not a scan of every offer's rows per offer
    lift_by_offer: dict[int, dict[str, Any]] = {}
    for r in lift:
        lift_by_offer.setdefault(r.offer_id, {}).update(_lift_fields(r))
    offer_rows = []
    for row in dims["offer"]:
        offer_id = int(row["key"])
        meta = offers.get(offer_id, {})
        merged = {**row, "offer_id": offer_id, "slug": meta.get("slug", ""), "name": meta.get("name", ""),
                  "manufacturer_id": meta.get("manufacturer_id"), "category": meta.get("category", ""),
                  "hit_rate": hit.get(offer_id)}
        merged.update(lift_by_offer.get(offer_id, {}))
        merged["key"] = merged["slug"] or str(offer_id)
        offer_rows.append(merged)
    cell_lift: dict[tuple[int, str], dict[str, Any]] = {}
    for r in by_cell:
        entry = cell_lift.setdefault((r.offer_id, r.cell), {
            "key": f"{offers[r.offer_id]['slug']} {r.cell}", "offer_id": r.offer_id, "cell": r.cell,
            "manufacturer_id": r.manufacturer_id})
        entry.update(_lift_fields(r))
    acc = accuracy(inputs, inputs.probability if inputs.probability is not None else inputs.units * 0)
    pooled = {name: [p.as_dict() | {"key": f"{p.key} {p.outcome}"} for p in pooled_lift(lift, key)]
              for name, key in (("funder", lambda r: r.manufacturer_id or "retailer"),
                                ("category", lambda r: r.category or "-"))}
    arms = period_arms(conn, period_start, period_start)
    rows = {
        "offer": offer_rows,
        "offer_cell": list(cell_lift.values()),
        "cell": dims["cell"],
        "store": dims["store"],
        "stage": dims["stage"],
        "week": by_week(conn, period_start, period_start),
        "calibration": acc["calibration"],
        "funder": pooled["funder"],
        "category": pooled["category"],
        "program": program_level(conn, period_start, period_start, arms),
        "winback": winback(conn, period_start, period_start, arms=arms),
    }
    if not rows["stage"]:
        raise ResultsError(f"the period starting {period_start.isoformat()} has no lists: nothing to report")
    rows["_start"] = period_start.isoformat()  # type: ignore[assignment]
    rows["_summary"] = [_summary(rows, acc, end)]
    del rows["_start"]
    return rows


def _summary(rows: dict[str, list[dict[str, Any]]], acc: dict[str, Any], end: date) -> dict[str, Any]:
    stage_rows = rows["stage"]
    total = {k: sum(r[k] for r in stage_rows) for k in ("lists_delivered", "lists_printed", "lists_web",
                                                        "lines_printed", "members_reached", "redemptions",
                                                        "lines_redeemed", "discount_cents", "funded_cents",
                                                        "handling_fee_cents", "face_value_printed_cents")}
    total["retailer_cost_cents"] = total["discount_cents"] - total["funded_cents"]
    total["redemption_rate"] = round(total["lines_redeemed"] / total["lines_printed"], 4) if total["lines_printed"] else None
    total["hit_rate"] = acc["hit_rate"]
    total["mean_predicted"] = acc["mean_predicted"]
    total["period_end"] = end.isoformat()
    total["period_start"] = rows["_start"]
    total["offers_significant"] = sum(1 for r in rows["offer"] if r.get("units_significant"))
    return total


def compute_period(engine: Engine, period_start: date, *, pre_weeks: int = 8, now: datetime | None = None,
                   min_group_size: int = 10, trial_weeks: int = 12,
                   timings: dict[str, float] | None = None) -> dict[str, Any]:
    """Compute the period's results and every funder's analytics report (suppressing groups
    under ``min_group_size`` members) and replace what was stored for it; returns the summary.

    Results and analytics share one read of the period's scan lines (analytics' window, the
    wider one, is announced first). ``timings``, when given, receives the seconds of each
    part ("results", "analytics"; the shared read counts in the results')."""
    clock = time.perf_counter()
    with engine.begin() as conn:
        scans = ScanWindows()
        lines = read_period_lines(conn, period_start, period_start)
        period = find_period(conn, period_start)
        # every funder's offers, read once: they size the shared scan read and feed analytics
        funded = read_funded_offers(conn, (period.start, period.end), None, lines) if period else None
        if funded is not None:  # (no lists: compute says so below)
            scans.plan(*funded.scan_window(trial_weeks))
        rows = compute(conn, period_start, pre_weeks, scans, lines)
        summary = rows.pop("_summary")[0]
        conn.execute(delete(ResultRow).where(ResultRow.period_start == period_start))
        conn.execute(delete(ResultPeriod).where(ResultPeriod.period_start == period_start))
        conn.execute(ResultPeriod.__table__.insert().values(
            period_start=period_start, period_end=date.fromisoformat(summary["period_end"]),
            computed_at=now or datetime.now(timezone.utc), pre_weeks=pre_weeks, summary=summary))
        columns: dict[str, list[Any]] = {k: [] for k in ("period_start", "dimension", "key", "offer_id",
                                                         "manufacturer_id", "units_lift", "data")}
        for dimension, items in rows.items():
            for item in items:
                columns["period_start"].append(period_start)
                columns["dimension"].append(dimension)
                columns["key"].append(str(item.get("key", ""))[:200])
                columns["offer_id"].append(item.get("offer_id"))
                columns["manufacturer_id"].append(item.get("manufacturer_id"))
                columns["units_lift"].append(item.get("units_cuped_lift"))
                columns["data"].append(item)
        if columns["data"]:
            _insert_rows(conn, columns)
        middle = time.perf_counter()
        store_period_analytics(conn, period_start, min_group_size=min_group_size, trial_weeks=trial_weeks,
                               scans=scans, lines=lines, funded=funded)
    if timings is not None:
        timings["results"] = middle - clock
        timings["analytics"] = time.perf_counter() - middle
    return summary


def _insert_rows(conn: Connection, columns: dict[str, list[Any]]) -> None:
    keys = list(columns)
    conn.execute(ResultRow.__table__.insert(), [dict(zip(keys, values)) for values in zip(*columns.values())])


_RECENT = text("""
    SELECT DISTINCT period_start FROM list_builds
    WHERE status = 'complete' AND period_start < :as_of AND period_end >= :since
    ORDER BY period_start
""")


def compute_recent_periods(engine: Engine, as_of: date, *, refresh_days: int = 28, pre_weeks: int = 8,
                           now: datetime | None = None, min_group_size: int = 10,
                           trial_weeks: int = 12) -> list[date]:
    """Recompute every period under way on ``as_of`` or ended in the ``refresh_days`` before
    (returns keep arriving after a period ends); returns the periods computed."""
    from datetime import timedelta

    with engine.connect() as conn:
        starts = [_day(d) for d in conn.execute(_RECENT, {"as_of": as_of,
                                                           "since": as_of - timedelta(days=refresh_days)}).scalars()]
    done = []
    for start in starts:
        try:
            compute_period(engine, start, pre_weeks=pre_weeks, now=now, min_group_size=min_group_size,
                           trial_weeks=trial_weeks)
        except ResultsError:
            continue  # a period whose build produced no lists has nothing to report
        done.append(start)
    return done


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def read_results(conn: Connection, period_start: date, by: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The stored summary and rows of one dimension (None summary: the period was never computed)."""
    summary = conn.execute(select(ResultPeriod.summary).where(ResultPeriod.period_start == period_start)).scalar()
    if summary is None:
        return None, []
    rows = conn.execute(select(ResultRow.data).where(ResultRow.period_start == period_start,
                                                     ResultRow.dimension == by).order_by(ResultRow.id)).scalars().all()
    return summary, list(rows)


__all__ = ["BY_CHOICES", "ResultsError", "compute", "compute_period", "compute_recent_periods", "period_end_of",
           "read_results"]
