"""Console staff: users and their roles, server-side sessions, sign-in throttling, the audit log.

``staff_users``: one row per person who signs in to the console (staff) or the portal
(a manufacturer's user, bound to one funder). Only an argon2 hash of the password is kept.
``staff_user_categories``: the categories a category manager may edit offers in.
``staff_sessions``: server-side sessions; the browser holds a random token whose SHA-256 is
stored here, so a session can be revoked and expires when idle or past its absolute limit.
``signin_throttle``: failed sign-ins per (normalized) user name, known or not, so the delay
and the lock-out do not reveal which names exist.
``audit_log``: every change made through the console or the CLI: who, when, what, before, after.
``app_settings``: settings an admin changes at run time (e.g. maker-checker), over the
deployment's defaults.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, BigIntPK, utcnow

ROLES = ("admin", "category_manager", "approver", "analyst", "manufacturer")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class StaffUser(Base):
    __tablename__ = "staff_users"
    __table_args__ = (
        CheckConstraint(_in("role", ROLES), name="role"),
        # a manufacturer's user is bound to exactly one funder; staff to none
        CheckConstraint("(role = 'manufacturer') = (manufacturer_id IS NOT NULL)", name="manufacturer_binding"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(32))
    manufacturer_id: Mapped[Optional[str]] = mapped_column(ForeignKey("manufacturers.id"), nullable=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    password_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[Optional[datetime]] = mapped_column(nullable=True)

    category_rows: Mapped[list["StaffUserCategory"]] = relationship(
        cascade="all, delete-orphan", order_by="StaffUserCategory.category", lazy="selectin"
    )

    @property
    def categories(self) -> list[str]:
        return [row.category for row in self.category_rows]


class StaffUserCategory(Base):
    __tablename__ = "staff_user_categories"

    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"), primary_key=True)
    category: Mapped[str] = mapped_column(String(100), primary_key=True)


class StaffSession(Base):
    __tablename__ = "staff_sessions"
    __table_args__ = (Index("ix_staff_sessions_user_id", "user_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column()
    last_seen_at: Mapped[datetime] = mapped_column()
    # absolute limit, fixed at sign-in; the idle limit is last_seen_at + the idle timeout
    expires_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[Optional[datetime]] = mapped_column(nullable=True)
    ip_address: Mapped[str] = mapped_column(String(45), default="")
    user_agent: Mapped[str] = mapped_column(String(200), default="")


class SignInThrottle(Base):
    __tablename__ = "signin_throttle"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column()
    locked_until: Mapped[Optional[datetime]] = mapped_column(nullable=True)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_object", "object_type", "object_id"),
        Index("ix_audit_log_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column()
    # NULL for changes made outside the console (CLI, jobs): actor_name says who
    actor_user_id: Mapped[Optional[int]] = mapped_column(ForeignKey("staff_users.id"), nullable=True)
    actor_name: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str] = mapped_column(String(100))
    before: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON, nullable=True)
    after: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON, nullable=True)


class AppSetting(Base):
    __tablename__ = "app_settings"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column()
    updated_by: Mapped[str] = mapped_column(String(100))
