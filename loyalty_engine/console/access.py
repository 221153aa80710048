"""Who may do what: the console's one authorization policy, per action and per object.

Every console and portal view asks :func:`can` (through the web layer's ``requires`` decorator
for the route, and ``authorize`` for the object it loads); templates only hide what the
policy already refuses. Actions are plain strings listed in :data:`ROUTE_ACTIONS` and
:data:`OBJECT_ACTIONS`; an unknown action is refused, so a typo fails closed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

STAFF_ROLES = frozenset({"admin", "category_manager", "approver", "analyst"})
ALL_ROLES = STAFF_ROLES | {"manufacturer"}


@dataclass(frozen=True)
class Principal:
    """The signed-in user as the policy sees it."""

    user_id: int
    username: str
    role: str
    manufacturer_id: str | None = None
    categories: frozenset[str] = field(default_factory=frozenset)
    display_name: str = ""

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def is_manufacturer(self) -> bool:
        return self.role == "manufacturer"


@dataclass(frozen=True)
class OfferRef:
    """What the policy needs to know about one offer."""

    offer_id: int
    funder_kind: str  # 'manufacturer' | 'retailer'
    manufacturer_id: str | None
    categories: frozenset[str]  # the categories of the offer's scope
    submitted_by: str | None = None  # user name of whoever submitted it for approval


@dataclass(frozen=True)
class FunderRef:
    """A funder's object (a statement, its analytics): who it belongs to."""

    manufacturer_id: str


@dataclass(frozen=True)
class ContentRef:
    """A content item (recipe, tip, perk): its category, None for chain-wide content."""

    content_id: int | None
    category: str | None


# Route-level actions: which roles may open a page or post a form at all.
ROUTE_ACTIONS: dict[str, frozenset[str]] = {
    "console.view": STAFF_ROLES,  # staff pages: dashboard, offers, segments, results, content
    "members.view": STAFF_ROLES,  # pages about members (members at risk): never a manufacturer
    "offers.edit": frozenset({"category_manager"}),  # create, edit, submit, pause
    "offers.approve": frozenset({"approver"}),
    "content.edit": frozenset({"category_manager"}),
    "lists.build": frozenset({"category_manager", "admin"}),
    # (re)compute a list period's stored results; analysts only read
    "results.compute": frozenset({"admin", "category_manager", "approver"}),
    "users.manage": frozenset({"admin"}),
    "stores.manage": frozenset({"admin"}),
    "lanes.manage": frozenset({"admin"}),
    "settings.manage": frozenset({"admin"}),
    "audit.view": frozenset({"admin", "analyst"}),
    "portal.view": frozenset({"manufacturer"}),
    "account.manage": ALL_ROLES,  # own password, sign-out
}

# Object-level actions and the kind of object each applies to.
OBJECT_ACTIONS = {
    "offer.view": OfferRef,
    "offer.edit": OfferRef,
    "offer.submit": OfferRef,
    "offer.pause": OfferRef,
    "offer.approve": OfferRef,
    "funder.view": FunderRef,
    "content.edit": ContentRef,
}


def can(user: Principal | None, action: str, obj: object | None = None, *, maker_checker: bool = True) -> bool:
    """True if ``user`` may do ``action`` (on ``obj`` for object actions). Unknown actions: False."""
    if user is None:
        return False
    if obj is None:
        roles = ROUTE_ACTIONS.get(action)
        return roles is not None and user.role in roles
    expected = OBJECT_ACTIONS.get(action)
    if expected is None or not isinstance(obj, expected):
        return False
    if isinstance(obj, OfferRef):
        return _can_offer(user, action, obj, maker_checker)
    if isinstance(obj, FunderRef):
        return _owns_funder(user, obj.manufacturer_id) or user.is_staff
    if isinstance(obj, ContentRef):
        # chain-wide content (no category) is no one category manager's to edit
        return user.role == "category_manager" and obj.category is not None and in_categories(user, [obj.category])
    return False


def _owns_funder(user: Principal, manufacturer_id: str | None) -> bool:
    return user.is_manufacturer and manufacturer_id is not None and user.manufacturer_id == manufacturer_id


def _can_offer(user: Principal, action: str, offer: OfferRef, maker_checker: bool) -> bool:
    if action == "offer.view":
        if user.is_manufacturer:
            return offer.funder_kind == "manufacturer" and _owns_funder(user, offer.manufacturer_id)
        return user.is_staff
    if action in ("offer.edit", "offer.submit", "offer.pause"):
        return user.role == "category_manager" and in_categories(user, offer.categories)
    if action == "offer.approve":
        if not maker_checker:
            # approval turned off: the offer's category manager activates it, as may an approver
            return user.role == "approver" or (user.role == "category_manager" and in_categories(user, offer.categories))
        return user.role == "approver" and offer.submitted_by is not None and offer.submitted_by != user.username
    return False


def in_categories(user: Principal, categories: Iterable[str]) -> bool:
    """A category manager acts on an offer only if all its categories are assigned to them."""
    wanted = frozenset(categories)
    return bool(wanted) and wanted <= user.categories


def allowed_actions(user: Principal | None) -> frozenset[str]:
    """The route actions ``user`` has (the navigation shows these; the routes check them again)."""
    return frozenset(action for action in ROUTE_ACTIONS if can(user, action))
