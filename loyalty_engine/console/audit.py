"""The audit log: every change, who made it, when, and the object before and after.

Callers pass plain dicts of the fields that changed (never a secret: no password hash, no
API key). The entry is added to the caller's session, so it commits or rolls back with the
change it describes.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Mapping, Union

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models.console import AuditEntry, StaffUser
from .access import Principal

Actor = Union[Principal, StaffUser, str]


def _jsonable(value: Any) -> Any:
    """Dates, Decimals and sets as JSON can hold them (money stays integer cents)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_jsonable(v) for v in value]
        return sorted(items, key=json.dumps) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _actor(actor: Actor) -> tuple[int | None, str]:
    if isinstance(actor, Principal):
        return actor.user_id, actor.username
    if isinstance(actor, StaffUser):
        return actor.id, actor.username
    return None, str(actor)[:100]


def record_change(session: Session, actor: Actor, action: str, object_type: str, object_id: object,
                  before: Mapping[str, Any] | None, after: Mapping[str, Any] | None, *, at: datetime) -> AuditEntry:
    """Add one audit entry to ``session`` (committed with the change). ``actor``: a user or e.g. ``"cli:alice"``."""
    user_id, name = _actor(actor)
    entry = AuditEntry(
        at=at, actor_user_id=user_id, actor_name=name, action=action[:64], object_type=object_type[:64],
        object_id=str(object_id)[:100],
        before=_jsonable(before) if before is not None else None,
        after=_jsonable(after) if after is not None else None,
    )
    session.add(entry)
    return entry


def changed_fields(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> list[str]:
    """The keys whose values differ between ``before`` and ``after`` (for the log's summary column)."""
    before, after = before or {}, after or {}
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))


@dataclass(frozen=True)
class AuditQuery:
    object_type: str | None = None
    object_id: str | None = None
    actor_name: str | None = None
    limit: int = 50
    offset: int = 0


def find_changes(session: Session, query: AuditQuery) -> tuple[list[AuditEntry], int]:
    """Entries matching ``query``, newest first, and how many match in all."""
    where = []
    if query.object_type:
        where.append(AuditEntry.object_type == query.object_type)
    if query.object_id:
        where.append(AuditEntry.object_id == query.object_id)
    if query.actor_name:
        where.append(AuditEntry.actor_name == query.actor_name)
    total = session.execute(select(func.count()).select_from(AuditEntry).where(*where)).scalar_one()
    rows = session.execute(
        select(AuditEntry).where(*where).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(query.limit).offset(query.offset)
    ).scalars().all()
    return list(rows), total


def object_history(session: Session, object_type: str, object_id: object, limit: int = 200) -> list[AuditEntry]:
    """One object's trail (e.g. an offer's), newest first."""
    rows, _ = find_changes(session, AuditQuery(object_type=object_type, object_id=str(object_id), limit=limit))
    return rows
