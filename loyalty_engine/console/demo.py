"""The demo's console users: an admin, a category manager, an approver and a manufacturer.

Passwords are generated here and returned once (only their hashes are stored); running the
demo again on the same database leaves existing users and their passwords alone.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ..models.catalog import Manufacturer
from ..models.offers import Offer
from .users import create_user, get_user

ACTOR = "demo"


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: str
    password: str | None  # None: the user existed already
    scope: str = ""


def _funder(session: Session) -> str | None:
    """The manufacturer funding the most offers (so its portal has something to show)."""
    row = session.execute(
        select(Offer.manufacturer_id).where(Offer.funder_kind == "manufacturer", Offer.manufacturer_id.is_not(None))
        .group_by(Offer.manufacturer_id).order_by(func.count().desc(), Offer.manufacturer_id).limit(1)
    ).scalar()
    return row or session.execute(select(Manufacturer.id).order_by(Manufacturer.id).limit(1)).scalar()


def create_demo_users(engine: Engine, category: str, at: datetime) -> list[DemoUser]:
    """Create the four demo users (if missing) with generated passwords."""
    made: list[DemoUser] = []
    with Session(engine) as session:
        funder = _funder(session)
        plan = [
            ("admin", "admin", {}, ""),
            ("category.manager", "category_manager", {"categories": [category]} if category else None, category),
            ("approver", "approver", {}, ""),
            ("manufacturer", "manufacturer", {"manufacturer_id": funder} if funder else None, funder or ""),
        ]
        for username, role, extra, scope in plan:
            if extra is None:
                continue  # nothing to bind it to in this chain
            if get_user(session, username) is not None:
                made.append(DemoUser(username, role, None, scope))
                continue
            password = secrets.token_urlsafe(12)
            create_user(session, username, role, password, actor=ACTOR, at=at, display_name=username.title(), **extra)
            made.append(DemoUser(username, role, password, scope))
        session.commit()
    return made


def demo_user_lines(users: list[DemoUser], console_url: str) -> list[str]:
    """What the demo prints: the console's address and each user's password (shown this once)."""
    lines = [f"Console: {console_url}  (manufacturers sign in there too and land on their portal)"]
    for user in users:
        scope = f" [{user.scope}]" if user.scope else ""
        secret = user.password if user.password is not None else "(exists already; password unchanged)"
        lines.append(f"  {user.role + scope:<34} user {user.username:<18} password {secret}")
    lines.append("Passwords are shown once; change them at Password in the console.")
    return lines
