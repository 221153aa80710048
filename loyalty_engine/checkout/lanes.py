"""Lanes and their API keys: issue (shown once), list, revoke, authenticate.

A key reads ``lk_<key_id>.<secret>``. ``key_id`` (12 hex digits) is stored in clear to find
the row; the secret is 32 random bytes (256 bits) of which only the SHA-256 digest is kept.
With that much entropy a slow password hash adds nothing but latency on every lane call,
so a single SHA-256 and a constant-time comparison are used.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

from sqlalchemy import Connection, bindparam, select, update

from ..models.catalog import Store
from .schemas import STORE_MAX
from ..models.checkout import Lane, LaneApiKey
from .errors import CheckoutError, Forbidden, NotFound, Unauthorized

KEY_PREFIX = "lk_"
LANE_CODE_RE = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
LANE_STORE_RE = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9_.-]{{0,{STORE_MAX - 1}}}$")  # the lane API's store field
_KEY_RE = re.compile(r"^lk_([0-9a-f]{12})\.([A-Za-z0-9_-]{43})$")


class LaneError(CheckoutError):
    status, code = 422, "invalid_lane"


@dataclass(frozen=True)
class IssuedKey:
    store_id: str
    lane_code: str
    key_id: str
    api_key: str  # shown once, never stored


@dataclass(frozen=True)
class LaneIdentity:
    """Who is calling: the lane a valid, unrevoked key belongs to."""

    api_key_id: int
    key_id: str
    lane_id: int
    store_id: str
    lane_code: str
    store_timezone: str


@dataclass(frozen=True)
class LaneKeyInfo:
    store_id: str
    lane_code: str
    key_id: str
    created_at: datetime
    revoked_at: datetime | None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def issue_key(conn: Connection, store_id: str, lane_code: str, now: datetime, *, rotate: bool = False) -> IssuedKey:
    """Create the lane if needed and issue it a new key.

    A lane with an active key gets another only with ``rotate`` (which revokes the old
    ones), so a typo cannot silently leave two live keys.
    """
    if not LANE_CODE_RE.match(lane_code):
        raise LaneError(f"lane code must be 1-16 letters, digits, '_' or '-': {lane_code!r}", field="lane")
    if conn.execute(select(Store.id).where(Store.id == store_id)).first() is None:
        raise NotFound(f"unknown store {store_id!r}", code="unknown_store", field="store")
    if not LANE_STORE_RE.match(store_id):
        # the lane API's transaction ids are "<store>:<lane>:<pos id>" in 64 characters
        raise LaneError(f"store id {store_id!r} cannot be used at the lane API: at most 16 letters, digits, "
                        "'_', '.' or '-'", field="store")
    lane_id = conn.execute(
        select(Lane.id).where(Lane.store_id == store_id, Lane.lane_code == lane_code)
    ).scalar_one_or_none()
    if lane_id is None:
        lane_id = conn.execute(
            Lane.__table__.insert().values(store_id=store_id, lane_code=lane_code, created_at=now).returning(Lane.id)
        ).scalar_one()
    active = conn.execute(
        select(LaneApiKey.id).where(LaneApiKey.lane_id == lane_id, LaneApiKey.revoked_at.is_(None))
    ).scalars().all()
    if active and not rotate:
        raise LaneError(
            f"lane {store_id}/{lane_code} already has an active key; revoke it or rotate",
            code="lane_has_key",
        )
    if active:
        conn.execute(update(LaneApiKey).where(LaneApiKey.id.in_(active)).values(revoked_at=now))
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    conn.execute(
        LaneApiKey.__table__.insert().values(
            lane_id=lane_id, key_id=key_id, secret_sha256=_digest(secret), created_at=now
        )
    )
    return IssuedKey(store_id, lane_code, key_id, f"{KEY_PREFIX}{key_id}.{secret}")


def revoke(conn: Connection, now: datetime, *, store_id: str | None = None, lane_code: str | None = None,
           key_id: str | None = None) -> int:
    """Revoke a lane's active keys (store + lane) or one key (key id). Returns how many."""
    query = update(LaneApiKey).where(LaneApiKey.revoked_at.is_(None))
    if key_id is not None:
        query = query.where(LaneApiKey.key_id == key_id.removeprefix(KEY_PREFIX).split(".")[0])
    elif store_id is not None and lane_code is not None:
        lane_ids = select(Lane.id).where(Lane.store_id == store_id, Lane.lane_code == lane_code)
        query = query.where(LaneApiKey.lane_id.in_(lane_ids.scalar_subquery()))
    else:
        raise LaneError("name a lane (store and lane) or a key id to revoke")
    return conn.execute(query.values(revoked_at=now)).rowcount or 0


def list_keys(conn: Connection, store_id: str | None = None, include_revoked: bool = False) -> list[LaneKeyInfo]:
    query = (
        select(Lane.store_id, Lane.lane_code, LaneApiKey.key_id, LaneApiKey.created_at, LaneApiKey.revoked_at)
        .join(LaneApiKey, LaneApiKey.lane_id == Lane.id)
        .order_by(Lane.store_id, Lane.lane_code, LaneApiKey.created_at)
    )
    if store_id is not None:
        query = query.where(Lane.store_id == store_id)
    if not include_revoked:
        query = query.where(LaneApiKey.revoked_at.is_(None))
    return [LaneKeyInfo(*row) for row in conn.execute(query)]


AUTH_QUERY = (
    select(
        LaneApiKey.id, LaneApiKey.secret_sha256, LaneApiKey.revoked_at,
        Lane.id, Lane.store_id, Lane.lane_code, Store.timezone,
    )
    .join(Lane, Lane.id == LaneApiKey.lane_id)
    .join(Store, Store.id == Lane.store_id)
    .where(LaneApiKey.key_id == bindparam("key_id"))
)


@dataclass(frozen=True)
class PresentedKey:
    """A key as the lane sent it, well formed but not yet checked against the database."""

    key_id: str
    secret: str


def parse_key(presented: str | None) -> PresentedKey:
    """Check the key's shape (no database): :class:`Unauthorized` if it is missing or malformed."""
    if not presented:
        raise Unauthorized("missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
                           code="missing_api_key")
    match = _KEY_RE.match(presented.strip())
    if match is None:
        raise Unauthorized("invalid API key", code="invalid_api_key")
    return PresentedKey(*match.groups())


def verify_key(row: Sequence[Any] | None, key: PresentedKey) -> LaneIdentity:
    """The lane behind a key, given its :data:`AUTH_QUERY` row (None: unknown key id), or :class:`Unauthorized`.

    The lane API runs the query in the same round trip as its first reads.
    """
    # Compare even when the key id is unknown, so timing does not tell which part was wrong.
    expected = row[1] if row is not None else "0" * 64
    if not hmac.compare_digest(expected, _digest(key.secret)) or row is None:
        raise Unauthorized("invalid API key", code="invalid_api_key")
    if row[2] is not None:
        raise Unauthorized("API key revoked", code="revoked_api_key")
    return LaneIdentity(api_key_id=row[0], key_id=key.key_id, lane_id=row[3], store_id=row[4], lane_code=row[5],
                        store_timezone=row[6] or "UTC")


def authenticate(conn: Connection, presented: str | PresentedKey | None) -> LaneIdentity:
    """The lane behind a presented key, or :class:`Unauthorized` (missing, malformed, wrong, revoked)."""
    key = presented if isinstance(presented, PresentedKey) else parse_key(presented)
    return verify_key(conn.execute(AUTH_QUERY, {"key_id": key.key_id}).first(), key)


def check_lane(lane: LaneIdentity, store: str, lane_code: str) -> None:
    """The request names the store and lane its key belongs to, or :class:`Forbidden`."""
    if store != lane.store_id:
        raise Forbidden(f"this API key belongs to store {lane.store_id!r}, not {store!r}", code="wrong_store",
                        field="store")
    if lane_code != lane.lane_code:
        raise Forbidden(f"this API key belongs to lane {lane.lane_code!r}, not {lane_code!r}", code="wrong_lane",
                        field="lane")


__all__ = [
    "AUTH_QUERY",
    "IssuedKey",
    "LaneError",
    "LaneIdentity",
    "LaneKeyInfo",
    "PresentedKey",
    "authenticate",
    "check_lane",
    "issue_key",
    "list_keys",
    "parse_key",
    "revoke",
    "verify_key",
]


class LaneAuth:
    """A request's key: parsed by the web edge, verified by the service in its first round trip.

    ``lane`` is set once the key has been checked (the edge logs it, and uses it for calls
    that authenticate up front).
    """

    __slots__ = ("key", "lane")

    def __init__(self, key: PresentedKey, lane: LaneIdentity | None = None) -> None:
        self.key = key
        self.lane = lane


__all__.append("LaneAuth")
