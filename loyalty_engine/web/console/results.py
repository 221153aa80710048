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

from ...analytics.lift_chart import LiftPoint, lift_chart, lift_points
from ...app import app_config, db_session
from ...console.results_view import DIMENSIONS, periods, rows_csv, stored_rows
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


def _charts(period: date) -> dict[str, Any]:
    """Lift with intervals: per offer (units and net sales), pooled per funder and category."""
    db = db_session()
    _s, offers = stored_rows(db, period, "offer")
    # largest lift first: the offers worth a look are at the top
    by_lift = sorted(lift_points(offers, "slug"), key=lambda p: -p.estimate)
    charts: dict[str, Any] = {
        "offer_units": lift_chart(by_lift, "Lift in units per targeted member, by offer", "units"),
    }
    for dim in ("funder", "category"):
        _s, rows = stored_rows(db, period, dim)
        points = [LiftPoint(str(r["key"]).rsplit(" ", 1)[0] + f" ({r['offers']} offers)", r["estimate"],
                            r["ci_low"], r["ci_high"])
                  for r in rows if r.get("outcome") == "units" and r.get("estimate") is not None
                  and r.get("ci_low") is not None and r.get("ci_high") is not None]
        charts[dim] = lift_chart(points, f"Pooled lift in units per targeted member, by {dim}", "units")
    return charts


@bp.get("/results")
@requires("console.view")
def results() -> str:
    known = periods(db_session())
    period = chosen_period(known, prefer_computed=True)
    by = _by_arg()
    summary, rows, charts = None, [], {}
    if period is not None and period.computed_at is not None:
        summary, rows = stored_rows(db_session(), period.start, by)
        charts = _charts(period.start)
        if by == "offer_cell":
            charts["cells"] = lift_chart(lift_points(rows, "key"), "Lift in units per targeted member, by offer and cell",
                                         "units")
    return render_template("console/results.html", periods=known, period=period, by=by, summary=summary, rows=rows,
                           charts=charts, dimensions=DIMENSION_LABELS)


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
