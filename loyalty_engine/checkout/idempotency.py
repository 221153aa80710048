"""A complete's idempotency record: the request's digest, and the answer a retried key gets.

The key (store, lane, POS transaction id) is a unique constraint on ``checkouts``, and the
checkout row keeps the request's digest and the answer sent. A retry with the same body is
answered byte for byte from that row (a voided sale's answer says so); the same key with
another body is refused.
"""
from __future__ import annotations

import hashlib

from sqlalchemy import Engine

from .answers import voided_answer
from .errors import Conflict
from .queries import REPLAY, TRANSACTION_EXISTS
from .schemas import CompleteRequest


def request_sha256(canonical_json: str) -> str:
    """The digest that tells a retried complete (same body) from a reused key (another body)."""
    return hashlib.sha256(canonical_json.encode("utf-8")).hexdigest()


def replay(read_engine: Engine, req: CompleteRequest, digest: str) -> bytes | None:
    """The first answer to this key (None: the key is not recorded); 409 if it came with another body."""
    with read_engine.connect() as conn:
        row = conn.execute(REPLAY, {"store": req.store, "lane": req.lane, "pos": req.pos_transaction_id}).first()
    if row is None:
        return None
    if row[0] != digest:
        raise Conflict(
            "this idempotency key (store, lane, pos_transaction_id) was already used with a different body",
            code="idempotency_conflict", field="pos_transaction_id",
        )
    if row[2] == "voided":
        return voided_answer(bytes(row[1]), row[3])
    return bytes(row[1])


def transaction_exists(read_engine: Engine, transaction_id: str) -> bool:
    """A basket with this transaction id is recorded (by a complete, or imported)."""
    with read_engine.connect() as conn:
        found = conn.execute(TRANSACTION_EXISTS, {"transaction_id": transaction_id}).first()
    return found is not None
