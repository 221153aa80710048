"""The manufacturer portal (``/portal``): a funder's own offers, results, analytics and statements.

A portal user is bound to one manufacturer. Lists are filtered to it, and every object is
checked with ``authorize`` (another funder's offer is 403, not 404, whatever its id).
Nothing here reads member identities: the pages show offers and aggregates only.
"""
from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from ..app import db_session
from ..console.refs import offer_ref
from ..models.catalog import Manufacturer
from ..models.offers import Offer
from .authz import authorize, current_principal, register_error_pages, requires

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
    rows = db_session().execute(
        select(Offer).where(Offer.funder_kind == "manufacturer", Offer.manufacturer_id == funder.id)
        .order_by(Offer.valid_from.desc(), Offer.id.desc())
    ).scalars().all()
    return render_template("portal/offers.html", funder=funder, offers=rows)


@bp.get("/offers/<int:offer_id>")
@requires("portal.view")
def offer(offer_id: int) -> str:
    db = db_session()
    row = db.get(Offer, offer_id)
    if row is None:
        abort(404)
    authorize("offer.view", offer_ref(db, row))
    return render_template("portal/offer.html", funder=_funder(), offer=row)
