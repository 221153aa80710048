"""What the results pages show, read from the stored results of each list period.

The console and the portal never compute results on a request: ``results.store.compute_period``
stores each period's rows (``result_periods`` / ``result_rows``), and this module only reads
them: the periods computed, one dimension's rows (a funder's own rows for the portal), the
program's pooled lift for the dashboard, and the CSV of a table. No Flask.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Iterable, Sequence

import numpy as np
import orjson
from sqlalchemy import Text, cast, func, select, text
from sqlalchemy.orm import Session

from ..models.results import ResultPeriod, ResultRow
from ..results.estimators import inverse_variance_pool

# the dimensions a staff user can choose on the results page, in the page's order
DIMENSIONS = ("offer", "offer_cell", "cell", "store", "week", "stage", "funder", "category", "program", "winback",
              "calibration")
PAGE_ROWS = 100  # rows of a results table per page (the CSV has them all)
CHART_ROWS = 30  # rows of a lift chart: the largest lifts
Z95 = 1.959964  # the stored pools' intervals are normal 95 %: half-width / Z95 is the standard error


@dataclass(frozen=True)
class PeriodInfo:
    start: date
    end: date
    computed_at: datetime | None  # None: lists were built, results not computed yet


@dataclass(frozen=True)
class PooledLift:
    """Inverse-variance pooled CUPED lift over a period's offers (one outcome)."""

    period_start: date
    period_end: date
    outcome: str
    offers: int
    estimate: float
    ci_low: float
    ci_high: float

    @property
    def significant(self) -> bool:
        return self.ci_low > 0 or self.ci_high < 0


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def periods(session: Session) -> list[PeriodInfo]:
    """Every list period with complete builds, newest first, with when its results were computed."""
    computed = {_day(p): (_day(e), c) for p, e, c in session.execute(
        select(ResultPeriod.period_start, ResultPeriod.period_end, ResultPeriod.computed_at))}
    built = session.execute(text("SELECT period_start, MAX(period_end) FROM list_builds WHERE status = 'complete' "
                                 "GROUP BY period_start")).all()
    out = {_day(p): PeriodInfo(_day(p), _day(e), None) for p, e in built}
    for start, (end, at) in computed.items():
        out[start] = PeriodInfo(start, end, at)
    return sorted(out.values(), key=lambda p: p.start, reverse=True)


def _data(session: Session, query: Any) -> list[dict[str, Any]]:
    """The stored rows' ``data`` of ``query`` (a select of ``_DATA_TEXT``): fetched as text and
    decoded with orjson, three times faster than the driver's json module on 5,000 rows."""
    return [_loads(text_) for text_ in session.execute(query).scalars()]


def _loads(raw: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    try:
        return orjson.loads(raw)  # type: ignore[no-any-return]
    except orjson.JSONDecodeError:  # NaN written by SQLite's json module: the standard library reads it
        return json.loads(raw)  # type: ignore[no-any-return]


_DATA_TEXT = cast(ResultRow.data, Text)


def stored_rows(session: Session, period_start: date, dimension: str,
                manufacturer_id: str | None = None) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The period's stored summary and rows of one dimension; with ``manufacturer_id`` only the
    rows of that funder's offers (the portal's view). None summary: not computed."""
    summary = session.execute(select(ResultPeriod.summary).where(ResultPeriod.period_start == period_start)).scalar()
    if summary is None:
        return None, []
    query = select(_DATA_TEXT).where(ResultRow.period_start == period_start, ResultRow.dimension == dimension)
    if manufacturer_id is not None:
        query = query.where(ResultRow.manufacturer_id == manufacturer_id)
    return summary, _data(session, query.order_by(ResultRow.id))


def stored_page(session: Session, period_start: date, dimension: str, page: int,
                page_size: int = PAGE_ROWS) -> tuple[dict[str, Any] | None, list[dict[str, Any]], int]:
    """One page of a dimension's stored rows (in stored order) and how many rows it has: a
    period of 500 offers has 5,000 offer x cell rows, more than a page should draw."""
    summary = session.execute(select(ResultPeriod.summary).where(ResultPeriod.period_start == period_start)).scalar()
    if summary is None:
        return None, [], 0
    where = (ResultRow.period_start == period_start, ResultRow.dimension == dimension)
    total = session.execute(select(func.count()).select_from(ResultRow).where(*where)).scalar_one()
    rows = _data(session, select(_DATA_TEXT).where(*where).order_by(ResultRow.id)
                 .limit(page_size).offset((max(page, 1) - 1) * page_size))
    return summary, rows, int(total)


def largest_lifts(session: Session, period_start: date, dimension: str,
                  n: int = CHART_ROWS) -> tuple[list[dict[str, Any]], int]:
    """The ``n`` stored rows of a dimension with the largest units lift, and how many rows have
    one: a chart draws these, not all 5,000 offer x cells. Read through the ``units_lift``
    column's index (migration 0015), not by opening every row's JSON."""
    where = (ResultRow.period_start == period_start, ResultRow.dimension == dimension,
             ResultRow.units_lift.is_not(None))
    total = session.execute(select(func.count()).select_from(ResultRow).where(*where)).scalar_one()
    rows = _data(session, select(_DATA_TEXT).where(*where).order_by(ResultRow.units_lift.desc(), ResultRow.id).limit(n))
    return rows, int(total)


def funder_periods(session: Session, manufacturer_id: str) -> list[PeriodInfo]:
    """The computed periods with rows of the funder's offers, newest first."""
    rows = session.execute(
        select(ResultPeriod.period_start, ResultPeriod.period_end, ResultPeriod.computed_at)
        .where(ResultPeriod.period_start.in_(select(ResultRow.period_start).where(
            ResultRow.manufacturer_id == manufacturer_id, ResultRow.dimension == "offer")))
        .order_by(ResultPeriod.period_start.desc())).all()
    return [PeriodInfo(_day(p), _day(e), c) for p, e, c in rows]


def latest_computed(session: Session) -> PeriodInfo | None:
    row = session.execute(select(ResultPeriod.period_start, ResultPeriod.period_end, ResultPeriod.computed_at)
                          .order_by(ResultPeriod.period_start.desc()).limit(1)).first()
    return PeriodInfo(_day(row[0]), _day(row[1]), row[2]) if row else None


def pool_groups(rows: Sequence[dict[str, Any]], outcome: str = "units") -> tuple[int, float, float, float] | None:
    """(offers, estimate, low, high): stored pooled rows (per funder or per category) pooled again.

    Fixed-effect inverse-variance pooling is associative: pooling the per-funder pools gives the
    pool over all their offers. The stored pools' intervals are normal (estimate +- Z95 x se), so
    each se is the interval's half-width / Z95. Rows without an interval are left out.
    """
    chosen = [r for r in rows if r.get("outcome") == outcome and r.get("estimate") is not None
              and r.get("ci_low") is not None and r.get("ci_high") is not None]
    if not chosen:
        return None
    est = np.array([float(r["estimate"]) for r in chosen])
    se = np.array([(float(r["ci_high"]) - float(r["ci_low"])) / (2 * Z95) for r in chosen])
    pooled = inverse_variance_pool(est, se, np.zeros(len(chosen), dtype=np.int64), 1)
    if not pooled.n_groups[0] or not np.isfinite(pooled.estimate[0]):
        return None
    offers = sum(int(r.get("offers") or 0) for r, ok in zip(chosen, np.isfinite(se) & (se > 0)) if ok)
    return offers, float(pooled.estimate[0]), float(pooled.ci_low[0]), float(pooled.ci_high[0])


def program_lift(session: Session, outcome: str = "units") -> PooledLift | None:
    """The pooled lift of the latest computed period over all its offers (the dashboard's tile),
    from the period's stored per-funder pools."""
    latest = latest_computed(session)
    if latest is None:
        return None
    _summary, rows = stored_rows(session, latest.start, "funder")
    pooled = pool_groups(rows, outcome)
    if pooled is None:
        return None
    return PooledLift(latest.start, latest.end, outcome, *pooled)


def rows_csv(rows: Iterable[dict[str, Any]], columns: Sequence[str] | None = None) -> bytes:
    """Rows as CSV bytes: the given columns, or every key in the order first seen."""
    rows = list(rows)
    if columns is None:
        seen: dict[str, None] = {}
        for row in rows:
            seen.update(dict.fromkeys(row))
        columns = list(seen)
    columns = list(columns)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    # lists, not csv.DictWriter: its per-row key checks cost a fifth of a 5,000-row table's time
    writer.writerows([[row.get(name) for name in columns] for row in rows])
    return out.getvalue().encode("utf-8")


# what the portal shows and downloads of its offers' stored rows: offers and sums, never members
PORTAL_OFFER_COLUMNS = ("slug", "name", "category", "lists_delivered", "lines_printed", "members_reached",
                        "redemptions", "redemption_rate", "discount_cents", "funded_cents", "handling_fee_cents",
                        "units_n_treated", "units_n_control", "units_cuped_lift", "units_cuped_ci_low",
                        "units_cuped_ci_high", "sales_cuped_lift", "sales_cuped_ci_low", "sales_cuped_ci_high",
                        "sales_per_funded_dollar", "units_significant")


__all__ = ["DIMENSIONS", "PORTAL_OFFER_COLUMNS", "PeriodInfo", "PooledLift", "funder_periods", "latest_computed", "periods",
           "pool_groups", "program_lift", "rows_csv", "stored_rows", "stored_page", "largest_lifts",
           "PAGE_ROWS", "CHART_ROWS"]
