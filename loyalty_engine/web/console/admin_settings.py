"""Admin: the effective settings (secrets masked), the maker-checker switch; the audit log."""
from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from ..paging import page_arg
from ...app import app_config, db_session
from ...console.audit import AuditQuery, changed_fields, find_changes
from ...console.settings import RUNTIME_SETTINGS, effective_settings, maker_checker, set_maker_checker
from ..authz import current_principal, now, requires
from . import bp
from .forms import MakerCheckerForm

PAGE_SIZE = 50


@bp.route("/admin/settings", methods=["GET", "POST"])
@requires("settings.manage")
def settings() -> Response | str | tuple[str, int]:
    db = db_session()
    config = app_config(current_app)
    form = MakerCheckerForm(data={"maker_checker": maker_checker(db, config)})
    if form.validate_on_submit():
        set_maker_checker(db, config, bool(form.maker_checker.data), actor=current_principal(), at=now())  # type: ignore[arg-type]
        db.commit()
        flash("Maker-checker is " + ("on" if form.maker_checker.data else "off") + ".", "success")
        return redirect(url_for("console.settings"))
    status = 400 if request.method == "POST" else 200
    return render_template("console/settings.html", form=form, rows=effective_settings(db, config),
                           runtime=RUNTIME_SETTINGS), status


@bp.get("/admin/audit")
@requires("audit.view")
def audit_log() -> str:
    page = page_arg()
    query = AuditQuery(
        object_type=request.args.get("object_type") or None, object_id=request.args.get("object_id") or None,
        actor_name=request.args.get("actor") or None, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE,
    )
    entries, total = find_changes(db_session(), query)
    return render_template("console/audit_log.html", entries=entries, total=total, page=page, query=query,
                           pages=max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1), changed_fields=changed_fields)
