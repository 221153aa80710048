"""Stores as an admin edits them in the console (the import loads them in bulk)."""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Mapping

from sqlalchemy.orm import Session

from ..imports.parsing import valid_timezone
from ..models.catalog import Store
from .audit import Actor, record_change
from .users import UserError

STORE_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
STORE_FIELDS = ("name", "timezone", "address_line", "city", "region", "postal_code")


def store_snapshot(store: Store) -> dict[str, Any]:
    return {"id": store.id, **{name: getattr(store, name) for name in STORE_FIELDS}}


def save_store(session: Session, store_id: str, values: Mapping[str, str], *, actor: Actor, at: datetime,
               create: bool) -> Store:
    """Create a store or update one; the time zone must be a real IANA zone. Audited."""
    store_id = store_id.strip()
    if not STORE_ID_RE.match(store_id):
        raise UserError("store id: 1-32 letters, digits, '_' or '-'", "store_id")
    zone = (values.get("timezone") or "").strip()
    if not valid_timezone(zone):
        raise UserError(f"unknown time zone {zone!r} (use an IANA name such as America/Chicago)", "timezone")
    store = session.get(Store, store_id)
    if create and store is not None:
        raise UserError(f"store {store_id!r} already exists", "store_id")
    if not create and store is None:
        raise UserError(f"no store {store_id!r}", "store_id")
    before = None if store is None else store_snapshot(store)
    if store is None:
        store = Store(id=store_id, is_placeholder=False)
        session.add(store)
    for name in STORE_FIELDS:
        setattr(store, name, (values.get(name) or "").strip())
    store.is_placeholder = False
    session.flush()
    after = store_snapshot(store)
    if after != before:
        record_change(session, actor, "store.create" if create else "store.update", "store", store_id,
                      before, after, at=at)
    return store
