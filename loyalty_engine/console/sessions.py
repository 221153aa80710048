"""Server-side console sessions: start, resume (idle and absolute timeouts), revoke.

The browser keeps a random 256-bit token (in the signed Flask cookie); the database keeps
only its SHA-256, so a stolen database does not yield live sessions. A session is good
while it is not revoked, not past its absolute expiry, and has seen a request within the
idle timeout. ``last_seen_at`` is written at most once a minute, so browsing a page does
not write a row per request.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..models.console import StaffSession, StaffUser

TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class SessionPolicy:
    idle: timedelta
    absolute: timedelta

    @classmethod
    def from_config(cls, config: object) -> "SessionPolicy":
        return cls(idle=timedelta(minutes=getattr(config, "console_idle_minutes")),
                   absolute=timedelta(hours=getattr(config, "console_session_hours")))


@dataclass(frozen=True)
class StartedSession:
    token: str  # for the cookie; never stored
    session_id: int


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def aware(moment: datetime) -> datetime:
    """SQLite hands timestamps back naive: they are UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def start_session(session: Session, user: StaffUser, now: datetime, policy: SessionPolicy, *,
                  ip_address: str = "", user_agent: str = "") -> StartedSession:
    token = secrets.token_urlsafe(32)
    row = StaffSession(
        token_sha256=_digest(token), user_id=user.id, created_at=now, last_seen_at=now,
        expires_at=now + policy.absolute, ip_address=ip_address[:45], user_agent=user_agent[:200],
    )
    session.add(row)
    session.flush()
    return StartedSession(token=token, session_id=row.id)


def resume_session(session: Session, token: str | None, now: datetime,
                   policy: SessionPolicy) -> tuple[StaffSession, StaffUser] | None:
    """The live session and its active user for ``token``, or None (unknown, revoked, expired, disabled)."""
    if not token or len(token) > 100:
        return None
    found = session.execute(
        select(StaffSession, StaffUser).join(StaffUser, StaffUser.id == StaffSession.user_id)
        .where(StaffSession.token_sha256 == _digest(token))
    ).first()
    if found is None:
        return None
    row, user = found
    if row.revoked_at is not None or not user.is_active:
        return None
    if now >= aware(row.expires_at) or now >= aware(row.last_seen_at) + policy.idle:
        return None
    if now - aware(row.last_seen_at) >= TOUCH_EVERY:
        row.last_seen_at = now
    return row, user


def revoke_session(session: Session, token_or_id: str | int, now: datetime) -> bool:
    """Revoke one session (by cookie token or id). True if a live one was revoked."""
    query = update(StaffSession).where(StaffSession.revoked_at.is_(None))
    if isinstance(token_or_id, int):
        query = query.where(StaffSession.id == token_or_id)
    else:
        query = query.where(StaffSession.token_sha256 == _digest(token_or_id))
    return (session.execute(query.values(revoked_at=now)).rowcount or 0) > 0


def revoke_user_sessions(session: Session, user_id: int, now: datetime, *,
                         except_session_id: int | None = None) -> int:
    """Revoke every live session of a user (but one, when changing one's own password)."""
    query = update(StaffSession).where(StaffSession.user_id == user_id, StaffSession.revoked_at.is_(None))
    if except_session_id is not None:
        query = query.where(StaffSession.id != except_session_id)
    return session.execute(query.values(revoked_at=now)).rowcount or 0


def live_sessions(session: Session, user_id: int, now: datetime, policy: SessionPolicy) -> list[StaffSession]:
    rows = session.execute(
        select(StaffSession).where(StaffSession.user_id == user_id, StaffSession.revoked_at.is_(None))
        .order_by(StaffSession.last_seen_at.desc())
    ).scalars()
    return [r for r in rows if now < aware(r.expires_at) and now < aware(r.last_seen_at) + policy.idle]
