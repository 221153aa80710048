"""PostgreSQL: a lane call's reads as one statement, and a complete's writes as one statement.

The lanes' hot path is quote + complete. Each statement a call sends costs CPU on both sides
whatever it does (the driver's Python per execute, the server's parse/bind/portal, a wake-up per
round trip), and on this path that overhead was about half of the work. So on PostgreSQL:

* **The reads** (the lane's key, the basket's products, the list and its member, the list's
  terms with each offer's scope narrowed to the basket) are one ``SELECT`` that returns one JSON
  document, built by the server and parsed by orjson. The rows have the same columns and order
  as the row-per-statement reads of :mod:`loyalty_engine.checkout.queries`, so the same code
  turns them into the rules' terms.
* **The writes of a complete** (the checkout with its answer, the list-line and offer
  counters, the redemption ledger, the basket and its scan lines) are one statement of
  data-modifying CTEs, sent in autocommit: PostgreSQL runs a statement atomically, so it is its
  own transaction and there is no ``BEGIN``/``COMMIT`` to send. The counters move only where the
  limits still allow it (``WHERE redeemed_count + n <= redemption_limit`` and likewise for the
  offers' caps, budgets and status, re-checked on the newest row version under READ COMMITTED),
  and ``checkout_expect_rows`` (migration 0006) raises a serialization failure (SQLSTATE 40001)
  when fewer rows moved than were planned, so a lost race rolls the whole statement back and
  the caller retries it under locks. The rows to lock are locked in ascending id order (list
  lines, then offers) before they are moved, so two lanes cannot deadlock on them.

A retried idempotency key fails on the unique constraint of ``checkouts`` as before.
"""
from __future__ import annotations

from datetime import date
from typing import Any, Iterable

import orjson
from sqlalchemy import Connection

from . import batch

# the basket's product keys: looked up for the skus the caller does not know yet (none: no scan),
# given for the ones it does (a sku's key never changes)
_BASKET = """basket AS MATERIALIZED (
    SELECT p.sku, p.id FROM products p
    WHERE %(skus)s::text <> '' AND p.sku = ANY(string_to_array(%(skus)s::text, ','))
    UNION ALL
    SELECT NULL, k FROM unnest(%(known_keys)s::bigint[]) AS k)"""

# list + member: the columns of queries.LIST_BY_SERIAL_WITH_MEMBER
_FOUND_BY_LIST = """found AS MATERIALIZED (
    SELECT sl.id, sl.list_number, sl.member_key, sl.period_start, sl.period_end, sl.status,
           m.id AS m_key, m.member_id, m.first_name
    FROM shopping_lists sl JOIN members m ON m.id = sl.member_key
    WHERE sl.id = %(serial)s::bigint)"""
_ROW_BY_LIST = ("json_build_array(f.id, f.list_number, f.member_key, f.period_start, f.period_end, f.status, "
                "f.m_key, f.member_id, f.first_name)")

# member + current list: the columns of queries.MEMBER_WITH_CURRENT_LIST
_FOUND_BY_CARD = """found AS MATERIALIZED (
    SELECT m.id AS m_key, m.member_id, m.first_name,
           sl.id, sl.list_number, sl.member_key, sl.period_start, sl.period_end, sl.status
    FROM members m
    LEFT JOIN shopping_lists sl ON sl.member_key = m.id AND sl.status = 'active'
         AND sl.period_start <= %(day)s::date AND sl.period_end >= %(day)s::date
    WHERE m.card_number = %(card)s::text
    ORDER BY sl.period_start DESC, sl.id DESC
    LIMIT 1)"""
_ROW_BY_CARD = ("json_build_array(f.m_key, f.member_id, f.first_name, f.id, f.list_number, f.member_key, "
                "f.period_start, f.period_end, f.status)")

# the columns of queries._TERMS_COLUMNS; the scope is an array of the basket's product keys
# (probed per line through offer_products' primary key: the basket's keys are one array)
_TERMS = """(SELECT json_agg(json_build_array(
        l.id, l.line_no, l.offer_id, l.description, l.benefit_kind, l.benefit_value, l.min_quantity,
        l.redemption_limit, l.redeemed_count, l.valid_from, l.valid_to,
        o.status, o.valid_from, o.valid_to, o.funded_share_bp, o.handling_fee_cents, o.budget_cents,
        o.max_redemptions, o.redeemed_count, o.funded_spent_cents, o.funder_kind, o.manufacturer_id,
        o.stackable, o.offer_code,
        (SELECT json_agg(op.product_key) FROM offer_products op
         WHERE op.offer_id = l.offer_id AND op.product_key = ANY(ARRAY(SELECT b.id FROM basket b))),
        l.list_id) ORDER BY l.line_no)
    FROM found f JOIN shopping_list_lines l ON l.list_id = f.id JOIN offers o ON o.id = l.offer_id)"""

# the columns of lanes.AUTH_QUERY
_KEY = """(SELECT json_build_array(k.id, k.secret_sha256, k.revoked_at, l.id, l.store_id, l.lane_code, s.timezone)
    FROM lane_api_keys k JOIN lanes l ON l.id = k.lane_id JOIN stores s ON s.id = l.store_id
    WHERE k.key_id = %(key_id)s::text)"""


def _compact(sql: str) -> str:
    """One line, single spaces: psycopg caches its parse of a statement only up to 4 kB of text."""
    return " ".join(sql.split())


def _read_sql(found: str, row: str) -> str:
    return _compact(f"WITH {_BASKET}, {found} SELECT json_build_array({_KEY}, "
                    f"(SELECT json_agg(json_build_array(b.sku, b.id)) FROM basket b WHERE b.sku IS NOT NULL), "
                    f"(SELECT {row} FROM found f), {_TERMS})::text")


READ_BY_LIST = _read_sql(_FOUND_BY_LIST, _ROW_BY_LIST)
READ_BY_CARD = _read_sql(_FOUND_BY_CARD, _ROW_BY_CARD)

_LIST_DATES = {"list": (3, 4), "card": (6, 7)}
_TERMS_DATES = (9, 10, 12, 13)


def int_array(values: Iterable[int]) -> str:
    """A PostgreSQL array literal of whole numbers (sent as text: psycopg adapts a Python list
    element by element in Python)."""
    return "{" + ",".join(map(str, values)) + "}"


def read(conn: Connection, *, key_id: str | None, skus: str, known_keys: str, kind: str | None,
         serial: int | None, card: str | None, day: date) -> tuple[Any, list[Any], list[Any], list[Any]]:
    """(key row or None, [(sku, product key)], [list row] or [], terms rows) for one lane call.

    ``skus`` (comma-separated) are the basket's skus whose product keys the caller does not
    know; the rows found for them are returned. ``known_keys`` (an :func:`int_array`) are the
    keys of the others.
    ``kind`` is ``"list"`` (find the list by its serial), ``"card"`` (the card's member and
    current list on ``day``) or None (an anonymous basket: no list). Dates come back as dates.
    """
    sql = READ_BY_CARD if kind == "card" else READ_BY_LIST
    params = {"key_id": key_id, "skus": skus, "known_keys": known_keys,
              "serial": serial if kind == "list" else None, "card": card, "day": day}
    key, products, found, terms = orjson.loads(batch.run_one(conn, sql, params)[0])
    rows = []
    if found is not None:
        for i in _LIST_DATES["card" if kind == "card" else "list"]:
            if found[i] is not None:
                found[i] = date.fromisoformat(found[i])
        rows.append(found)
    for line in terms or ():
        for i in _TERMS_DATES:
            line[i] = date.fromisoformat(line[i])
    return key, products or [], rows, terms or []


WRITE_COMPLETE = _compact("""
WITH checkout AS (
    INSERT INTO checkouts (store_id, lane_code, pos_transaction_id, transaction_id, kind, status, member_key,
        list_id, original_transaction_id, business_date, request_sha256, request_body, response_status,
        response_body, total_amount_cents, total_discount_cents, api_key_id, request_id, completed_at)
    VALUES (%(store_id)s::text, %(lane_code)s::text, %(pos_transaction_id)s::text, %(transaction_id)s::text,
        %(kind)s::text, %(status)s::text, %(member_key)s::bigint, %(list_id)s::bigint,
        %(original_transaction_id)s::text, %(business_date)s::date, %(request_sha256)s::text,
        %(request_body)s::text, %(response_status)s::int, %(response_body)s::bytea, %(total_amount_cents)s::bigint,
        %(total_discount_cents)s::bigint, %(api_key_id)s::bigint, %(request_id)s::text,
        %(completed_at)s::timestamptz)
    RETURNING id),
locked_lines AS (
    SELECT l.id FROM shopping_list_lines l WHERE l.id = ANY(%(line_ids)s::bigint[]) ORDER BY l.id FOR UPDATE),
moved_lines AS (
    UPDATE shopping_list_lines l SET redeemed_count = l.redeemed_count + m.n
    FROM unnest(%(line_ids)s::bigint[], %(line_n)s::int[]) AS m(id, n) JOIN locked_lines k ON k.id = m.id
    WHERE l.id = m.id AND l.redeemed_count + m.n <= l.redemption_limit
    RETURNING l.id),
locked_offers AS (
    SELECT o.id FROM offers o WHERE o.id = ANY(%(offer_ids)s::bigint[]) ORDER BY o.id FOR UPDATE),
moved_offers AS (
    UPDATE offers o SET redeemed_count = o.redeemed_count + m.n, funded_spent_cents = o.funded_spent_cents + m.f,
        discount_given_cents = o.discount_given_cents + m.d, updated_at = %(completed_at)s::timestamptz
    FROM unnest(%(offer_ids)s::bigint[], %(offer_n)s::int[], %(offer_f)s::bigint[], %(offer_d)s::bigint[])
         AS m(id, n, f, d)
         JOIN locked_offers k ON k.id = m.id
    WHERE o.id = m.id AND o.id = ANY(%(offer_ids)s::bigint[]) AND o.status = 'active'
      AND (o.max_redemptions IS NULL OR o.redeemed_count + m.n <= o.max_redemptions)
      AND (o.budget_cents IS NULL OR o.funded_spent_cents + m.f <= o.budget_cents)
    RETURNING o.id),
ledger AS (
    INSERT INTO redemptions (event, checkout_id, transaction_id, list_id, member_key, store_id, lane_code,
        api_key_id, business_date, request_id, created_at, list_line_id, list_line_no, offer_id, applications,
        units, discount_cents, funded_cents, handling_fee_cents, funder_kind, manufacturer_id)
    SELECT 'redeemed', c.id, %(transaction_id)s::text, %(list_id)s::bigint, %(member_key)s::bigint,
        %(store_id)s::text, %(lane_code)s::text, %(api_key_id)s::bigint, %(business_date)s::date,
        %(request_id)s::text, %(completed_at)s::timestamptz, r.list_line_id, r.list_line_no, r.offer_id,
        r.applications, r.units, r.discount_cents, r.funded_cents, r.handling_fee_cents, r.funder_kind,
        r.manufacturer_id
    FROM checkout c, json_to_recordset(%(redeemed)s::json) AS r(list_line_id bigint, list_line_no int,
        offer_id bigint, applications int, units int, discount_cents bigint, funded_cents bigint,
        handling_fee_cents bigint, funder_kind text, manufacturer_id text)
    RETURNING 1),
basket AS (
    INSERT INTO transactions (transaction_id, store_id, member_key, scanned_at_local, utc_offset_minutes,
        business_date, source)
    VALUES (%(transaction_id)s::text, %(store_id)s::text, %(member_key)s::bigint, %(scanned_at_local)s::timestamp,
        %(utc_offset_minutes)s::smallint, %(business_date)s::date, 'lane')
    RETURNING 1),
scans AS (
    INSERT INTO scan_lines (transaction_id, line_no, product_key, member_key, business_date, quantity,
        amount_cents, discount_cents)
    SELECT %(transaction_id)s::text, s.line_no, s.product_key, %(member_key)s::bigint, %(business_date)s::date,
        s.quantity, s.amount_cents, s.discount_cents
    FROM json_to_recordset(%(lines)s::json) AS s(line_no int, product_key bigint, quantity int,
        amount_cents bigint, discount_cents bigint)
    RETURNING 1)
SELECT checkout_expect_rows((SELECT count(*) FROM moved_lines), %(expect_lines)s::bigint, 'list line'),
       checkout_expect_rows((SELECT count(*) FROM moved_offers), %(expect_offers)s::bigint, 'offer'),
       (SELECT id FROM checkout), (SELECT count(*) FROM ledger), (SELECT count(*) FROM basket),
       (SELECT count(*) FROM scans)
""")


def write_complete(conn: Connection, params: dict[str, Any]) -> int:
    """Run a complete's writes (autocommit: one statement, one transaction). Returns the checkout's id."""
    row = batch.run_one(conn, WRITE_COMPLETE, params)
    return int(row[2])


__all__ = ["READ_BY_CARD", "READ_BY_LIST", "WRITE_COMPLETE", "int_array", "read", "write_complete"]
