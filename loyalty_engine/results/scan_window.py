"""A window of members' scan lines as integer arrays, read once for results and analytics.

Results (the scope sums of the lift) and analytics (trial, source of volume, the lift) both
read the scan lines of a list period and the weeks before it, for overlapping sets of
products. :class:`ScanWindows` reads the union once (what the callers ``plan`` plus what
they ask for) and hands each caller its part, filtered in numpy.

The read itself is where the time goes (millions of lines): a Python object per row and per
value cost several times the database's scan. So the database formats the rows as one text
of integers (``group_concat`` / ``string_agg``, in chunks) and numpy parses it in one C
pass. The SQL holds only dates and integer keys made here, never outside input.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Sequence

import numpy as np
from sqlalchemy import Connection, text

COLUMNS = 5  # member, product, day (relative to the window's first day), units, net cents
# SQLite: rowid ranges of this many scan lines per text (a text is at most 1e9 bytes)
SQLITE_CHUNK_ROWS = 4_000_000
# PostgreSQL: member_key % this many texts (a text is at most 1 GB)
PG_CHUNKS = 16


def _empty() -> np.ndarray:
    return np.zeros((0, COLUMNS), dtype=np.int64)


def _parse(texts: list[str | None]) -> np.ndarray:
    """The rows' texts ("m p d u c m p d u c ...") as an (n, 5) int64 array."""
    parts = [np.fromstring(t, dtype=np.int64, sep=" ") for t in texts if t]
    if not parts:
        return _empty()
    return np.concatenate(parts).reshape(-1, COLUMNS)


def read_scans(conn: Connection, first: date, last: date, products: np.ndarray) -> np.ndarray:
    """(member, product, day - first, units, net cents) of members' scan lines of ``products``
    bought in ``[first, last]`` (a voided basket's lines are deleted: what is here was bought).

    Scan lines carry their basket's member and business date, so no join to the baskets.
    """
    if not len(products):
        return _empty()
    keys = ",".join(str(int(p)) for p in np.unique(products))
    where = (f"business_date BETWEEN '{first.isoformat()}' AND '{last.isoformat()}' "
             f"AND member_key IS NOT NULL AND product_key IN ({keys})")
    if conn.dialect.name == "sqlite":
        return _read_sqlite(conn, first, where)
    row = (f"member_key::text || ' ' || product_key::text || ' ' || (business_date - DATE '{first.isoformat()}')::text"
           " || ' ' || quantity::text || ' ' || amount_cents::text")
    sql = f"SELECT string_agg({row}, ' ') FROM scan_lines WHERE {where} GROUP BY member_key % {PG_CHUNKS}"
    return _parse(list(conn.execute(text(sql)).scalars()))


def _read_sqlite(conn: Connection, first: date, where: str) -> np.ndarray:
    low, high = conn.execute(text("SELECT MIN(rowid), MAX(rowid) FROM scan_lines")).one()
    if low is None:
        return _empty()
    day = f"CAST(julianday(business_date) - julianday('{first.isoformat()}') AS INTEGER)"
    row = f"printf('%d %d %d %d %d', member_key, product_key, {day}, quantity, amount_cents)"
    texts = []
    for start in range(int(low), int(high) + 1, SQLITE_CHUNK_ROWS):
        sql = (f"SELECT group_concat({row}, ' ') FROM scan_lines "
               f"WHERE rowid BETWEEN {start} AND {start + SQLITE_CHUNK_ROWS - 1} AND {where}")
        texts.append(conn.execute(text(sql)).scalar())
    return _parse(texts)


def read_numbers(conn: Connection, columns: Sequence[str], body: str, params: dict[str, Any],
                 chunk_key: str, chunk_bounds: str) -> np.ndarray:
    """The rows of ``SELECT columns body`` (``body``: FROM ... WHERE ...) as an
    (n, len(columns)) float64 array, handed over as text in chunks of the integer column
    ``chunk_key`` (``chunk_bounds``: a cheap query of its MIN and MAX). Integers come back
    exact below 2**53 (keys, counts and cents are far below); floats exactly."""
    k = len(columns)
    if conn.dialect.name == "sqlite":
        # '%!.17g': SQLite's printf keeps 16 digits without the '!' flag (not a round trip)
        fmt = " ".join("%!.17g" for _ in columns)
        row = f"printf('{fmt}', {', '.join(columns)})"
        low, high = conn.execute(text(chunk_bounds)).one()
        if low is None:
            return np.zeros((0, k))
        texts = [conn.execute(text(f"SELECT group_concat({row}, ' ') {body} AND {chunk_key} BETWEEN {start} AND "
                                   f"{start + SQLITE_CHUNK_ROWS - 1}"), params).scalar()
                 for start in range(int(low), int(high) + 1, SQLITE_CHUNK_ROWS)]
    else:
        row = f"concat_ws(' ', {', '.join(columns)})"
        texts = list(conn.execute(text(f"SELECT string_agg({row}, ' ') {body} GROUP BY {chunk_key} % {PG_CHUNKS}"),
                                  params).scalars())
    parts = [np.fromstring(t, dtype=np.float64, sep=" ") for t in texts if t]
    return np.concatenate(parts).reshape(-1, k) if parts else np.zeros((0, k))


@dataclass
class _Read:
    first: date
    last: date
    products: np.ndarray  # sorted, distinct
    columns: tuple[np.ndarray, ...]  # member, product, day relative to ``first``, units, net cents

    def covers(self, first: date, last: date, products: np.ndarray) -> bool:
        return (self.first <= first and last <= self.last
                and bool(np.isin(products, self.products, assume_unique=True).all()))


@dataclass
class ScanWindows:
    """Scan-line windows of one connection, read once and filtered for each caller."""

    planned: list[tuple[date, date, np.ndarray]] = field(default_factory=list)
    reads: list[_Read] = field(default_factory=list)

    def plan(self, first: date, last: date, products: np.ndarray) -> None:
        """Announce a window a later caller will ask for, so the first read covers it too."""
        self.planned.append((first, last, np.unique(np.asarray(products, dtype=np.int64))))

    def window(self, conn: Connection, first: date, last: date, day0: date,
               products: np.ndarray) -> tuple[np.ndarray, ...]:
        """(member, product, day - ``day0``, units, net cents) columns of the scan lines of
        ``products`` in ``[first, last]``, from an earlier read when one covers them (the
        columns are shared with other callers: read them, never write into them)."""
        products = np.unique(np.asarray(products, dtype=np.int64))
        found = next((r for r in self.reads if r.covers(first, last, products)), None)
        if found is None:
            found = self._read(conn, first, last, products)
        member, product, day, units, cents = found.columns
        lo, hi = (first - found.first).days, (last - found.first).days
        keep = (day >= lo) & (day <= hi)
        if len(products) != len(found.products):
            keep &= np.isin(product, products)
        # the whole read (analytics' window, usually): no copy of millions of lines
        out = list(found.columns) if keep.all() else [c[keep] for c in found.columns]
        shift = (found.first - day0).days
        out[2] = out[2] + shift if shift else out[2]
        return tuple(out)

    def _read(self, conn: Connection, first: date, last: date, products: np.ndarray) -> _Read:
        wanted = [(first, last, products)] + [p for p in self.planned if _overlaps(p, first, last)]
        lo = min(w[0] for w in wanted)
        hi = max(w[1] for w in wanted)
        union = np.unique(np.concatenate([w[2] for w in wanted]))
        rows = read_scans(conn, lo, hi, union)
        read = _Read(lo, hi, union, tuple(np.ascontiguousarray(rows[:, i]) for i in range(COLUMNS)))
        del rows
        self.reads.append(read)
        return read


def _overlaps(planned: tuple[date, date, np.ndarray], first: date, last: date) -> bool:
    return planned[0] <= last and first <= planned[1]


__all__ = ["ScanWindows", "read_numbers", "read_scans"]
