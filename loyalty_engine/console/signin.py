"""Signing in: the password check behind a growing delay and a lock-out per user name.

Failures are counted per normalized user name whether or not the user exists, and the
messages are the same either way, so the answers do not tell which names exist. The first
``free`` failures cost nothing; each further one doubles the wait before the next attempt
is even checked (1 s, 2 s, 4 s, ...); at ``lockout_after`` failures the name is locked for
``lockout``. A success clears the count. An attempt made while waiting is refused without
looking at the password and does not count.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from ..models.console import SignInThrottle, StaffUser
from .passwords import hash_password, needs_rehash, verify_password
from .sessions import aware
from .users import get_user, normalize_username

MAX_DELAY = timedelta(minutes=5)


@dataclass(frozen=True)
class ThrottlePolicy:
    free: int = 3
    lockout_after: int = 10
    lockout: timedelta = timedelta(minutes=30)

    @classmethod
    def from_config(cls, config: object) -> "ThrottlePolicy":
        return cls(free=getattr(config, "signin_free_failures"), lockout_after=getattr(config, "signin_lockout_failures"),
                   lockout=timedelta(minutes=getattr(config, "signin_lockout_minutes")))

    def delay_after(self, failures: int) -> timedelta:
        if failures < self.free:
            return timedelta(0)
        # capped before the timedelta: 2 ** n seconds overflows it past n of about 46
        return timedelta(seconds=min(2 ** (failures - self.free), MAX_DELAY.total_seconds()))


@dataclass(frozen=True)
class SignInResult:
    user: StaffUser | None
    message: str = ""
    retry_after_seconds: int = 0

    @property
    def ok(self) -> bool:
        return self.user is not None


WRONG = "wrong user name or password"


def _throttle_key(username: str) -> str:
    return normalize_username(username)[:64]


def wait_remaining(row: SignInThrottle | None, now: datetime, policy: ThrottlePolicy) -> timedelta:
    """How long the name must wait before its next attempt is checked."""
    if row is None:
        return timedelta(0)
    if row.locked_until is not None and now < aware(row.locked_until):
        return aware(row.locked_until) - now
    ready_at = aware(row.last_failure_at) + policy.delay_after(row.failures)
    return max(ready_at - now, timedelta(0)) if row.locked_until is None else timedelta(0)


def sign_in(session: Session, username: str, password: str, now: datetime, policy: ThrottlePolicy) -> SignInResult:
    """Check a user name and password under the throttle. The caller commits (the count must persist)."""
    key = _throttle_key(username)
    throttle = session.get(SignInThrottle, key)
    wait = wait_remaining(throttle, now, policy)
    if wait > timedelta(0):
        seconds = max(1, int(wait.total_seconds() + 0.999))
        locked = throttle is not None and throttle.locked_until is not None
        message = (f"too many failed sign-ins: locked, try again in {seconds // 60 + 1} minutes" if locked
                   else f"too many failed sign-ins: wait {seconds} s before trying again")
        return SignInResult(None, message, seconds)
    user = get_user(session, username)
    good = verify_password(user.password_hash if user else None, password)
    if good and user is not None and user.is_active:
        if throttle is not None:
            session.delete(throttle)
        if needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        return SignInResult(user)
    _count_failure(session, throttle, key, now, policy)
    return SignInResult(None, WRONG)


def _count_failure(session: Session, throttle: SignInThrottle | None, key: str, now: datetime,
                   policy: ThrottlePolicy) -> None:
    if throttle is None:
        throttle = SignInThrottle(username=key, failures=0, last_failure_at=now)
        session.add(throttle)
    elif throttle.locked_until is not None:
        throttle.failures, throttle.locked_until = 0, None  # a lock-out served starts the count again
    throttle.failures += 1
    throttle.last_failure_at = now
    if throttle.failures >= policy.lockout_after:
        throttle.locked_until = now + policy.lockout


def unlock(session: Session, username: str) -> bool:
    """An admin clears a name's failures and lock-out. True if there was something to clear."""
    row = session.get(SignInThrottle, _throttle_key(username))
    if row is None:
        return False
    session.delete(row)
    return True
