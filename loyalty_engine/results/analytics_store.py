"""Storing each funder's analytics report with a period's results, so the portal only reads.

``store_period_analytics`` computes ``period_analytics`` for every funder of the period in
one pass and replaces the period's rows in ``result_analytics`` (the report after small-group
suppression, and the settings used). ``read_funder_analytics`` returns one funder's stored
report as the same ``AnalyticsReport`` the computation returns, or None when it was not stored.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, delete, select

from ..models.results import ResultAnalytics
from .analytics import AnalyticsError, AnalyticsReport, period_analytics
from .analytics_inputs import FundedOffers
from .period_lines import PeriodLines
from .scan_window import ScanWindows


def store_period_analytics(conn: Connection, period_start: date, *, min_group_size: int = 10,
                           trial_weeks: int = 12, scans: ScanWindows | None = None,
                           lines: PeriodLines | None = None, funded: FundedOffers | None = None) -> list[str]:
    """Compute and store every funder's report of the period; returns the funders stored.

    The period's ``result_periods`` row must exist (the reports are deleted with it). A period
    with no funded offers stores nothing. ``scans``, ``lines`` and ``funded`` (every funder's
    offers) are reads shared with the results, when given (see :func:`.analytics.period_analytics`).
    """
    conn.execute(delete(ResultAnalytics).where(ResultAnalytics.period_start == period_start))
    try:
        reports = period_analytics(conn, period_start, min_group_size=min_group_size, trial_weeks=trial_weeks,
                                   scans=scans, lines=lines, funded=funded)
    except AnalyticsError:
        return []  # no lists for the period: nothing to store
    if reports:
        conn.execute(ResultAnalytics.__table__.insert(), [
            {"period_start": period_start, "manufacturer_id": funder, "min_group_size": min_group_size,
             "trial_weeks": trial_weeks, "report": report.as_dict()} for funder, report in reports.items()])
    return sorted(reports)


def report_from_dict(data: dict[str, Any]) -> AnalyticsReport:
    """The report ``AnalyticsReport.as_dict`` wrote."""
    return AnalyticsReport(data["funder"], data["funder_name"], date.fromisoformat(data["period_start"]),
                           date.fromisoformat(data["period_end"]), int(data["min_group_size"]),
                           int(data["trial_weeks"]), list(data["rows"]))


def read_funder_analytics(conn: Connection, manufacturer_id: str, period_start: date) -> AnalyticsReport | None:
    """The funder's stored report of the period (None: not computed, or the funder had no offers on its lists)."""
    data = conn.execute(select(ResultAnalytics.report).where(ResultAnalytics.period_start == period_start,
                                                              ResultAnalytics.manufacturer_id == manufacturer_id)).scalar()
    return None if data is None else report_from_dict(data)


__all__ = ["read_funder_analytics", "report_from_dict", "store_period_analytics"]
