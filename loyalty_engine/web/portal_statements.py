"""The portal's statements (CSV and PDF, the same files the CLI writes) and anonymized analytics (page and CSV).

A statement of another funder is 403 (checked with ``authorize('funder.view', ...)``);
statements hold offers and sums per week, never a member.
"""
from __future__ import annotations

from datetime import date

from flask import Response, abort, current_app, render_template, request
from sqlalchemy import select

from ..app import app_config, db_session
from ..cli.analytics import report_csv
from ..console.access import FunderRef
from ..models.lists import ListBuild
from ..render.settings import RenderSettings
from ..render.statement_pdf import render_statement_pdf
from ..results.analytics import AnalyticsError, AnalyticsReport, funder_analytics
from ..results.statement_files import statement_csv
from ..results.statements import StatementDoc, get_statement, list_statements
from .authz import authorize, requires
from .portal import _funder, bp


@bp.get("/statements")
@requires("portal.view")
def statements() -> str:
    funder = _funder()
    return render_template("portal/statements.html", funder=funder,
                           statements=list(reversed(list_statements(db_session(), funder.id))))


def _statement(number: str) -> StatementDoc:
    doc = get_statement(db_session(), number)
    if doc is None:
        abort(404)
    authorize("funder.view", FunderRef(doc.manufacturer_id))
    return doc


def _download(data: bytes, mimetype: str, filename: str) -> Response:
    response = Response(data, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@bp.get("/statements/<number>.csv")
@requires("portal.view")
def statement_csv_file(number: str) -> Response:
    doc = _statement(number)
    return _download(statement_csv(doc), "text/csv", f"{doc.number}.csv")


@bp.get("/statements/<number>.pdf")
@requires("portal.view")
def statement_pdf_file(number: str) -> Response:
    doc = _statement(number)
    pdf = render_statement_pdf(doc, RenderSettings.from_config(app_config(current_app)))
    return _download(pdf, "application/pdf", f"{doc.number}.pdf")


def _periods() -> list[date]:
    """List periods with a completed build, newest first (the periods analytics can cover)."""
    return list(db_session().execute(
        select(ListBuild.period_start).where(ListBuild.status == "complete").distinct()
        .order_by(ListBuild.period_start.desc()).limit(26)
    ).scalars())


def _report(period: date | None) -> tuple[AnalyticsReport | None, str]:
    funder = _funder()
    authorize("funder.view", FunderRef(funder.id))
    if period is None:
        return None, "No list period yet."
    config = app_config(current_app)
    try:
        report = funder_analytics(db_session().connection(), funder.id, period,
                                  min_group_size=config.min_group_size, trial_weeks=config.trial_weeks)
    except AnalyticsError as exc:
        return None, str(exc)
    return report, ""


def _period_arg(periods: list[date]) -> date | None:
    raw = request.args.get("period")
    if not raw:
        return periods[0] if periods else None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        abort(400)


@bp.get("/analytics")
@requires("portal.view")
def analytics() -> str:
    """Trial, repeat, source of volume, penetration and lift of the funder's offers; small groups suppressed."""
    periods = _periods()
    period = _period_arg(periods)
    report, message = _report(period)
    return render_template("portal/analytics.html", funder=_funder(), periods=periods, period=period,
                           report=report, message=message, min_group_size=app_config(current_app).min_group_size)


@bp.get("/analytics.csv")
@requires("portal.view")
def analytics_csv() -> Response:
    report, message = _report(_period_arg(_periods()))
    if report is None:
        abort(404, message)
    return _download(report_csv(report).encode("utf-8"), "text/csv",
                     f"analytics-{report.funder}-{report.period_start.isoformat()}.csv")
