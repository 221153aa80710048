"""Member links: the web view address of a member's current list (for emails, the demo, apps)."""
from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models.lists import ShoppingList
from ..models.members import Member
from .tokens import make_member_token


def token_for_list(secret_key: str, shopping_list: ShoppingList) -> str:
    return make_member_token(secret_key, shopping_list.id, shopping_list.member_key, shopping_list.period_end)


def current_list(session: Session, member_key: int, today: date) -> ShoppingList | None:
    """The member's active list covering ``today`` (or the next one already mailed), latest first."""
    return session.execute(
        select(ShoppingList)
        .where(ShoppingList.member_key == member_key, ShoppingList.status == "active",
               ShoppingList.period_end >= today)
        .order_by(ShoppingList.period_start.desc(), ShoppingList.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def member_list_path(session: Session, secret_key: str, member_id: str, today: date) -> str | None:
    """``/m/<token>`` for the member's current list, or None if the member has none."""
    member_key = session.execute(select(Member.id).where(Member.member_id == member_id)).scalar_one_or_none()
    if member_key is None:
        return None
    lst = current_list(session, member_key, today)
    if lst is None:
        return None
    return f"/m/{token_for_list(secret_key, lst)}"


def member_list_url(session: Session, secret_key: str, member_id: str, today: date, base_url: str = "") -> str | None:
    path = member_list_path(session, secret_key, member_id, today)
    if path is None:
        return None
    return f"{base_url.rstrip('/')}{path}" if base_url else path
