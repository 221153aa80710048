"""Set-at-a-time database I/O for imports, on the raw DBAPI connection (no ORM object per row).

SQLite: ``executemany`` of ``INSERT ... ON CONFLICT DO NOTHING`` inside the caller's transaction;
key look-ups pass the keys as one JSON array (``json_each``) instead of thousands of parameters.
PostgreSQL (psycopg 3): ``COPY`` (binary for large batches, :mod:`.pgcopy`) into a session temp
staging table, then one ``INSERT ... SELECT ... ON CONFLICT DO NOTHING`` (or ``UPDATE ... FROM``);
look-ups use ``= ANY(%s)``.

Every method runs inside the SQLAlchemy connection's current transaction, so callers (the importer,
or a checkout lane recording a basket) keep all-or-nothing control.
"""
from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from itertools import chain
from typing import Any, Mapping, Sequence

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
from sqlalchemy import Connection

from . import pgcopy

ColumnData = Sequence[Any] | np.ndarray | pa.Array | pa.ChunkedArray


def _as_list(values: ColumnData) -> list[Any]:
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values.to_pylist()
    if isinstance(values, np.ndarray):
        return values.tolist()
    return list(values)


def _as_sqlite_list(values: ColumnData) -> list[Any]:
    """Values as SQLite stores them: Arrow dates as ``YYYY-MM-DD`` and timestamps as
    ``YYYY-MM-DD HH:MM:SS.ffffff`` (SQLAlchemy's forms), cast by Arrow in C++."""
    if isinstance(values, (pa.Array, pa.ChunkedArray)) and (pa.types.is_date32(values.type)
                                                           or pa.types.is_timestamp(values.type)):
        values = pc.cast(values, pa.string())
    return _as_list(values)


def _as_arrow(values: ColumnData) -> pa.Array | pa.ChunkedArray:
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values
    return pa.array(values.tolist() if isinstance(values, np.ndarray) and values.dtype == object else values)


EXECUTEMANY_ROWS = 25_000
VALUES_ROWS = 100  # rows per multi-row INSERT on SQLite
SQLITE_MAX_PARAMETERS = 999  # the lowest limit any SQLite build has (32,766 since 3.32)
BINARY_MIN_ROWS = 1_000  # fewer rows (a lane's basket) go as CSV: no catalog look-up for the types
ARRAY_SEPARATOR = "\x1f"  # ASCII unit separator: not in any real key (checked per call)


def _array_parameter(keys: ColumnData) -> tuple[Any, str]:
    """``keys`` as one parameter and the SQL array expression reading it.

    Text keys travel as one string split on the server: psycopg dumps a Python list element by
    element (80 ms for the 35,000 baskets of a chunk, on the importer's critical path). An Arrow
    text column is joined by Arrow, without a Python string per key."""
    if isinstance(keys, (pa.Array, pa.ChunkedArray)) and pa.types.is_integer(keys.type) and keys.null_count == 0:
        # Integer keys (surrogate keys) as one text too: psycopg dumps a list of ints one by one.
        if len(keys) == 0:
            return [], "%s"
        joined, array = _array_parameter(pc.cast(keys, pa.string()))
        return joined, array + "::bigint[]"
    if isinstance(keys, (pa.Array, pa.ChunkedArray)) and pa.types.is_string(keys.type) and keys.null_count == 0:
        keys = keys.combine_chunks() if isinstance(keys, pa.ChunkedArray) else keys
        if len(keys) and not pc.any(pc.match_substring(keys, ARRAY_SEPARATOR)).as_py():
            joined = pc.binary_join(pa.ListArray.from_arrays(pa.array([0, len(keys)], pa.int32()), keys),
                                    ARRAY_SEPARATOR)[0].as_py()
            return joined, "string_to_array(%s, E'\\x1f')"
    keys = _as_list(keys)
    try:
        joined = ARRAY_SEPARATOR.join(keys)  # TypeError unless every key is text
    except TypeError:
        return keys, "%s"
    if keys and joined.count(ARRAY_SEPARATOR) == len(keys) - 1:
        return joined, "string_to_array(%s, E'\\x1f')"
    return keys, "%s"


def _slice(values: ColumnData, start: int, stop: int) -> ColumnData:
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values.slice(start, stop - start)
    return values[start:stop]


def _take(values: ColumnData, rows: np.ndarray) -> ColumnData:
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values.take(pa.array(rows))
    if isinstance(values, np.ndarray):
        return values[rows]
    return [values[i] for i in rows]


def _length(data: Mapping[str, ColumnData]) -> int:
    lengths = {len(v) for v in data.values()}
    if len(lengths) > 1:
        raise ValueError(f"columns of different lengths: {lengths}")
    return lengths.pop() if lengths else 0


@dataclass
class CopyPayload:
    """Rows encoded for ``COPY table (names) FROM STDIN``: the stream's pieces, in order."""

    table: str
    names: list[str]
    format: str  # "binary" or "csv"
    pieces: list[Any]
    rows: int


class BulkIO:
    """Bulk reads and writes on one connection. Use :meth:`for_connection`."""

    dialect: str

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.raw = conn.connection.dbapi_connection

    @staticmethod
    def for_connection(conn: Connection) -> "BulkIO":
        name = conn.dialect.name
        if name == "sqlite":
            return SqliteBulkIO(conn)
        if name == "postgresql":
            return PostgresBulkIO(conn)
        raise NotImplementedError(f"bulk import is not implemented for {name}")

    def fetch_by_keys(self, table: str, columns: Sequence[str], key: str, keys: Sequence[str]) -> list[tuple]:
        raise NotImplementedError

    # Whether ON CONFLICT costs about nothing (SQLite) or is worth avoiding when rows are known new.
    cheap_conflicts: bool = True

    def insert(self, table: str, data: Mapping[str, ColumnData], *, skip_conflicts: bool = True) -> int:
        """Insert rows, skipping any that collide with a unique key (``skip_conflicts``, the
        default; otherwise a collision is an error). Returns rows inserted."""
        raise NotImplementedError

    def insert_new(self, table: str, data: Mapping[str, ColumnData], key: str) -> pa.Array:
        """Insert the rows whose ``key`` is not stored yet (the first row of a key repeated in
        ``data``); return the keys inserted (an Arrow array). The caller's transaction sees a
        consistent answer;
        a concurrent writer inserting the same key at the same moment makes this raise (the
        whole chunk then rolls back and a re-run completes it)."""
        keys = _as_arrow(data[key])
        if isinstance(keys, pa.ChunkedArray):
            keys = keys.combine_chunks()
        stored = pa.array([row[0] for row in self.fetch_by_keys(table, [key], key, keys)], keys.type)
        # Vectorized (no Python step per basket): not stored, and the first row of its key.
        fresh = ~np.asarray(pc.fill_null(pc.is_in(keys, value_set=stored), False), dtype=bool)
        codes = np.asarray(pc.dictionary_encode(keys, null_encoding="encode").indices, dtype=np.int64)
        first = np.zeros(len(keys), dtype=bool)
        first[np.unique(codes, return_index=True)[1]] = True
        rows = np.flatnonzero(fresh & first)
        if len(rows):
            self.insert(table, {n: _take(v, rows) for n, v in data.items()}, skip_conflicts=False)
        return keys.take(pa.array(rows, pa.int64()))

    def update(self, table: str, key: str, data: Mapping[str, ColumnData], *,
               keep_when_null: bool = False, only_if_null: str | None = None) -> int:
        """``UPDATE table SET <columns> WHERE key = <key>`` for each row of ``data`` (which includes ``key``).

        ``keep_when_null``: a NULL value leaves the stored value unchanged (``COALESCE``).
        ``only_if_null``: only rows whose stored ``only_if_null`` column is NULL are updated.
        """
        raise NotImplementedError


class SqliteBulkIO(BulkIO):
    dialect = "sqlite"

    def fetch_by_keys(self, table: str, columns: Sequence[str], key: str, keys: Sequence[str]) -> list[tuple]:
        if len(keys) == 0:
            return []
        cursor = self.raw.cursor()
        try:
            cursor.execute(
                f"SELECT {', '.join(columns)} FROM {table} WHERE {key} IN (SELECT value FROM json_each(?))",
                (json.dumps(_as_list(keys)),),
            )
            return cursor.fetchall()
        finally:
            cursor.close()

    def insert(self, table: str, data: Mapping[str, ColumnData], *, skip_conflicts: bool = True) -> int:
        if _length(data) == 0:
            return 0
        names = list(data)
        row = "(" + ", ".join("?" * len(names)) + ")"
        conflict = " ON CONFLICT DO NOTHING" if skip_conflicts else ""
        head = f"INSERT INTO {table} ({', '.join(names)}) VALUES "
        one_row = head + row + conflict
        # Many rows per statement: SQLite runs one program for VALUES (...), (...), ... instead of
        # a reset, bind and step per row (about 15% of a bulk insert).
        per_statement = max(1, min(VALUES_ROWS, SQLITE_MAX_PARAMETERS // len(names)))
        many_rows = head + ", ".join([row] * per_statement) + conflict
        step = per_statement * len(names)
        before = self.raw.total_changes
        cursor = self.raw.cursor()
        try:
            # Python objects for a slice at a time: memory stays flat whatever the chunk size.
            for start in range(0, _length(data), EXECUTEMANY_ROWS):
                stop = start + EXECUTEMANY_ROWS
                columns = [_as_sqlite_list(_slice(data[n], start, stop)) for n in names]
                flat = list(chain.from_iterable(zip(*columns)))
                whole = len(flat) // step * step
                cursor.executemany(many_rows, (flat[i:i + step] for i in range(0, whole, step)))
                cursor.executemany(one_row, zip(*(c[whole // len(names):] for c in columns)))
        finally:
            cursor.close()
        return self.raw.total_changes - before

    def update(self, table: str, key: str, data: Mapping[str, ColumnData], *,
               keep_when_null: bool = False, only_if_null: str | None = None) -> int:
        if _length(data) == 0:
            return 0
        names = [n for n in data if n != key]
        rows = zip(*(_as_sqlite_list(data[n]) for n in [*names, key]))
        assignments = ", ".join(f"{n} = COALESCE(?, {n})" if keep_when_null else f"{n} = ?" for n in names)
        condition = f" AND {only_if_null} IS NULL" if only_if_null else ""
        before = self.raw.total_changes
        cursor = self.raw.cursor()
        try:
            cursor.executemany(f"UPDATE {table} SET {assignments} WHERE {key} = ?{condition}", rows)
        finally:
            cursor.close()
        return self.raw.total_changes - before


class PostgresBulkIO(BulkIO):
    dialect = "postgresql"
    cheap_conflicts = False

    def fetch_by_keys(self, table: str, columns: Sequence[str], key: str, keys: Sequence[str],
                      lock: bool = False) -> list[tuple]:
        """Rows whose ``key`` is one of ``keys``; ``lock`` takes ``FOR KEY SHARE`` on them (what a
        foreign-key check takes on the row it finds)."""
        if len(keys) == 0:
            return []
        values, array = _array_parameter(keys)
        suffix = " FOR KEY SHARE" if lock else ""
        with self.raw.cursor() as cursor:
            cursor.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE {key} = ANY({array}){suffix}", (values,))
            return cursor.fetchall()

    def pause_row_reference_checks(self) -> bool:
        """Switch PostgreSQL's row-by-row foreign-key triggers off for the rest of the current
        transaction (``SET LOCAL session_replication_role = replica``), when this role may do so
        (a superuser, or ``GRANT SET ON PARAMETER session_replication_role``); returns whether it did.

        The triggers run one look-up per inserted row: about 60% of the cost of COPYing baskets.
        A caller that pauses them must check the references itself, set-based
        (:meth:`lock_references`), in the same transaction.
        """
        if self.raw.info.server_version < 150000:  # has_parameter_privilege() is PostgreSQL 15+
            allowed_sql = "SELECT current_setting('is_superuser') = 'on'"
        else:
            allowed_sql = ("SELECT current_setting('is_superuser') = 'on' "
                           "OR has_parameter_privilege('session_replication_role', 'SET')")
        with self.raw.cursor() as cursor:
            cursor.execute(allowed_sql)
            if not cursor.fetchone()[0]:
                return False
            cursor.execute("SET LOCAL session_replication_role = replica")
        return True

    def lock_references(self, table: str, key: str, keys: Sequence[Any]) -> int:
        """Take ``FOR KEY SHARE`` on the rows of ``table`` whose ``key`` is in ``keys`` (what the
        foreign-key triggers would have taken, once per distinct key); returns how many exist.
        Only the count travels back: not a row per key for the client to build and drop."""
        if len(keys) == 0:
            return 0
        values, array = _array_parameter(keys)
        with self.raw.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM (SELECT 1 FROM {table} WHERE {key} = ANY({array}) "
                           "FOR KEY SHARE) AS locked", (values,))
            return int(cursor.fetchone()[0])

    def column_types(self, table: str) -> dict[str, str]:
        """Column name -> its type as ``format_type`` names it (``character varying``, ``bigint``)."""
        with self.raw.cursor() as cursor:
            cursor.execute("SELECT attname, format_type(atttypid, NULL) FROM pg_attribute "
                           "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped", (table,))
            return dict(cursor.fetchall())

    def encode(self, table: str, data: Mapping[str, ColumnData]) -> CopyPayload:
        """``data`` as a COPY stream for ``table`` (or a staging table shaped like it), ready to
        send on any connection (:meth:`copy_in`): binary from :data:`BINARY_MIN_ROWS` rows
        when :mod:`.pgcopy` can encode every column, CSV otherwise."""
        names = list(data)
        rows = _length(data)
        if rows >= BINARY_MIN_ROWS:
            types = self.column_types(table)
            if all(pgcopy.encodable(types.get(n, "")) for n in names):
                pieces = pgcopy.encode([types[n] for n in names], [data[n] for n in names])
                if pieces is not None:
                    return CopyPayload(table, names, "binary", pieces, rows)
        arrow = pa.table({n: _as_arrow(data[n]) for n in names})
        buffer = io.BytesIO()
        pcsv.write_csv(arrow, buffer, pcsv.WriteOptions(include_header=False, quoting_style="needed"))
        return CopyPayload(table, names, "csv", [buffer.getbuffer()], rows)

    def insert_if_all_new(self, table: str, data: Mapping[str, ColumnData]) -> bool:
        """COPY every row in, if none collides with a unique key (stored, or repeated in ``data``);
        otherwise insert nothing (the transaction goes on as before) and return False."""
        with self.raw.cursor() as cursor:
            cursor.execute("SAVEPOINT le_all_new")
            try:
                self._send(cursor, table, self.encode(table, data))
            except psycopg.errors.UniqueViolation:
                cursor.execute("ROLLBACK TO SAVEPOINT le_all_new")
                return False
            cursor.execute("RELEASE SAVEPOINT le_all_new")
        return True

    def copy_in(self, payload: CopyPayload) -> int:
        """COPY encoded rows straight into their table (no conflict handling); returns the rows."""
        if payload.rows == 0:
            return 0
        with self.raw.cursor() as cursor:
            self._send(cursor, payload.table, payload)
        return payload.rows

    def _send(self, cursor: Any, target: str, payload: CopyPayload) -> None:
        with cursor.copy(f"COPY {target} ({', '.join(payload.names)}) FROM STDIN (FORMAT {payload.format})") as copy:
            for piece in payload.pieces:
                copy.write(piece)

    def _stage(self, table: str, names: Sequence[str], data: Mapping[str, ColumnData]) -> str:
        """COPY ``data`` into an empty temp table shaped like ``table``'s ``names`` columns."""
        digest = hashlib.sha1(",".join(names).encode()).hexdigest()[:10]
        stage = f"_le_stage_{table}_{digest}"
        with self.raw.cursor() as cursor:
            cursor.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS "
                f"SELECT {', '.join(names)} FROM {table} WITH NO DATA"
            )
            cursor.execute(f"TRUNCATE {stage}")
            self._send(cursor, stage, self.encode(table, data))
        return stage

    def insert(self, table: str, data: Mapping[str, ColumnData], *, skip_conflicts: bool = True) -> int:
        if _length(data) == 0:
            return 0
        names = list(data)
        if not skip_conflicts:
            # Rows known to be new go straight in with COPY: no staging, no conflict handling.
            return self.copy_in(self.encode(table, data))
        stage = self._stage(table, names, data)
        column_list = ", ".join(names)
        # ON CONFLICT makes every row a speculative insertion: about 2.5x a plain INSERT.
        with self.raw.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} ({column_list}) SELECT {column_list} FROM {stage} ON CONFLICT DO NOTHING")
            inserted = cursor.rowcount
            cursor.execute(f"TRUNCATE {stage}")
        return inserted

    def update(self, table: str, key: str, data: Mapping[str, ColumnData], *,
               keep_when_null: bool = False, only_if_null: str | None = None) -> int:
        if _length(data) == 0:
            return 0
        names = list(data)
        stage = self._stage(table, names, data)
        assignments = ", ".join(
            f"{n} = COALESCE(s.{n}, t.{n})" if keep_when_null else f"{n} = s.{n}" for n in names if n != key)
        condition = f" AND t.{only_if_null} IS NULL" if only_if_null else ""
        with self.raw.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} AS t SET {assignments} FROM {stage} AS s WHERE t.{key} = s.{key}{condition}")
            updated = cursor.rowcount
            cursor.execute(f"TRUNCATE {stage}")
        return updated
