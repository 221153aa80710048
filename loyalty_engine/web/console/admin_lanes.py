"""Admin: stores, and lanes with their API keys (issue, rotate, revoke; a new key is shown once).

The keys are the lane API's own (:mod:`loyalty_engine.checkout.lanes`), the same as
``loyalty-engine lanes add/revoke``; this page adds the audit entries.
"""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms import SelectChoice

from ...app import db_session
from ...checkout.errors import CheckoutError
from ...checkout.lanes import issue_key, list_keys, revoke
from ...console.stores import STORE_FIELDS, save_store, store_snapshot
from ...console.users import UserError
from ...models.catalog import Store
from ..authz import audit, current_principal, now, requires
from . import bp
from .forms import ConfirmForm, LaneKeyForm, StoreForm


@bp.get("/admin/stores")
@requires("stores.manage")
def stores() -> str:
    rows = db_session().execute(select(Store).order_by(Store.id)).scalars().all()
    return render_template("console/stores.html", stores=rows)


@bp.route("/admin/stores/new", methods=["GET", "POST"], defaults={"store_id": None})
@bp.route("/admin/stores/<store_id>", methods=["GET", "POST"])
@requires("stores.manage")
def store_edit(store_id: str | None) -> Response | str | tuple[str, int]:
    db = db_session()
    store = db.get(Store, store_id) if store_id is not None else None
    if store_id is not None and store is None:
        abort(404)
    form = StoreForm(data=store_snapshot(store) | {"store_id": store.id} if store else {"timezone": "America/Chicago"})
    if form.validate_on_submit():
        values = {name: getattr(form, name).data or "" for name in STORE_FIELDS}
        try:
            save_store(db, store_id or form.store_id.data or "", values, actor=current_principal(),  # type: ignore[arg-type]
                       at=now(), create=store is None)
        except UserError as exc:
            db.rollback()
            getattr(form, exc.field, form.store_id).errors = [exc.message]
        else:
            db.commit()
            flash("Store saved.", "success")
            return redirect(url_for("console.stores"))
    status = 400 if request.method == "POST" else 200
    return render_template("console/store_form.html", form=form, store=store), status


def _lane_form() -> LaneKeyForm:
    form = LaneKeyForm()
    form.store_id.choices = [SelectChoice(s) for s in db_session().execute(select(Store.id).order_by(Store.id)).scalars()]
    return form


@bp.get("/admin/lanes")
@requires("lanes.manage")
def lanes() -> str:
    keys = list_keys(db_session().connection(), include_revoked=request.args.get("all") == "1")
    return render_template("console/lanes.html", keys=keys, form=_lane_form(), action_form=ConfirmForm(),
                           issued=None)


@bp.post("/admin/lanes/keys")
@requires("lanes.manage")
def lane_key_issue() -> Response | tuple[str, int]:
    """Issue a key (rotate=1 replaces the lane's active key). The key is in this answer only."""
    form = _lane_form()
    db = db_session()
    if form.validate_on_submit():
        rotate = request.form.get("rotate") == "1"
        try:
            issued = issue_key(db.connection(), form.store_id.data or "", (form.lane_code.data or "").strip(), now(),
                               rotate=rotate)
        except CheckoutError as exc:
            db.rollback()
            form.lane_code.errors = [exc.message]
        else:
            audit("lane_key.rotate" if rotate else "lane_key.issue", "lane", f"{issued.store_id}/{issued.lane_code}",
                  None, {"key_id": issued.key_id})
            db.commit()
            keys = list_keys(db.connection())
            return render_template("console/lanes.html", keys=keys, form=_lane_form(), action_form=ConfirmForm(),
                                   issued=issued), 201
    keys = list_keys(db.connection())
    return render_template("console/lanes.html", keys=keys, form=form, action_form=ConfirmForm(), issued=None), 400


@bp.post("/admin/lanes/keys/<key_id>/revoke")
@requires("lanes.manage")
def lane_key_revoke(key_id: str) -> Response:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    db = db_session()
    count = revoke(db.connection(), now(), key_id=key_id)
    if count:
        audit("lane_key.revoke", "lane_key", key_id, {"revoked": False}, {"revoked": True})
        db.commit()
        flash(f"Key {key_id} revoked: the lane's calls with it now get 401.", "success")
    else:
        flash(f"No active key {key_id}.", "error")
    return redirect(url_for("console.lanes"))
