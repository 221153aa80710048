"""Who and which list a lane names: a list barcode or a member's card, and the member's current list.

One statement per lookup (:mod:`.queries`); the service's first read batches the same
statements with the rest of a request's reads.
"""
from __future__ import annotations

from datetime import date

from sqlalchemy import Connection

from ..list_numbers import ListNumberError, parse_list_number
from .queries import CURRENT_LIST, LIST_BY_SERIAL_WITH_MEMBER, MEMBER_BY_CARD, MEMBER_BY_KEY, MEMBER_WITH_CURRENT_LIST
from .records import ListRow, MemberRow


def identifier_kind(identifier: str | None) -> tuple[str | None, int | None, ListNumberError | None]:
    """``("list", serial, None)`` for a good list barcode; ``("card", None, error or None)`` otherwise
    (a barcode with a bad check digit may still be someone's card number)."""
    if identifier is None:
        return None, None, None
    if len(identifier) == 13 and identifier.isdigit() and identifier.startswith("04"):
        try:
            return "list", parse_list_number(identifier), None
        except ListNumberError as exc:
            return "card", None, exc
    return "card", None, None


def identify(conn: Connection, identifier: str | None, day: date) -> tuple[int | None, int | None]:
    """(member key, scanned list id) behind a list barcode or a card (Nones when not found)."""
    kind, serial, _error = identifier_kind(identifier)
    if kind == "list":
        row = conn.execute(LIST_BY_SERIAL_WITH_MEMBER, {"serial": serial}).first()
        if row is not None:
            return row[2], row[0]
    if kind is None:
        return None, None
    member, shopping_list = member_and_current_list(conn, identifier, day)  # type: ignore[arg-type]
    return (member.member_key if member else None), (shopping_list.list_id if shopping_list else None)


def member_by_card(conn: Connection, card: str) -> MemberRow | None:
    """The member with this card number (None: no such card)."""
    row = conn.execute(MEMBER_BY_CARD, {"card": card}).first()
    return MemberRow(*row) if row else None


def member_by_key(conn: Connection, member_key: int) -> MemberRow | None:
    """The member with this member key."""
    row = conn.execute(MEMBER_BY_KEY, {"member_key": member_key}).first()
    return MemberRow(*row) if row else None


def current_list(conn: Connection, member_key: int, day: date) -> ListRow | None:
    """The member's active list on ``day`` (the newest period when lists overlap)."""
    row = conn.execute(CURRENT_LIST, {"member_key": member_key, "day": day}).first()
    return ListRow(*row) if row else None


def member_and_current_list(conn: Connection, card: str, day: date) -> tuple[MemberRow | None, ListRow | None]:
    """The card's member and their active list on ``day``, in one statement."""
    row = conn.execute(MEMBER_WITH_CURRENT_LIST, {"card": card, "day": day}).first()
    if row is None:
        return None, None
    return MemberRow(*row[:3]), (ListRow(*row[3:]) if row[3] is not None else None)

