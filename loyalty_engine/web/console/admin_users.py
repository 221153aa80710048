"""Admin: users and roles (create, edit, disable/enable, reset password, unlock, sign out everywhere)."""
from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms import SelectChoice

from ...app import app_config, db_session
from ...console.sessions import SessionPolicy, live_sessions, revoke_user_sessions
from ...console.signin import ThrottlePolicy, unlock, wait_remaining
from ...console.users import (
    UserError, create_user, disable_user, enable_user, get_user, known_categories, list_users, set_password,
    update_user, user_snapshot,
)
from ...models.catalog import Manufacturer
from ...models.console import SignInThrottle, StaffUser
from ..authz import audit, current_principal, now, requires
from . import bp
from .forms import ConfirmForm, PasswordResetForm, UserForm


def _fill_choices(form: UserForm) -> None:
    db = db_session()
    manufacturers = db.execute(select(Manufacturer.id, Manufacturer.name).order_by(Manufacturer.id)).all()
    form.manufacturer_id.choices = [SelectChoice("", "(none)")] + [
        SelectChoice(m.id, f"{m.id} {m.name}".strip()) for m in manufacturers]
    form.categories.choices = [SelectChoice(c) for c in known_categories(db)]


def _user_or_404(username: str) -> StaffUser:
    user = get_user(db_session(), username)
    if user is None:
        abort(404)
    return user


def _field_error(form: UserForm, exc: UserError) -> None:
    field = getattr(form, exc.field, None) or form.username
    field.errors = list(field.errors) + [exc.message]


@bp.get("/admin/users")
@requires("users.manage")
def users() -> str:
    db = db_session()
    at = now()
    policy = SessionPolicy.from_config(app_config(current_app))
    throttle = ThrottlePolicy.from_config(app_config(current_app))
    rows = []
    for user in list_users(db):
        locked = wait_remaining(db.get(SignInThrottle, user.username), at, throttle)
        rows.append({"user": user, "sessions": len(live_sessions(db, user.id, at, policy)),
                     "locked": locked.total_seconds() > 0})
    return render_template("console/users.html", rows=rows)


@bp.route("/admin/users/new", methods=["GET", "POST"])
@requires("users.manage")
def user_new() -> Response | str | tuple[str, int]:
    form = UserForm()
    _fill_choices(form)
    if form.validate_on_submit():
        db = db_session()
        try:
            create_user(db, form.username.data or "", form.role.data or "", form.password.data or "",
                        actor=current_principal(), at=now(),  # type: ignore[arg-type]
                        manufacturer_id=form.manufacturer_id.data or None, categories=form.categories.data or [],
                        display_name=form.display_name.data or "")
        except UserError as exc:
            db.rollback()
            _field_error(form, exc)
        else:
            db.commit()
            flash(f"User {form.username.data.strip().lower()} created.", "success")  # type: ignore[union-attr]
            return redirect(url_for("console.users"))
    status = 400 if request.method == "POST" else 200
    return render_template("console/user_form.html", form=form, user=None), status


@bp.route("/admin/users/<username>", methods=["GET", "POST"])
@requires("users.manage")
def user_edit(username: str) -> Response | str | tuple[str, int]:
    user = _user_or_404(username)
    form = UserForm(obj=None if request.method == "POST" else _form_data(user))
    _fill_choices(form)
    if form.validate_on_submit():
        db = db_session()
        try:
            update_user(db, user, actor=current_principal(), at=now(), role=form.role.data or "",  # type: ignore[arg-type]
                        manufacturer_id=form.manufacturer_id.data or None, categories=form.categories.data or [],
                        display_name=form.display_name.data or "")
        except UserError as exc:
            db.rollback()
            _field_error(form, exc)
        else:
            db.commit()
            flash(f"User {user.username} saved.", "success")
            return redirect(url_for("console.users"))
    status = 400 if request.method == "POST" else 200
    return render_template("console/user_form.html", form=form, user=user, action_form=ConfirmForm(),
                           reset_form=PasswordResetForm()), status


class _FormData:
    def __init__(self, user: StaffUser) -> None:
        snap = user_snapshot(user)
        self.username = snap["username"]
        self.display_name = snap["display_name"]
        self.role = snap["role"]
        self.manufacturer_id = snap["manufacturer_id"] or ""
        self.categories = snap["categories"]
        self.password = ""


def _form_data(user: StaffUser) -> _FormData:
    return _FormData(user)


def _user_action(username: str, done: str, change) -> Response:  # type: ignore[no-untyped-def]
    if not ConfirmForm().validate_on_submit():
        abort(400)
    user = _user_or_404(username)
    db = db_session()
    try:
        change(db, user)
    except UserError as exc:
        db.rollback()
        flash(exc.message, "error")
    else:
        db.commit()
        flash(done.format(user=user.username), "success")
    return redirect(url_for("console.user_edit", username=user.username))


@bp.post("/admin/users/<username>/disable")
@requires("users.manage")
def user_disable(username: str) -> Response:
    return _user_action(username, "User {user} disabled; their sessions were revoked.",
                        lambda db, user: disable_user(db, user, actor=current_principal(), at=now()))


@bp.post("/admin/users/<username>/enable")
@requires("users.manage")
def user_enable(username: str) -> Response:
    return _user_action(username, "User {user} enabled.",
                        lambda db, user: enable_user(db, user, actor=current_principal(), at=now()))


@bp.post("/admin/users/<username>/unlock")
@requires("users.manage")
def user_unlock(username: str) -> Response:
    def change(db, user):  # type: ignore[no-untyped-def]
        if unlock(db, user.username):
            audit("user.unlock", "user", user.username, {"locked": True}, {"locked": False})

    return _user_action(username, "Failed sign-ins of {user} cleared.", change)


@bp.post("/admin/users/<username>/sign-out")
@requires("users.manage")
def user_sign_out(username: str) -> Response:
    def change(db, user):  # type: ignore[no-untyped-def]
        count = revoke_user_sessions(db, user.id, now())
        audit("user.sessions_revoked", "user", user.username, None, {"sessions_revoked": count})

    return _user_action(username, "Every session of {user} was revoked.", change)


@bp.post("/admin/users/<username>/password")
@requires("users.manage")
def user_password(username: str) -> Response:
    form = PasswordResetForm()
    user = _user_or_404(username)
    if not form.validate_on_submit():
        flash("; ".join(e for errors in form.errors.values() for e in errors), "error")
        return redirect(url_for("console.user_edit", username=user.username))
    db = db_session()
    try:
        set_password(db, user, form.new_password.data or "", actor=current_principal(), at=now())  # type: ignore[arg-type]
    except UserError as exc:
        db.rollback()
        flash(exc.message, "error")
    else:
        db.commit()
        flash(f"Password of {user.username} set; their sessions were revoked.", "success")
    return redirect(url_for("console.user_edit", username=user.username))
