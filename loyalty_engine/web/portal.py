"""The manufacturer portal (``/portal``): a funder's own offers, results, analytics and statements.

A portal user is bound to one manufacturer. Lists are filtered to it, and every object is
checked with ``authorize`` (another funder's offer is 403, not 404, whatever its id).
Nothing here reads member identities: the pages show offers and aggregates only.
"""
from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, url_for
from werkzeug.wrappers import Response

from ..analytics.charts import bar_chart, day_points
from ..analytics.dashboard import offer_days
from ..app import db_session
from ..console.portal import funder_days, funder_offers, funder_totals
from ..console.refs import offer_ref
from ..models.catalog import Manufacturer
from ..models.offers import Offer
from .authz import authorize, current_principal, now, register_error_pages, requires

bp = Blueprint("portal", __name__, url_prefix="/portal")
register_error_pages(bp)


def _funder() -> Manufacturer:
    principal = current_principal()
    funder = db_session().get(Manufacturer, principal.manufacturer_id) if principal else None
    if funder is None:
        abort(403)
    return funder


@bp.get("/")
@requires("portal.view")
def index() -> Response:
    return redirect(url_for("portal.offers"))


@bp.get("/offers")
@requires("portal.view")
def offers() -> str:
    funder = _funder()
    return render_template("portal/offers.html", funder=funder, offers=funder_offers(db_session(), funder.id))


@bp.get("/offers/<int:offer_id>")
@requires("portal.view")
def offer(offer_id: int) -> str:
    db = db_session()
    row = db.get(Offer, offer_id)
    if row is None:
        abort(404)
    authorize("offer.view", offer_ref(db, row))
    days = offer_days(db, row.id, now().date()) if row.status in ("active", "paused", "ended") else []
    chart = bar_chart(day_points([(d.day, d.applications) for d in days]),
                      "Redemptions per day, last 8 weeks") if days else None
    return render_template("portal/offer.html", funder=_funder(), offer=row, chart=chart)


@bp.get("/results")
@requires("portal.view")
def results() -> str:
    """Redemptions and what the funder owes so far, per offer, and the funded amount per day."""
    funder = _funder()
    db = db_session()
    today = now().date()
    totals = funder_totals(db, funder.id, today)
    days = funder_days(db, funder.id, today)
    chart = bar_chart(day_points([(d.day, d.funded_cents / 100) for d in days], "${:,.2f}"),
                      "Funded per day, last 8 weeks", value_format="${:,.0f}") if days else None
    return render_template("portal/results.html", funder=funder, totals=totals, chart=chart,
                           due_cents=sum(t.due_cents for t in totals))


from . import portal_results  # noqa: E402,F401  (lift, analytics and statements: registers their views on bp)
