"""Members' scan lines read from ``scan_lines`` straight into integer arrays.

The model reads every member line of its window (a shard: a member key range), millions of
rows. A Python object per row and per value costs many times the database's own scan, so:

* **PostgreSQL** sends the rows with ``COPY ... TO STDOUT (FORMAT BINARY)``. Every column is a
  fixed-width integer, so each row is a fixed-size record that numpy reads as a structured
  array (big-endian), in chunks: no Python object per row.
* **SQLite** rows come through the DB-API cursor in chunks (no ORM rows, no data frames),
  the day already an integer.

A basket is identified by its ``transaction_id``; here it becomes an integer code per read.
On PostgreSQL the code is the transaction id's 64-bit hash (``hashtextextended``): two baskets
would share a code only if their ids collided in 64 bits (odds about 1e-8 for a million
baskets in one read), and the code only counts baskets (the backtest's baselines).

The SQL holds only integers and ISO dates made here, never outside input.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Iterator

import numpy as np
import pandas as pd
from sqlalchemy import Connection

# PostgreSQL binary COPY: each row is a field count (int16) and, per field, its length (int32)
# and value. The columns and their widths, in the order of the SELECT below.
_PG_FIELDS = (("member", ">i8"), ("product", ">i8"), ("day", ">i4"), ("quantity", ">i4"),
              ("amount", ">i8"), ("basket", ">i8"))
_PG_RECORD = np.dtype([("count", ">i2")] + [item for name, kind in _PG_FIELDS
                                            for item in ((f"{name}_len", ">i4"), (name, kind))])
_PG_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_PG_CHUNK_BYTES = 64 * 2**20
SQLITE_CHUNK_ROWS = 500_000


@dataclass(frozen=True)
class LineFilter:
    """Which member lines: before ``before``, from ``since`` (when set), and either a member
    key range (inclusive) or a list of member keys."""

    before: date
    since: date | None = None
    key_range: tuple[int, int] | None = None
    keys: tuple[int, ...] | None = None

    def sql(self) -> str:
        where = [f"member_key IS NOT NULL AND business_date < '{self.before.isoformat()}'"]
        if self.since is not None:
            where.append(f"business_date >= '{self.since.isoformat()}'")
        if self.key_range is not None:
            where.append(f"member_key BETWEEN {int(self.key_range[0])} AND {int(self.key_range[1])}")
        if self.keys is not None:
            where.append(f"member_key IN ({','.join(str(int(k)) for k in self.keys)})")
        return " AND ".join(where)


@dataclass
class LineColumns:
    """Scan lines as aligned arrays; ``basket`` is a code per read (equal codes, one basket)."""

    member: np.ndarray  # int64 member key
    product: np.ndarray  # int64 product key
    day: np.ndarray  # int32 days since 1970-01-01
    basket: np.ndarray  # int64
    quantity: np.ndarray  # int32
    amount_cents: np.ndarray  # int64

    @classmethod
    def concat(cls, parts: list["LineColumns"]) -> "LineColumns":
        if not parts:
            return cls(*(np.empty(0, dtype=t) for t in (np.int64, np.int64, np.int32, np.int64, np.int32, np.int64)))
        return cls(*(np.concatenate([getattr(p, f) for p in parts])
                     for f in ("member", "product", "day", "basket", "quantity", "amount_cents")))


def read_lines(conn: Connection, filters: list[LineFilter]) -> LineColumns:
    """Every line matching any of ``filters`` (disjoint member sets), baskets coded."""
    reader = _read_postgresql if conn.dialect.name == "postgresql" else _read_sqlite
    parts = [part for f in filters for part in reader(conn, f.sql())]
    lines = LineColumns.concat(parts)
    # Dense codes either way: a history never carries raw hashes or transaction ids.
    if lines.basket.dtype == object:
        lines.basket = pd.factorize(lines.basket)[0].astype(np.int64)
    else:
        lines.basket = np.unique(lines.basket, return_inverse=True)[1].astype(np.int64).reshape(-1)
    return lines


def _read_postgresql(conn: Connection, where: str) -> Iterator[LineColumns]:
    sql = ("COPY (SELECT member_key, product_key, (business_date - DATE '1970-01-01')::int4, quantity::int4, "
           f"amount_cents::int8, hashtextextended(transaction_id, 0) FROM scan_lines WHERE {where}) "
           "TO STDOUT (FORMAT BINARY)")
    raw = conn.connection.dbapi_connection
    pending = bytearray()
    header_done = False
    with raw.cursor() as cur, cur.copy(sql) as copy:  # type: ignore[union-attr]
        for data in copy:
            pending += data
            if not header_done:
                if len(pending) < 19:
                    continue
                pending = pending[_header_length(pending):]
                header_done = True
            if len(pending) >= _PG_CHUNK_BYTES:
                whole = len(pending) // _PG_RECORD.itemsize * _PG_RECORD.itemsize
                yield _pg_records(pending[:whole])
                del pending[:whole]
    if not header_done:
        raise ValueError("COPY sent no header")
    if bytes(pending[-2:]) != b"\xff\xff":
        raise ValueError("COPY ended without its trailer")
    yield _pg_records(pending[:-2])


def _header_length(data: bytearray) -> int:
    if bytes(data[:11]) != _PG_SIGNATURE:
        raise ValueError("not a PostgreSQL binary COPY stream")
    extension = int.from_bytes(data[15:19], "big")
    return 19 + extension


def _pg_records(data: bytearray) -> LineColumns:
    if len(data) % _PG_RECORD.itemsize:
        raise ValueError("COPY rows are not all of the expected width")
    rec = np.frombuffer(bytes(data), dtype=_PG_RECORD)
    widths = {name: np.dtype(kind).itemsize for name, kind in _PG_FIELDS}
    if rec.shape[0] and ((rec["count"] != len(_PG_FIELDS)).any()
                         or any((rec[f"{name}_len"] != w).any() for name, w in widths.items())):
        raise ValueError("COPY rows hold a NULL or an unexpected column width")
    return LineColumns(
        member=rec["member"].astype(np.int64), product=rec["product"].astype(np.int64),
        day=rec["day"].astype(np.int32), basket=rec["basket"].astype(np.int64),
        quantity=rec["quantity"].astype(np.int32), amount_cents=rec["amount"].astype(np.int64),
    )


def _read_sqlite(conn: Connection, where: str) -> Iterator[LineColumns]:
    # julianday of a midnight is an exact .5, so the difference is an exact whole day count
    sql = ("SELECT member_key, product_key, CAST(julianday(business_date) - 2440587.5 AS INTEGER), quantity, "
           f"amount_cents, transaction_id FROM scan_lines WHERE {where}")
    cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cur.execute(sql)
        while rows := cur.fetchmany(SQLITE_CHUNK_ROWS):
            member, product, day, quantity, amount, txn = zip(*rows)
            yield LineColumns(
                member=np.fromiter(member, np.int64, len(rows)), product=np.fromiter(product, np.int64, len(rows)),
                day=np.fromiter(day, np.int32, len(rows)), basket=np.asarray(txn, dtype=object),  # coded below
                quantity=np.fromiter(quantity, np.int32, len(rows)), amount_cents=np.fromiter(amount, np.int64, len(rows)),
            )
    finally:
        cur.close()

