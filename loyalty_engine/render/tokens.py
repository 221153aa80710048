"""Signed links to a member's list (``/m/<token>``): unguessable, and dead when the list ends.

The token carries the list serial, the member key and the list's last valid day, signed
with the deployment's secret key (itsdangerous, HMAC-SHA256). Nothing in it is secret, but
it cannot be forged or altered; it stops working after the list's last day (checked from
the token alone, before any database read) and when the list is no longer active.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

from itsdangerous import BadSignature, URLSafeSerializer

SALT = "loyalty-engine.member-list-view.v1"


@dataclass(frozen=True)
class ListToken:
    list_id: int
    member_key: int
    valid_to: date


def _serializer(secret_key: str) -> URLSafeSerializer:
    if not secret_key:
        raise ValueError("a secret key is required to sign member links")
    return URLSafeSerializer(secret_key, salt=SALT, signer_kwargs={"digest_method": hashlib.sha256})


def make_member_token(secret_key: str, list_id: int, member_key: int, valid_to: date) -> str:
    """The token for one member's list; put it in ``/m/<token>``."""
    return _serializer(secret_key).dumps([int(list_id), int(member_key), valid_to.toordinal()])


def read_member_token(secret_key: str, token: str, today: date) -> ListToken | None:
    """The list a token points to, or None if it is forged, malformed or past the list's end."""
    if not token or len(token) > 200:
        return None
    try:
        payload = _serializer(secret_key).loads(token)
    except BadSignature:
        return None
    try:
        list_id, member_key, ordinal = (int(v) for v in payload)
        valid_to = date.fromordinal(ordinal)
    except (TypeError, ValueError, OverflowError):
        return None
    if today > valid_to:
        return None
    return ListToken(list_id, member_key, valid_to)
