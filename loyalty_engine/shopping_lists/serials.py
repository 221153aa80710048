"""Sequence-safe serials for list numbers and offer codes, on SQLite and PostgreSQL alike.

A block of ``n`` serials is taken with one atomic ``UPDATE serial_counters SET value =
value + n ... RETURNING value``: PostgreSQL row-locks the counter, SQLite serializes writers,
so two concurrent builders never receive overlapping blocks. Serials are never reused,
even after a rollback of the surrounding work (gaps are fine for list numbers).
"""
from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..list_numbers import MAX_SERIAL, make_list_number
from ..models.lists import SerialCounter

LIST_SERIAL = "list_serial"
OFFER_CODE = "offer_code"
MAX_OFFER_CODE = 999_999  # the (8110) offer code field is 6 digits


def allocate_serials(session: Session, name: str, count: int) -> int:
    """Reserve ``count`` consecutive serials of counter ``name``; return the first one."""
    if count <= 0:
        raise ValueError(f"count must be positive, got {count}")
    for _attempt in range(2):
        last = session.execute(
            update(SerialCounter)
            .where(SerialCounter.name == name)
            .values(value=SerialCounter.value + count)
            .returning(SerialCounter.value)
        ).scalar_one_or_none()
        if last is not None:
            return int(last) - count + 1
        # First use of this counter: create it; a concurrent creator wins the race harmlessly.
        try:
            with session.begin_nested():
                session.execute(insert(SerialCounter).values(name=name, value=0))
        except IntegrityError:
            pass
    raise RuntimeError(f"could not allocate serials from counter {name!r}")  # pragma: no cover


def allocate_list_numbers(session: Session, count: int) -> list[tuple[int, str]]:
    """``count`` new (serial, list_number) pairs; the serial is the shopping list's id."""
    first = allocate_serials(session, LIST_SERIAL, count)
    if first + count - 1 > MAX_SERIAL:
        raise RuntimeError("list serials exhausted")
    return [(serial, make_list_number(serial)) for serial in range(first, first + count)]


def allocate_offer_code(session: Session) -> str:
    code = allocate_serials(session, OFFER_CODE, 1)
    if code > MAX_OFFER_CODE:
        raise RuntimeError("offer codes exhausted (6 digits)")
    return f"{code:06d}"


def current_value(session: Session, name: str) -> int:
    value = session.execute(select(SerialCounter.value).where(SerialCounter.name == name)).scalar()
    return int(value or 0)
