"""Offers: the list, the wizard, one offer (forecast, actions, audit trail) and the approval queue.

Views are thin: the wizard's rules are the offer files' (``offers.wizard`` / ``offers.service``),
the workflow is ``offers.workflow``; every route carries ``@requires`` and every object is
checked with ``authorize`` (category managers act only on offers of their categories).
"""
from __future__ import annotations

from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from ..paging import page_arg
from ...analytics.charts import bar_chart, day_points, forecast_chart
from ...analytics.dashboard import offer_days
from ...analytics.segment_cells import CELL_NAMES, cell_member_counts, segment_categories
from ...app import app_config, db_session
from ...console import refs
from ...console.access import OfferRef
from ...console.audit import object_history
from ...models.catalog import Manufacturer
from ...models.offers import LIFECYCLE_STAGES, OFFER_STATUSES, Offer
from ...offers.definition import DefinitionError
from ...offers.overview import PAGE_SIZE, offer_categories, offer_products, offer_rows
from ...offers.service import OfferError, offer_benefit_texts
from ...offers.wizard import (
    FORM_ERROR,
    SCOPE_SEARCH_KINDS,
    catalog_errors,
    form_from_definition,
    scope_size,
    search_scope,
    validate_form,
)
from ...offers.workflow import (
    EDITABLE,
    Transition,
    approval_queue,
    approve_offer,
    forecast_is_current,
    latest_forecast,
    latest_forecasts,
    pause,
    return_to_draft,
    run_forecast,
    save_draft,
    store_forecast,
    submit_offer,
)
from ..authz import allowed, audit, authorize, current_principal, maker_checker_on, now, requires
from . import bp


def _offer_or_404(offer_id: int) -> Offer:
    offer = db_session().get(Offer, offer_id)
    if offer is None:
        abort(404)
    return offer


def offer_ref(offer: Offer, categories: frozenset[str] | None = None) -> OfferRef:
    """What the policy decides on; ``categories`` when a list page read them in bulk."""
    if categories is None:
        return refs.offer_ref(db_session(), offer)
    return OfferRef(offer.id, offer.funder_kind, offer.manufacturer_id, categories, offer.submitted_by)


def _record(step: Transition) -> None:
    audit(f"offer.{step.action}", "offer", step.offer.id, step.before, step.after)


@bp.get("/offers")
@requires("console.view")
def offers() -> str:
    status = request.args.get("status", "")
    status = status if status in OFFER_STATUSES else ""
    search = request.args.get("q", "")[:100]
    page = page_arg()
    user = current_principal()
    mine = bool(request.args.get("mine")) and user is not None and user.role == "category_manager"
    rows, total = offer_rows(db_session(), status or None, search, user.categories if mine and user else None, page)
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    return render_template("console/offers.html", rows=rows, total=total, page=page, pages=pages, status=status,
                           statuses=OFFER_STATUSES, q=search, mine=mine)


# -- the wizard ------------------------------------------------------------------------------

def _lists(source: Any) -> dict[str, list[str]]:
    return {"cells": source.getlist("cells"), "stages": source.getlist("stages")}


def _wizard(form: dict[str, str], lists: dict[str, list[str]], errors: dict[str, list[str]],
            offer: Offer | None, status: int = 200) -> tuple[str, int]:
    db = db_session()
    kind = form.get("search_kind") or form.get("scope_kind") or "brand"
    query = form.get("search", "")
    matches = search_scope(db, kind, query) if query else []
    category = form.get("segment_category") or (form.get("within_category") or "")
    categories = [c for c, _ in segment_categories(db)]
    counts = cell_member_counts(db, category) if category else {}
    manufacturers = db.query(Manufacturer.id, Manufacturer.name).order_by(Manufacturer.name).all()
    return render_template(
        "console/offer_wizard.html", form=form, lists=lists, errors=errors, offer=offer, matches=matches,
        search_kinds=SCOPE_SEARCH_KINDS, search_kind=kind, search=query, cell_names=CELL_NAMES,
        cell_counts=counts, cell_category=category, categories=categories, stages=LIFECYCLE_STAGES,
        manufacturers=manufacturers, form_error=FORM_ERROR, scope=scope_size(db, form),
    ), status


def _handle_wizard(offer: Offer | None) -> Response | tuple[str, int]:
    form = {k: v for k, v in request.form.items() if k not in ("cells", "stages", "csrf_token", "pick")}
    lists = _lists(request.form)
    if request.form.get("pick"):
        _pick(form, request.form["pick"])
    if request.form.get("action") != "save":
        return _wizard(form, lists, {}, offer)  # search the scope, refresh the cell counts
    result = validate_form(form, lists)
    if result.definition is None:
        return _wizard(form, lists, result.errors, offer, 400)
    if offer is not None and result.definition.slug != offer.slug:
        return _wizard(form, lists, {"slug": ["the slug of a saved offer cannot change"]}, offer, 400)
    db = db_session()
    existing = db.query(Offer).filter(Offer.slug == result.definition.slug).one_or_none()
    if offer is None and existing is not None:
        return _wizard(form, lists, {"slug": [f"an offer {existing.slug!r} exists already: choose another slug"]},
                       None, 400)
    user = current_principal()
    assert user is not None
    before = offer_state_for_audit(existing)
    try:
        saved, created = save_draft(db, result.definition, now().date())
    except (DefinitionError, OfferError) as exc:
        db.rollback()
        return _wizard(form, lists, catalog_errors(exc), offer, 400)
    ref = offer_ref(saved)
    if not allowed("offer.edit", ref):
        db.rollback()
        mine = ", ".join(sorted(user.categories)) or "none"
        return _wizard(form, lists, {"scope_values": [
            f"the scope is in {', '.join(sorted(ref.categories))}; your categories are {mine}"]}, offer, 403)
    audit("offer.create" if created else "offer.edit", "offer", saved.id, before, saved.definition)
    db.commit()
    flash(f"Draft {saved.slug} saved. Run its forecast, then submit it for approval.", "info")
    return redirect(url_for("console.offer", offer_id=saved.id))


def _pick(form: dict[str, str], picked: str) -> None:
    """A search result's "Use" button: put the value into the scope (same kind: added to it)."""
    kind, _, rest = picked.partition("|")
    value, _, category = rest.partition("|")
    if kind not in SCOPE_SEARCH_KINDS or not value:
        return
    values = [v.strip() for v in form.get("scope_values", "").split(",") if v.strip()]
    if form.get("scope_kind") != kind:
        values = []
    if value not in values:
        values.append(value)
    form["scope_kind"], form["scope_values"] = kind, ", ".join(values)
    if category and kind in ("brand", "subcategory") and not form.get("within_category"):
        form["within_category"] = category
    if category and not form.get("segment_category"):
        form["segment_category"] = category


def offer_state_for_audit(offer: Offer | None) -> dict[str, Any] | None:
    return None if offer is None else dict(offer.definition or {}, status=offer.status)


@bp.route("/offers/new", methods=["GET", "POST"])
@requires("offers.edit")
def offer_new() -> Response | tuple[str, int]:
    if request.method == "GET":
        return _wizard({"scope_kind": "brand", "funder": "manufacturer", "benefit_kind": "amount_off",
                        "share": "100", "handling_fee": "0", "min_quantity": "1", "limit": "1",
                        "holdout_share": "10", "match_on": "scope"}, {"cells": [], "stages": []}, {}, None)
    return _handle_wizard(None)


@bp.route("/offers/<int:offer_id>/edit", methods=["GET", "POST"])
@requires("offers.edit")
def offer_edit(offer_id: int) -> Response | tuple[str, int]:
    offer = _offer_or_404(offer_id)
    authorize("offer.edit", offer_ref(offer))
    if offer.status not in EDITABLE:
        flash(f"The offer is {offer.status}: pause it before changing it.", "error")
        return redirect(url_for("console.offer", offer_id=offer.id))
    if request.method == "GET":
        form, lists = form_from_definition(offer.definition)
        return _wizard(form, lists, {}, offer)
    return _handle_wizard(offer)


# -- one offer -------------------------------------------------------------------------------

@bp.get("/offers/<int:offer_id>")
@requires("console.view")
def offer(offer_id: int) -> str:
    db = db_session()
    offer = _offer_or_404(offer_id)
    ref = offer_ref(offer)
    authorize("offer.view", ref)
    record = latest_forecast(db, offer)
    chart = forecast_chart(record.body["cells"], "Expected redemptions per cell") if record else None
    total, products = offer_products(db, offer.id)
    days = offer_days(db, offer.id, now().date()) if offer.status in ("active", "paused", "ended") else []
    redemptions = bar_chart(day_points([(d.day, d.applications) for d in days]),
                            "Redemptions per day, last 8 weeks") if days else None
    return render_template(
        "console/offer.html", offer=offer, ref=ref, texts=offer_benefit_texts(offer), forecast=record,
        redemptions_chart=redemptions,
        forecast_current=forecast_is_current(record, offer), chart=chart, product_total=total, products=products,
        trail=object_history(db, "offer", offer.id), maker_checker=maker_checker_on(),
        can_edit=allowed("offer.edit", ref) and offer.status in EDITABLE,
        can_submit=allowed("offer.submit", ref) and offer.status in ("draft", "paused"),
        can_pause=allowed("offer.pause", ref) and offer.status == "active",
        can_approve=allowed("offer.approve", ref) and offer.status == "submitted",
    )


@bp.post("/offers/<int:offer_id>/forecast")
@requires("offers.edit")
def offer_forecast(offer_id: int) -> Response:
    from ...shopping_lists.model_source import ModelUnavailable

    db = db_session()
    offer = _offer_or_404(offer_id)
    authorize("offer.edit", offer_ref(offer))
    config = app_config(current_app)
    try:
        result = run_forecast(db, current_app.extensions["loyalty_engine"]["engine"], config, offer, now().date())
    except ModelUnavailable as exc:
        flash(f"No forecast: {exc}", "error")
        return redirect(url_for("console.offer", offer_id=offer.id))
    user = current_principal()
    store_forecast(db, offer, result, user.username if user else "", now())
    db.commit()
    return redirect(url_for("console.offer", offer_id=offer.id) + "#forecast")


def _workflow_step(offer_id: int, action: str, step) -> Response:  # type: ignore[no-untyped-def]
    db = db_session()
    offer = _offer_or_404(offer_id)
    authorize(action, offer_ref(offer))
    try:
        transition = step(db, offer)
    except (OfferError, DefinitionError) as exc:
        db.rollback()
        flash(str(exc), "error")
        return redirect(url_for("console.offer", offer_id=offer_id))
    _record(transition)
    db.commit()
    flash(f"Offer {offer.slug}: {transition.action} done; it is now {offer.status}.", "info")
    return redirect(url_for("console.offer", offer_id=offer_id))


@bp.post("/offers/<int:offer_id>/submit")
@requires("offers.edit")
def offer_submit(offer_id: int) -> Response:
    user = current_principal()
    return _workflow_step(offer_id, "offer.submit", lambda db, offer: submit_offer(
        db, offer, user.username, now(), maker_checker_on()))  # type: ignore[union-attr]


@bp.post("/offers/<int:offer_id>/pause")
@requires("offers.edit")
def offer_pause(offer_id: int) -> Response:
    return _workflow_step(offer_id, "offer.pause", lambda db, offer: pause(db, offer))


@bp.post("/offers/<int:offer_id>/approve")
@requires("offers.approve")
def offer_approve(offer_id: int) -> Response:
    user = current_principal()
    return _workflow_step(offer_id, "offer.approve", lambda db, offer: approve_offer(
        db, offer, user.username, now()))  # type: ignore[union-attr]


@bp.post("/offers/<int:offer_id>/return")
@requires("offers.approve")
def offer_return(offer_id: int) -> Response:
    user = current_principal()
    reason = request.form.get("reason", "")[:500]
    return _workflow_step(offer_id, "offer.approve", lambda db, offer: return_to_draft(
        db, offer, user.username, reason))  # type: ignore[union-attr]


@bp.get("/approvals")
@requires("offers.approve")
def approvals() -> str:
    db = db_session()
    queue = approval_queue(db)
    categories = offer_categories(db, [o.id for o in queue])
    records = latest_forecasts(db, queue)
    rows = [(o, records.get(o.id), allowed("offer.approve", offer_ref(o, categories[o.id]))) for o in queue]
    return render_template("console/approvals.html", rows=rows, maker_checker=maker_checker_on())
