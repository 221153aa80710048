"""Fast bulk inserts for list builds: COPY on PostgreSQL, executemany on SQLite.

Rows are plain tuples (str, int, float, bool, date, datetime, None); JSON columns are passed
already serialized. On SQLite, dates and datetimes are converted with SQLAlchemy's own
processors (cached per distinct value) so the stored text is what the ORM reads back.
"""
from __future__ import annotations

from contextlib import contextmanager
from itertools import islice
from typing import Any, Iterable, Iterator, Sequence

from sqlalchemy import Date, DateTime, Table
from sqlalchemy.orm import Session


SQLITE_BUILD_CACHE_KIB = 512 * 1024


@contextmanager
def sqlite_page_cache(session: Session, kib: int = SQLITE_BUILD_CACHE_KIB) -> Iterator[None]:
    """A large SQLite page cache for the duration of a build's inserts, then the old size back.

    The default cache (2 MB) cannot hold the index pages a build touches (lines by offer,
    by list and offer): each insert then reads and writes index pages through the WAL, which
    halved the store phase's speed at 100,000 members. It is memory only as needed, up to
    ``kib``. Nothing to do on PostgreSQL.
    """
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        yield
        return
    raw = connection.connection.dbapi_connection
    old = raw.execute("PRAGMA cache_size").fetchone()[0]  # type: ignore[union-attr]
    raw.execute(f"PRAGMA cache_size=-{int(kib)}")  # type: ignore[union-attr]
    try:
        yield
    finally:
        raw.execute(f"PRAGMA cache_size={int(old)}")  # type: ignore[union-attr]


def bulk_insert(
    session: Session, table: Table, columns: Sequence[str], rows: Iterable[tuple[Any, ...]],
    converted_dates: bool = False,
) -> int:
    connection = session.connection()
    dialect = connection.dialect
    raw = connection.connection.dbapi_connection
    names = ", ".join(f'"{c}"' for c in columns)
    count = 0
    if dialect.name == "postgresql":
        with raw.cursor() as cursor:  # type: ignore[union-attr]
            with cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row(row)
                    count += 1
        return count
    converters = []
    for name in columns:
        col_type = table.c[name].type
        if isinstance(col_type, (Date, DateTime)) and not converted_dates:
            process = col_type.dialect_impl(dialect).bind_processor(dialect)
            converters.append(_cached(process) if process else None)
        else:
            converters.append(None)
    placeholders = ", ".join("?" for _ in columns)
    sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({placeholders})'
    active = [(i, f) for i, f in enumerate(converters) if f is not None]

    def convert(row: tuple[Any, ...]) -> tuple[Any, ...]:
        values = list(row)
        for i, f in active:
            values[i] = f(values[i])
        return tuple(values)

    source = map(convert, rows) if active else iter(rows)
    cursor = raw.cursor()  # type: ignore[union-attr]
    try:
        while True:
            batch = list(islice(source, 50_000))
            if not batch:
                break
            cursor.executemany(sql, batch)
            count += len(batch)
    finally:
        cursor.close()
    return count


def bulk_insert_columns(session: Session, table: Table, columns: dict[str, list[Any]]) -> int:
    """Like :func:`bulk_insert`, from whole columns: SQLite date conversion is done per
    column (one call per distinct value), not per row."""
    dialect = session.connection().dialect
    converted: list[list[Any]] = []
    for name, values in columns.items():
        col_type = table.c[name].type
        if dialect.name != "postgresql" and isinstance(col_type, (Date, DateTime)):
            process = col_type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                mapping = {v: (None if v is None else process(v)) for v in set(values)}
                values = [mapping[v] for v in values]
        converted.append(values)
    names = list(columns)
    return bulk_insert(session, table, names, zip(*converted), converted_dates=True)


def _cached(process: Any) -> Any:
    cache: dict[Any, Any] = {}

    def convert(value: Any) -> Any:
        if value is None:
            return None
        try:
            return cache[value]
        except KeyError:
            out = cache[value] = process(value)
            return out

    return convert
