"""The console's and portal's gate: who is signed in, and may they open this route, see this object.

Every view of the ``console`` and ``portal`` blueprints carries ``@requires(action)`` (or
``@public`` for the sign-in page); :func:`check_route` runs before each of their requests
and refuses any view without one (fail closed). Object checks go through :func:`authorize`.
Both ask :func:`loyalty_engine.console.access.can`, the one policy.

Sessions are server-side (:mod:`loyalty_engine.console.sessions`): the signed cookie holds
only a random token; Flask-Login's ``request_loader`` turns it into the user per request.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Mapping, TypeVar

from flask import Blueprint, Flask, abort, current_app, g, request, session
from flask_login import LoginManager, UserMixin, current_user
from werkzeug.exceptions import HTTPException

from ..app import app_config, db_session
from ..clock import Clock, SystemClock
from ..console import access
from ..console.access import Principal
from ..console.audit import record_change
from ..console.sessions import SessionPolicy, resume_session
from ..console.settings import maker_checker
from ..console.users import principal_of

F = TypeVar("F", bound=Callable[..., Any])
SESSION_KEY = "console_sid"
GATED_BLUEPRINTS = ("console", "portal")

login_manager = LoginManager()
login_manager.login_view = "console.sign_in"
login_manager.login_message = "Please sign in."
login_manager.login_message_category = "info"
login_manager.session_protection = None  # the server-side session is the protection


class SignedIn(UserMixin):
    """Flask-Login's user: the policy's :class:`Principal` and the server-side session's id."""

    def __init__(self, principal: Principal, session_id: int) -> None:
        self.principal = principal
        self.session_id = session_id

    def get_id(self) -> str:
        return str(self.principal.user_id)


def clock() -> Clock:
    return current_app.extensions["loyalty_engine"].get("clock") or SystemClock()


def now() -> datetime:
    return clock().now()


@login_manager.user_loader
def _never_from_user_id(_user_id: str) -> None:
    return None  # users come from the server-side session token only (see _load_from_session)


@login_manager.request_loader
def _load_from_session(_request: Any) -> SignedIn | None:
    token = session.get(SESSION_KEY)
    if not token:
        return None
    db = db_session()
    found = resume_session(db, token, now(), SessionPolicy.from_config(app_config(current_app)))
    if found is None:
        session.pop(SESSION_KEY, None)
        return None
    row, user = found
    if db.dirty:
        db.commit()  # last_seen_at moved
    return SignedIn(principal_of(user), row.id)


def current_principal() -> Principal | None:
    user = current_user
    return user.principal if getattr(user, "is_authenticated", False) else None


def requires(action: str) -> Callable[[F], F]:
    """Mark a view as needing the route action ``action`` (checked by :func:`check_route`)."""
    if action not in access.ROUTE_ACTIONS:
        raise ValueError(f"unknown route action {action!r}")

    def mark(view: F) -> F:
        view._console_action = action  # type: ignore[attr-defined]
        return view

    return mark


def public(view: F) -> F:
    """Mark a view open to everyone (the sign-in page)."""
    view._console_public = True  # type: ignore[attr-defined]
    return view


def check_route() -> Any:
    """before_request of the gated blueprints: 302 to sign-in when signed out, 403 when not allowed."""
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None:
        return None  # 404/405 follow
    if getattr(view, "_console_public", False):
        return None
    action = getattr(view, "_console_action", None)
    if current_principal() is None:
        return login_manager.unauthorized()
    if action is None or not access.can(current_principal(), action):
        abort(403)
    return None


def authorize(action: str, obj: object) -> None:
    """403 unless the signed-in user may do ``action`` on ``obj`` (an OfferRef, FunderRef, ...)."""
    if not access.can(current_principal(), action, obj, maker_checker=maker_checker_on()):
        abort(403)


def allowed(action: str, obj: object | None = None) -> bool:
    """For templates and views: may the signed-in user do this? (The routes check again.)"""
    return access.can(current_principal(), action, obj, maker_checker=maker_checker_on())


def maker_checker_on() -> bool:
    if "maker_checker" not in g:
        g.maker_checker = maker_checker(db_session(), app_config(current_app))
    return bool(g.maker_checker)


def audit(action: str, object_type: str, object_id: object, before: Mapping[str, Any] | None,
          after: Mapping[str, Any] | None) -> None:
    """Record a change by the signed-in user in the audit log (committed with the request's session)."""
    actor = current_principal()
    record_change(db_session(), actor if actor is not None else "anonymous", action, object_type, object_id,
                  before, after, at=now())


ERROR_MESSAGES = {
    400: "The form was sent without a valid security token (or with bad data). Reload the page and try again.",
    403: "Your role does not allow this page or this object.",
    404: "There is nothing here.",
}


def error_page(exc: HTTPException) -> tuple[str, int]:
    """Refusals and bad requests of the console and portal as a page with the navigation."""
    from flask import render_template

    code = exc.code or 500
    return render_template("console/error.html", code=code, name=exc.name,
                           message=ERROR_MESSAGES.get(code, exc.description)), code


def register_error_pages(blueprint: Blueprint) -> None:
    for code in ERROR_MESSAGES:
        blueprint.register_error_handler(code, error_page)


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    for name in GATED_BLUEPRINTS:
        blueprint = app.blueprints.get(name)
        if blueprint is not None:
            app.before_request_funcs.setdefault(name, []).append(check_route)

    app.jinja_env.globals.update(allowed=allowed, current_principal=current_principal)
