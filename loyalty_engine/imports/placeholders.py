"""Find or create the stores, manufacturers, products and members that scans refer to.

A scan may name a sku, member or store the database does not know yet (the catalog file comes
later, a new member's card was scanned at a lane). Such keys are inserted as *placeholders*
(``is_placeholder = true``, empty descriptive fields) so no scan is dropped; importing the real
row later fills it in and clears the flag.

Every function works inside the caller's transaction on a SQLAlchemy ``Connection`` (from a
``Session``: ``session.connection()``), is safe when two writers create the same key at once
(``ON CONFLICT DO NOTHING`` then re-read), and costs a constant number of statements however many
keys are passed. The ``ensure_*`` functions return plain dicts for small callers such as a
checkout lane; the ``resolve_*`` functions return :class:`Resolved` with the count of placeholders
created, for the importer.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

from sqlalchemy import Connection

from .dbio import BulkIO

DEFAULT_TIMEZONE = "America/Chicago"


@dataclass
class Resolved:
    keys: dict[str, Any]  # business key -> surrogate key (products, members) or timezone (stores)
    created: int  # placeholders inserted by this call


def _unique(values: Iterable[str | None]) -> list[str]:
    return sorted({v for v in values if v})


RowMaker = Callable[[list[str]], dict[str, list[Any]]]


def _constant_rows(key: str, defaults: dict[str, Any]) -> RowMaker:
    return lambda missing: {key: missing, **{c: [v] * len(missing) for c, v in defaults.items()}}


def _resolve(bulk: BulkIO, table: str, key: str, value: str, wanted: Iterable[str | None],
             make_rows: RowMaker) -> Resolved:
    keys = _unique(wanted)
    found = dict(bulk.fetch_by_keys(table, [key, value], key, keys))
    missing = [k for k in keys if k not in found]
    created = 0
    if missing:
        created = bulk.insert(table, make_rows(missing))
        found.update(bulk.fetch_by_keys(table, [key, value], key, missing))
    return Resolved(keys=found, created=created)


def resolve_stores(bulk: BulkIO, store_ids: Iterable[str | None], default_timezone: str = DEFAULT_TIMEZONE) -> Resolved:
    """store_id -> the store's IANA time zone (placeholders get ``default_timezone``)."""
    return _resolve(bulk, "stores", "id", "timezone", store_ids, _constant_rows("id", {
        "name": "", "timezone": default_timezone, "address_line": "", "city": "", "region": "",
        "postal_code": "", "is_placeholder": True,
    }))


def resolve_manufacturers(bulk: BulkIO, manufacturer_ids: Iterable[str | None]) -> Resolved:
    """manufacturer_id -> manufacturer_id (existence guaranteed)."""
    return _resolve(bulk, "manufacturers", "id", "id", manufacturer_ids, _constant_rows("id", {
        "name": "", "gs1_company_prefix": None, "is_placeholder": True,
    }))


def resolve_products(bulk: BulkIO, skus: Iterable[str | None]) -> Resolved:
    """sku -> product key (``products.id``)."""
    return _resolve(bulk, "products", "sku", "id", skus, _constant_rows("sku", {
        "name": "", "department": "", "category": "", "subcategory": "", "brand": "",
        "brand_type": "national", "manufacturer_id": None, "size": "", "regular_price_cents": None,
        "is_placeholder": True,
    }))


_MEMBER_PLACEHOLDER = {
    "first_name": "", "last_name": "", "email": "", "address_line": "", "city": "", "region": "",
    "postal_code": "", "home_store_id": None, "enrolled_at": None, "mail_opt_in": True,
    "app_opt_in": False, "status": "active", "is_placeholder": True,
}


def _member_rows(member_ids: list[str], card_numbers: list[str]) -> dict[str, list[Any]]:
    n = len(member_ids)
    return {"member_id": member_ids, "card_number": card_numbers,
            **{c: [v] * n for c, v in _MEMBER_PLACEHOLDER.items()}}


def resolve_members(bulk: BulkIO, member_ids: Iterable[str | None]) -> Resolved:
    """member_id -> member key (``members.id``). A placeholder's card number is its member_id,
    unless another member already carries that card number (then ``~`` + member_id)."""
    result = _resolve(bulk, "members", "member_id", "id", member_ids,
                      lambda missing: _member_rows(missing, missing))
    still = [m for m in _unique(member_ids) if m not in result.keys]
    if still:
        result.created += bulk.insert("members", _member_rows(still, [("~" + m)[:64] for m in still]))
        result.keys.update(bulk.fetch_by_keys("members", ["member_id", "id"], "member_id", still))
    return result


def ensure_stores(conn: Connection, store_ids: Iterable[str], default_timezone: str = DEFAULT_TIMEZONE) -> dict[str, str]:
    """Make sure every store exists; return store_id -> IANA time zone."""
    return resolve_stores(BulkIO.for_connection(conn), store_ids, default_timezone).keys


def ensure_manufacturers(conn: Connection, manufacturer_ids: Iterable[str]) -> set[str]:
    """Make sure every manufacturer exists; return the ids."""
    return set(resolve_manufacturers(BulkIO.for_connection(conn), manufacturer_ids).keys)


def ensure_products(conn: Connection, skus: Iterable[str]) -> dict[str, int]:
    """Make sure every sku exists; return sku -> product key."""
    return {k: int(v) for k, v in resolve_products(BulkIO.for_connection(conn), skus).keys.items()}


def ensure_members(conn: Connection, member_ids: Iterable[str]) -> dict[str, int]:
    """Make sure every member exists; return member_id -> member key."""
    return {k: int(v) for k, v in resolve_members(BulkIO.for_connection(conn), member_ids).keys.items()}
