"""Password hashing (argon2id via argon2-cffi) and the password rules."""
from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
MAX_LENGTH = 200  # argon2 takes any length; a cap keeps a huge form field from costing CPU

_HASHER = PasswordHasher()  # RFC 9106 low-memory profile (argon2id, 64 MiB, t=3); tests use a cheap one
_DUMMY: dict[PasswordHasher, str] = {}


def _dummy_hash() -> str:
    """Verified against when the user name is unknown, so the answer takes as long either way."""
    if _HASHER not in _DUMMY:
        _DUMMY[_HASHER] = _HASHER.hash("not a password of anyone: timing filler")
    return _DUMMY[_HASHER]


class PasswordRuleError(ValueError):
    """A new password breaks a rule; the message says which."""


def check_rules(password: str, username: str) -> None:
    if len(password) < MIN_LENGTH:
        raise PasswordRuleError(f"password must be at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise PasswordRuleError(f"password must be at most {MAX_LENGTH} characters")
    if password.strip().lower() == username.strip().lower():
        raise PasswordRuleError("password must not be the user name")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True if ``password`` matches; an unknown user (``None``) costs the same time and is False."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _HASHER.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with older parameters (rehash it at the next sign-in)."""
    return _HASHER.check_needs_rehash(password_hash)
