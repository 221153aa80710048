"""Staff users: create, change role and categories, change password, disable, enable.

Every change is written to the audit log (without the password hash). Disabling a user or
changing their password revokes their sessions, so the change takes effect at once.
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Iterable, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models.catalog import Manufacturer, Product
from ..models.console import ROLES, StaffUser, StaffUserCategory
from .access import Principal
from .audit import Actor, record_change
from .passwords import PasswordRuleError, check_rules, hash_password, verify_password
from .sessions import revoke_user_sessions

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,63}$")


class UserError(ValueError):
    """A user change that breaks a rule: one clear message, naming the field."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def normalize_username(username: str) -> str:
    return username.strip().lower()


def get_user(session: Session, username: str) -> StaffUser | None:
    return session.execute(
        select(StaffUser).where(StaffUser.username == normalize_username(username))
    ).scalar_one_or_none()


def list_users(session: Session) -> list[StaffUser]:
    return list(session.execute(select(StaffUser).order_by(StaffUser.username)).scalars())


def principal_of(user: StaffUser) -> Principal:
    return Principal(
        user_id=user.id, username=user.username, role=user.role, manufacturer_id=user.manufacturer_id,
        categories=frozenset(user.categories), display_name=user.display_name or user.username,
    )


def user_snapshot(user: StaffUser) -> dict[str, Any]:
    """The user's fields as the audit log shows them (never the password hash)."""
    return {
        "username": user.username, "display_name": user.display_name, "role": user.role,
        "manufacturer_id": user.manufacturer_id, "categories": list(user.categories), "is_active": user.is_active,
    }


def known_categories(session: Session) -> list[str]:
    return list(session.execute(
        select(Product.category).distinct().where(Product.category != "").order_by(Product.category)
    ).scalars())


def _check_binding(session: Session, role: str, manufacturer_id: str | None, categories: Sequence[str]) -> None:
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}", "role")
    if role == "manufacturer":
        if not manufacturer_id:
            raise UserError("a manufacturer user must be bound to a manufacturer (the funder whose offers it sees)", "manufacturer_id")
        if session.get(Manufacturer, manufacturer_id) is None:
            raise UserError(f"unknown manufacturer {manufacturer_id!r}", "manufacturer_id")
    elif manufacturer_id:
        raise UserError("only a manufacturer user is bound to a manufacturer", "manufacturer_id")
    if categories and role != "category_manager":
        raise UserError("only a category manager has categories", "categories")
    if role == "category_manager":
        if not categories:
            raise UserError("a category manager needs at least one category", "categories")
        unknown = sorted(set(categories) - set(known_categories(session)))
        if unknown:
            raise UserError(f"unknown categories: {', '.join(unknown)}", "categories")


def _active_admins(session: Session) -> int:
    return session.execute(
        select(func.count()).select_from(StaffUser).where(StaffUser.role == "admin", StaffUser.is_active.is_(True))
    ).scalar_one()


def create_user(session: Session, username: str, role: str, password: str, *, actor: Actor, at: datetime,
                manufacturer_id: str | None = None, categories: Iterable[str] = (),
                display_name: str = "") -> StaffUser:
    name = normalize_username(username)
    if not USERNAME_RE.match(name):
        raise UserError("user name: 2-64 characters, letters, digits, '.', '_', '@' or '-'", "username")
    if get_user(session, name) is not None:
        raise UserError(f"user {name!r} already exists", "username")
    cats = sorted({c.strip() for c in categories if c.strip()})
    _check_binding(session, role, manufacturer_id or None, cats)
    try:
        check_rules(password, name)
    except PasswordRuleError as exc:
        raise UserError(str(exc), "password") from exc
    user = StaffUser(
        username=name, display_name=display_name.strip()[:200], role=role, manufacturer_id=manufacturer_id or None,
        password_hash=hash_password(password), password_changed_at=at, is_active=True, created_at=at,
        category_rows=[StaffUserCategory(category=c) for c in cats],
    )
    session.add(user)
    session.flush()
    record_change(session, actor, "user.create", "user", name, None, user_snapshot(user), at=at)
    return user


def update_user(session: Session, user: StaffUser, *, actor: Actor, at: datetime, role: str,
                manufacturer_id: str | None = None, categories: Iterable[str] = (),
                display_name: str | None = None) -> StaffUser:
    """Change a user's role, funder binding, categories or display name."""
    cats = sorted({c.strip() for c in categories if c.strip()})
    _check_binding(session, role, manufacturer_id or None, cats)
    if user.role == "admin" and role != "admin" and user.is_active and _active_admins(session) <= 1:
        raise UserError("the last active admin cannot lose the admin role", "role")
    before = user_snapshot(user)
    user.role = role
    user.manufacturer_id = manufacturer_id or None
    user.category_rows = [StaffUserCategory(category=c) for c in cats]
    if display_name is not None:
        user.display_name = display_name.strip()[:200]
    session.flush()
    after = user_snapshot(user)
    if after != before:
        record_change(session, actor, "user.update", "user", user.username, before, after, at=at)
    return user


def set_password(session: Session, user: StaffUser, new_password: str, *, actor: Actor, at: datetime,
                 keep_session_id: int | None = None) -> None:
    """Set a new password and revoke the user's other sessions (all but ``keep_session_id``)."""
    try:
        check_rules(new_password, user.username)
    except PasswordRuleError as exc:
        raise UserError(str(exc), "new_password") from exc
    user.password_hash = hash_password(new_password)
    user.password_changed_at = at
    revoked = revoke_user_sessions(session, user.id, at, except_session_id=keep_session_id)
    record_change(session, actor, "user.password", "user", user.username, None,
                  {"password_changed": True, "sessions_revoked": revoked}, at=at)


def change_own_password(session: Session, user: StaffUser, current: str, new_password: str, *, at: datetime,
                        keep_session_id: int | None) -> None:
    """A user changes their own password: the current one must be right."""
    if not verify_password(user.password_hash, current):
        raise UserError("current password is wrong", "current_password")
    if new_password == current:
        raise UserError("the new password must differ from the current one", "new_password")
    set_password(session, user, new_password, actor=principal_of(user), at=at, keep_session_id=keep_session_id)


def disable_user(session: Session, user: StaffUser, *, actor: Actor, at: datetime) -> int:
    """Disable a user and revoke every session of theirs. Returns how many sessions were revoked."""
    if not user.is_active:
        return 0
    if user.role == "admin" and _active_admins(session) <= 1:
        raise UserError("the last active admin cannot be disabled", "username")
    before = user_snapshot(user)
    user.is_active = False
    user.disabled_at = at
    revoked = revoke_user_sessions(session, user.id, at)
    record_change(session, actor, "user.disable", "user", user.username, before,
                  dict(user_snapshot(user), sessions_revoked=revoked), at=at)
    return revoked


def enable_user(session: Session, user: StaffUser, *, actor: Actor, at: datetime) -> None:
    if user.is_active:
        return
    before = user_snapshot(user)
    user.is_active = True
    user.disabled_at = None
    record_change(session, actor, "user.enable", "user", user.username, before, user_snapshot(user), at=at)
