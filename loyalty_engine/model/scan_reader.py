"""Members' scan lines read from ``scan_lines`` straight into integer arrays.

The model reads every member line of its window (a shard: a member key range), millions of
rows. A Python object per row and per value costs many times the database's own scan, so:

* **PostgreSQL** formats the rows as one text of integers per few thousand members
  (``string_agg``) and numpy parses it in one C pass: no Python object per row. (A binary
  ``COPY`` costs three times the CPU here: psycopg hands over one message per row.)
* **SQLite** rows come through the DB-API cursor in chunks (no ORM rows, no data frames),
  the day already an integer.

A basket is identified by its ``transaction_id``; here it becomes an integer code per read.
On PostgreSQL the code is the transaction id's 64-bit hash (``hashtextextended``): two baskets
would share a code only if their ids collided in 64 bits (odds about 1e-8 for a million
baskets in one read), and the code only counts baskets (the backtest's baselines).

The SQL holds only integers and ISO dates made here, never outside input.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Iterator

import numpy as np
import pandas as pd
from sqlalchemy import Connection, text

# PostgreSQL: member keys per query, each query's rows handed over in this many texts (a text
# is at most 1 GB; 10,000 members of a year of grocery scans make about 250 MB of text)
PG_KEYS_PER_QUERY = 10_000
PG_TEXTS_PER_QUERY = 4
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
    if conn.dialect.name == "postgresql":
        parts = [part for f in filters for part in _read_postgresql(conn, f)]
    else:
        parts = [part for f in filters for part in _read_sqlite(conn, f.sql())]
    lines = LineColumns.concat(parts)
    # Dense codes either way: a history never carries raw hashes or transaction ids.
    if lines.basket.dtype == object:
        lines.basket = pd.factorize(lines.basket)[0].astype(np.int64)
    else:
        lines.basket = np.unique(lines.basket, return_inverse=True)[1].astype(np.int64).reshape(-1)
    return lines


def _read_postgresql(conn: Connection, line_filter: LineFilter) -> Iterator[LineColumns]:
    row = ("concat_ws(' ', member_key, product_key, business_date - DATE '1970-01-01', quantity, amount_cents, "
           "hashtextextended(transaction_id, 0))")
    for where in _pg_key_slices(conn, line_filter):
        texts = conn.execute(text(f"SELECT string_agg({row}, ' ') FROM scan_lines WHERE {where} "
                                  f"GROUP BY member_key % {PG_TEXTS_PER_QUERY}")).scalars().all()
        parts = [np.fromstring(t, dtype=np.int64, sep=" ") for t in texts if t]
        if not parts:
            continue
        rows = np.concatenate(parts).reshape(-1, 6)
        del parts
        yield LineColumns(member=rows[:, 0].copy(), product=rows[:, 1].copy(), day=rows[:, 2].astype(np.int32),
                          basket=rows[:, 5].copy(), quantity=rows[:, 3].astype(np.int32),
                          amount_cents=rows[:, 4].copy())


def _pg_key_slices(conn: Connection, line_filter: LineFilter) -> Iterator[str]:
    """The filter's WHERE clause cut into member key ranges of ``PG_KEYS_PER_QUERY`` keys (a key
    list is short already)."""
    if line_filter.keys is not None:
        yield line_filter.sql()
        return
    if line_filter.key_range is not None:
        low, high = line_filter.key_range
    else:
        low, high = conn.execute(text("SELECT MIN(member_key), MAX(member_key) FROM scan_lines")).one()
        if low is None:
            return
    for start in range(int(low), int(high) + 1, PG_KEYS_PER_QUERY):
        stop = min(int(high), start + PG_KEYS_PER_QUERY - 1)
        yield replace(line_filter, key_range=(start, stop)).sql()


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

