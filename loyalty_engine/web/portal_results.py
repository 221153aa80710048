"""The portal's results pages: a manufacturer's own offers' lift, its anonymized analytics and
its issued statements (list, show, CSV and PDF).

Registered on the portal blueprint (``/portal``, manufacturers only). Lists are filtered to
the user's funder; a statement is checked per object (``funder.view``: another funder's
statement is 403). Lift rows are the stored results (``result_rows`` of the funder's
offers); analytics are the funder's report stored with the period's results
(``results.analytics_store``: counts and sums of groups, small groups suppressed). Nothing here reads or shows a member, card, name, address or list.
"""
from __future__ import annotations


from flask import abort, current_app, render_template, request
from werkzeug.wrappers import Response

from .paging import page_arg
from ..analytics.lift_chart import LiftPoint, lift_chart, lift_points
from ..app import app_config, db_session
from ..console.access import FunderRef
from ..console.results_view import PORTAL_OFFER_COLUMNS, PeriodInfo, funder_periods, periods, rows_csv, stored_rows
from ..render.settings import RenderSettings
from ..render.statement_pdf import render_statement_pdf
from ..results.analytics import AnalyticsReport, report_csv
from ..results.analytics_store import read_funder_analytics
from ..results.statement_files import statement_csv
from ..results.statements import StatementDoc, get_statement, list_statements
from .periods import chosen_period
from .authz import authorize, requires
from .portal import _funder, bp




@bp.get("/lift")
@requires("portal.view")
def lift() -> str:
    """The funder's offers in one period: delivery, redemptions, money and lift with 95 % intervals."""
    funder = _funder()
    known = funder_periods(db_session(), funder.id)
    period = chosen_period(known)
    rows: list[dict[str, object]] = []
    charts = {}
    if period is not None:
        _summary, rows = stored_rows(db_session(), period.start, "offer", funder.id)
        charts["units"] = lift_chart(lift_points(rows, "slug"), "Lift in units per targeted member", "units")
        charts["sales"] = lift_chart([LiftPoint(p.label, p.estimate / 100, p.low / 100, p.high / 100)
                                      for p in lift_points(rows, "slug", "sales_cuped_")],
                                     "Lift in net sales per targeted member ($)", "$")
    return render_template("portal/lift.html", funder=funder, periods=known, period=period, rows=rows, charts=charts)


@bp.get("/lift.csv")
@requires("portal.view")
def lift_csv() -> Response:
    funder = _funder()
    period = chosen_period(funder_periods(db_session(), funder.id))
    if period is None:
        abort(404)
    _summary, rows = stored_rows(db_session(), period.start, "offer", funder.id)
    return _download(rows_csv(rows, PORTAL_OFFER_COLUMNS), f"lift-{funder.id}-{period.start}.csv", "text/csv")


def _analytics(funder_id: str, period: PeriodInfo) -> tuple[AnalyticsReport | None, str | None]:
    """The funder's stored report of the period, or why there is none (never computed on a request)."""
    if period.computed_at is None:
        return None, (f"Analytics for the period starting {period.start.isoformat()} are not computed yet: "
                      "they are computed with the period's results.")
    report = read_funder_analytics(db_session().connection(), funder_id, period.start)
    if report is None:
        return None, f"{funder_id} has no offers on the lists of the period {period.start.isoformat()}."
    return report, None


# The report's levels a page shows at a time: a funder of 20 offers in 20 stores has 400 store
# rows; the totals (funder, category, offer) come first, each breakdown on its own page.
LEVELS = {"summary": ("funder", "category", "offer"), "cell": ("cell",), "store": ("store",), "week": ("week",)}
LEVEL_LABELS = {"summary": "Totals and offers", "cell": "By cell", "store": "By store", "week": "By week"}
PAGE_ROWS = 100


@bp.get("/analytics")
@requires("portal.view")
def analytics() -> str:
    """Trial, repeat, source of volume, penetration, units per buyer and lift; small groups suppressed.
    One level of the report at a time (``?level=``), 100 rows a page; the CSV has every row."""
    funder = _funder()
    known = periods(db_session())
    period = chosen_period(known)
    level = request.args.get("level", "summary")
    if level not in LEVELS:
        abort(400)
    page = page_arg()
    report, message = _analytics(funder.id, period) if period is not None else (None, None)
    rows = [r for r in report.rows if r.get("level") in LEVELS[level]] if report is not None else []
    pages = max((len(rows) + PAGE_ROWS - 1) // PAGE_ROWS, 1)
    return render_template("portal/analytics.html", funder=funder, periods=known, period=period, report=report,
                           message=message, rows=rows[(page - 1) * PAGE_ROWS:page * PAGE_ROWS], total=len(rows),
                           level=level, levels=LEVEL_LABELS, page=page, pages=pages)


@bp.get("/analytics.csv")
@requires("portal.view")
def analytics_csv() -> Response:
    funder = _funder()
    period = chosen_period(periods(db_session()))
    if period is None:
        abort(404)
    report, _message = _analytics(funder.id, period)
    if report is None:
        abort(404)
    return _download(report_csv(report).encode("utf-8"), f"analytics-{funder.id}-{period.start}.csv", "text/csv")


@bp.get("/statements")
@requires("portal.view")
def statements() -> str:
    funder = _funder()
    rows = list_statements(db_session(), funder.id)
    return render_template("portal/statements.html", funder=funder, statements=list(reversed(rows)))


def _statement(number: str) -> StatementDoc:
    """The issued statement ``number``: 404 if none, 403 if it is another funder's."""
    doc = get_statement(db_session(), number)
    if doc is None:
        abort(404)
    authorize("funder.view", FunderRef(doc.manufacturer_id))
    return doc


@bp.get("/statements/<number>")
@requires("portal.view")
def statement(number: str) -> str:
    doc = _statement(number)
    return render_template("portal/statement.html", funder=_funder(), doc=doc)


@bp.get("/statements/<number>.csv")
@requires("portal.view")
def statement_csv_file(number: str) -> Response:
    doc = _statement(number)
    return _download(statement_csv(doc), f"{doc.number}.csv", "text/csv")


@bp.get("/statements/<number>.pdf")
@requires("portal.view")
def statement_pdf_file(number: str) -> Response:
    """The issued statement rendered again: the same bytes as the file written at issue."""
    doc = _statement(number)
    pdf = render_statement_pdf(doc, RenderSettings.from_config(app_config(current_app)))
    return _download(pdf, f"{doc.number}.pdf", "application/pdf")


def _download(body: bytes, filename: str, mimetype: str) -> Response:
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{filename}"'})
