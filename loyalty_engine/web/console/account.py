"""Sign-in, sign-out and password change (staff and manufacturers sign in here alike)."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from ...app import app_config, db_session
from ...console.access import Principal
from ...console.sessions import SessionPolicy, revoke_session, start_session
from ...console.signin import ThrottlePolicy, sign_in as check_sign_in
from ...console.users import UserError, change_own_password, principal_of
from ...models.console import StaffUser
from ..authz import SESSION_KEY, current_principal, now, public, requires
from . import bp
from .forms import ConfirmForm, PasswordChangeForm, SignInForm


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site (no scheme, no host, no '//'): never an open redirect."""
    if not target:
        return None
    parts = urlsplit(target)
    # a backslash too: browsers read "/\\host" as "//host"
    if (parts.scheme or parts.netloc or not parts.path.startswith("/") or parts.path.startswith("//")
            or "\\" in target):
        return None
    return target


def landing_for(user: Principal) -> str:
    return url_for("portal.index") if user.is_manufacturer else url_for("console.index")


@bp.route("/sign-in", methods=["GET", "POST"])
@public
def sign_in() -> Response | str | tuple[str, int]:
    if current_principal() is not None:
        return redirect(landing_for(current_principal()))  # type: ignore[arg-type]
    form = SignInForm()
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return render_template("console/sign_in.html", form=form), status
    db = db_session()
    config = app_config(current_app)
    at = now()
    result = check_sign_in(db, form.username.data or "", form.password.data or "", at, ThrottlePolicy.from_config(config))
    if not result.ok:
        db.commit()  # the failure count must persist
        form.password.errors = [result.message]
        return render_template("console/sign_in.html", form=form), 429 if result.retry_after_seconds else 401
    user: StaffUser = result.user  # type: ignore[assignment]
    started = start_session(db, user, at, SessionPolicy.from_config(config),
                            ip_address=request.remote_addr or "", user_agent=request.user_agent.string or "")
    db.commit()
    session.clear()  # a fresh cookie (and CSRF token) for the new session: no fixation
    session[SESSION_KEY] = started.token
    return redirect(_safe_next(request.args.get("next")) or landing_for(principal_of(user)))


@bp.post("/sign-out")
@requires("account.manage")
def sign_out() -> Response:
    token = session.get(SESSION_KEY)
    if token:
        db = db_session()
        revoke_session(db, token, now())
        db.commit()
    session.clear()
    flash("Signed out.", "info")
    return redirect(url_for("console.sign_in"))


@bp.route("/account/password", methods=["GET", "POST"])
@requires("account.manage")
def password() -> Response | str | tuple[str, int]:
    form = PasswordChangeForm()
    if form.validate_on_submit():
        from flask_login import current_user

        db = db_session()
        user = db.get(StaffUser, current_user.principal.user_id)
        try:
            change_own_password(db, user, form.current_password.data or "", form.new_password.data or "",  # type: ignore[arg-type]
                                at=now(), keep_session_id=current_user.session_id)
        except UserError as exc:
            getattr(form, exc.field, form.new_password).errors = [exc.message]
        else:
            db.commit()
            flash("Password changed. Your other sessions were signed out.", "success")
            return redirect(url_for("console.password"))
    status = 400 if request.method == "POST" else 200
    return render_template("console/password.html", form=form, sign_out_form=ConfirmForm()), status
