"""The staff console (``/console``): one blueprint, one module per group of pages.

Every view carries ``@requires(action)`` from :mod:`loyalty_engine.web.authz` (the route
gate refuses a view without one). :data:`NAV` is the navigation of ``_console_base.html``:
an item shows when its endpoint exists and the user has its action.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, current_app, redirect, render_template, url_for
from werkzeug.wrappers import Response

from ..authz import current_principal, register_error_pages, requires

bp = Blueprint("console", __name__, url_prefix="/console")
home_bp = Blueprint("home", __name__)
register_error_pages(bp)


@dataclass(frozen=True)
class NavItem:
    label: str
    endpoint: str
    action: str
    group: str = "main"  # "main" or "admin"


# Pages add themselves here (in the order shown); missing endpoints are skipped.
NAV: list[NavItem] = [
    NavItem("Dashboard", "console.dashboard", "console.view"),
    NavItem("Offers", "console.offers", "console.view"),
    NavItem("Approvals", "console.approvals", "offers.approve"),
    NavItem("Segments", "console.segments", "console.view"),
    NavItem("Results", "console.results", "console.view"),
    NavItem("Members at risk", "console.members_at_risk", "members.view"),
    NavItem("Content", "console.content", "console.view"),
    NavItem("Users", "console.users", "users.manage", "admin"),
    NavItem("Stores", "console.stores", "stores.manage", "admin"),
    NavItem("Lanes", "console.lanes", "lanes.manage", "admin"),
    NavItem("Settings", "console.settings", "settings.manage", "admin"),
    NavItem("Audit log", "console.audit_log", "audit.view", "admin"),
    NavItem("Offers", "portal.offers", "portal.view"),
    NavItem("Results", "portal.results", "portal.view"),
    NavItem("Lift", "portal.lift", "portal.view"),
    NavItem("Analytics", "portal.analytics", "portal.view"),
    NavItem("Statements", "portal.statements", "portal.view"),
]


def nav_items(group: str | None = None) -> list[NavItem]:
    """The navigation the signed-in user sees (by role; each route checks again)."""
    from ...console.access import can

    user = current_principal()
    return [item for item in NAV
            if item.endpoint in current_app.view_functions and can(user, item.action)
            and (group is None or item.group == group)]


@bp.app_template_filter("money")
def _money(cents: int | None) -> str:
    from ...money import format_money

    return "-" if cents is None else format_money(int(cents))


@bp.app_context_processor
def _navigation() -> dict[str, object]:
    return {"nav_items": nav_items}


@home_bp.get("/")
def root() -> Response:
    return redirect(url_for("console.index"))


@home_bp.get("/login")
def login() -> Response:
    return redirect(url_for("console.sign_in"))


@bp.get("/")
@requires("account.manage")
def index() -> Response | str:
    """Where a signed-in user lands: the first page of their navigation."""
    items = nav_items()
    if items:
        return redirect(url_for(items[0].endpoint))
    return render_template("console/home.html")


from . import account, admin_users, admin_lanes, admin_settings  # noqa: E402,F401  (register the views)
from . import offers, insights, content  # noqa: E402,F401  (offers, approvals, segments, members at risk, content, dashboard)
from . import results  # noqa: E402,F401  (results by offer, cell, store, week, with lift)
