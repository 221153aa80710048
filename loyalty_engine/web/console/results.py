"""Results pages of the staff console: a list period's stored results by offer, cell, store,
week, stage, funder and category, with lift and 95 % intervals, and their CSV.

Pages read what ``results.store.compute_period`` stored (``console.results_view``), never scan
lines. Computing a period that has lists but no results yet is a button (``results.compute``:
admins, category managers and approvers; analysts only read), audited.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from ..paging import page_arg
from ...analytics.lift_chart import LiftPoint, lift_chart, lift_points
from ...app import app_config, db_session
from ...console.results_view import (DIMENSIONS, PAGE_ROWS, largest_lifts, periods, rows_csv, stored_page,
                                      stored_rows)
from ...results.store import ResultsError, compute_period
from ..periods import chosen_period
from ..authz import audit, now, requires
from . import bp

DIMENSION_LABELS = {"offer": "Offer", "offer_cell": "Offer x cell", "cell": "Cell", "store": "Store",
                    "week": "Week", "stage": "Lifecycle stage", "funder": "Pooled per funder",
                    "category": "Pooled per category", "program": "Program (global hold-out)",
                    "winback": "Win-back lists", "calibration": "List accuracy against prediction"}




def _by_arg() -> str:
    by = request.args.get("by", "offer")
    if by not in DIMENSIONS:
        abort(400)
    return by


def _charts(period: date, by: str) -> dict[str, Any]:
    """Lift with intervals: the offers with the largest lift (units), pooled per funder and
    category, and with ``by`` offer_cell the offer x cells with the largest lift. A chart draws
    at most ``CHART_ROWS`` rows, chosen by the database: the table below pages through them all."""
    db = db_session()
    offers, n_offers = largest_lifts(db, period, "offer")
    charts: dict[str, Any] = {
        "offer_units": lift_chart(lift_points(offers, "slug"), _chart_title("offers", len(offers), n_offers), "units"),
    }
    for dim in ("funder", "category"):
        _s, rows = stored_rows(db, period, dim)
        points = [LiftPoint(str(r["key"]).rsplit(" ", 1)[0] + f" ({r['offers']} offers)", r["estimate"],
                            r["ci_low"], r["ci_high"])
                  for r in rows if r.get("outcome") == "units" and r.get("estimate") is not None
                  and r.get("ci_low") is not None and r.get("ci_high") is not None]
        charts[dim] = lift_chart(points, f"Pooled lift in units per targeted member, by {dim}", "units")
    if by == "offer_cell":
        cells, n_cells = largest_lifts(db, period, "offer_cell")
        charts["cells"] = lift_chart(lift_points(cells, "key"), _chart_title("offer x cells", len(cells), n_cells),
                                     "units")
    return charts


def _chart_title(what: str, shown: int, total: int) -> str:
    largest = f"the {shown} largest of {total:,} {what}" if shown < total else what
    return f"Lift in units per targeted member, {largest}"


@bp.get("/results")
@requires("console.view")
def results() -> str:
    known = periods(db_session())
    period = chosen_period(known, prefer_computed=True)
    by = _by_arg()
    page = page_arg()
    summary, rows, charts, total = None, [], {}, 0
    if period is not None and period.computed_at is not None:
        summary, rows, total = stored_page(db_session(), period.start, by, page)
        charts = _charts(period.start, by)
    return render_template("console/results.html", periods=known, period=period, by=by, summary=summary, rows=rows,
                           charts=charts, dimensions=DIMENSION_LABELS, page=page, total=total,
                           pages=max((total + PAGE_ROWS - 1) // PAGE_ROWS, 1))


@bp.get("/results.csv")
@requires("console.view")
def results_csv() -> Response:
    known = periods(db_session())
    period = chosen_period(known, prefer_computed=True)
    by = _by_arg()
    if period is None or period.computed_at is None:
        abort(404)
    _summary, rows = stored_rows(db_session(), period.start, by)
    name = f"results-{period.start.isoformat()}-{by}.csv"
    return Response(rows_csv(rows), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.post("/results/compute")
@requires("results.compute")
def results_compute() -> Response:
    """Compute (or recompute) a period's results from its lists, scans and ledger, and store them."""
    period = chosen_period(periods(db_session()), prefer_computed=True)
    if period is None:
        abort(404)
    db = db_session()
    db.rollback()  # end the request's read transaction: the computation writes on its own connection
    try:
        config = app_config(current_app)
        summary = compute_period(current_app.extensions["loyalty_engine"]["engine"], period.start, now=now(),
                                 min_group_size=config.min_group_size, trial_weeks=config.trial_weeks)
    except ResultsError as exc:
        flash(str(exc), "error")
        return redirect(url_for("console.results", period=period.start.isoformat()))
    audit("results.compute", "result_period", period.start.isoformat(),
          None if period.computed_at is None else {"computed_at": period.computed_at.isoformat()},
          {"computed_at": now().isoformat(), "redemptions": summary.get("redemptions"),
           "offers_significant": summary.get("offers_significant")})
    db.commit()
    current_app.logger.info("results of %s computed", period.start)
    flash(f"Results of the period starting {period.start} computed.", "info")
    return redirect(url_for("console.results", period=period.start.isoformat()))
