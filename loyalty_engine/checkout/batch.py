"""Run several statements in one database round trip (PostgreSQL pipeline mode).

A lane call costs as many network round trips as it sends statements one by one, and each
round trip costs CPU on both sides (system calls, wake-ups) besides the wait. On PostgreSQL
:func:`run` sends a list of statements with psycopg's pipeline mode: all are written, the
server answers them in order, and one Sync ends the batch, so the batch is one round trip.
The statements are SQLAlchemy Core constructs compiled once per dialect (with their bind
casts) and executed on the request's own connection, inside its transaction if one is open.
Errors are wrapped as SQLAlchemy's ``DBAPIError`` subclasses, as ``Connection.execute`` would,
so callers handle ``IntegrityError`` and transient failures in one way on both databases.

On SQLite there is no network: the statements simply run one after another through
``Connection.execute``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement

from .errors import RetryableConflict

ROWS, ROWCOUNT, MANY = "rows", "rowcount", "many"


@dataclass(frozen=True)
class Step:
    """One statement of a batch. ``kind``: ``rows`` (fetch all rows), ``rowcount``, or ``many``
    (executemany over a list of parameter dicts; the result is the summed row count)."""

    statement: ClauseElement
    params: dict[str, Any] | list[dict[str, Any]]
    kind: str = ROWS
    expect: int | None = None  # the row count a conditional write must reach (checked by the caller)


def run(conn: Connection, steps: Sequence[Step]) -> list[Any]:
    """Execute the steps in order; returns, per step, its rows (a list of tuples) or its row count."""
    if conn.dialect.name == "postgresql":
        return _run_pipelined(conn, steps)
    out: list[Any] = []
    for step in steps:
        result = conn.execute(step.statement, step.params)
        out.append(result.all() if step.kind == ROWS else result.rowcount)
    return out


@dataclass(frozen=True)
class _Compiled:
    sql: str
    constants: dict[str, Any]  # literal values of the statement (status = 'active', LIMIT 1) are binds too
    computed: tuple[tuple[str, Any], ...]  # Python-side column defaults / onupdates (updated_at = utcnow())
    statement: ClauseElement

    def params(self, given: dict[str, Any]) -> dict[str, Any]:
        if not self.constants and not self.computed:
            return given
        params = {**self.constants, **given}
        for name, default in self.computed:
            params[name] = default.arg(None) if default.is_callable else default.arg
        return params


# compiled SQL per (statement, dialect, insert columns): statements are module-level constants
_COMPILED: dict[tuple[int, str, tuple[str, ...]], _Compiled] = {}


def _compiled(conn: Connection, statement: ClauseElement, given: dict[str, Any]) -> _Compiled:
    is_insert = getattr(statement, "is_insert", False)
    columns = tuple(given) if is_insert and getattr(statement, "select", None) is None else ()
    key = (id(statement), conn.dialect.name, columns)
    found = _COMPILED.get(key)
    if found is None or found.statement is not statement:
        target = statement
        if is_insert and not getattr(statement, "_returning", ()):
            target = statement.inline()  # type: ignore[attr-defined]  # no implicit RETURNING of the key
        compiled = target.compile(dialect=conn.dialect, column_keys=list(columns) or None)
        computed = tuple(
            (column.key, column.default if is_insert else column.onupdate)
            for column in (compiled.insert_prefetch if is_insert else compiled.update_prefetch)  # type: ignore[attr-defined]
            if column.key not in given
        )
        names = {name for name, _ in computed}
        constants = {name: value for name, value in compiled.params.items() if name not in given and name not in names}
        found = _COMPILED[key] = _Compiled(str(compiled), constants, computed, statement)
    return found


def run_checked(conn: Connection, steps: Sequence[Step]) -> None:
    """Run the writes (one pipeline on PostgreSQL); every conditional counter move must reach its rows."""
    if not steps:
        return
    for step, result in zip(steps, run(conn, steps)):
        if step.expect is not None and result != step.expect:
            raise RetryableConflict(f"{result} of {step.expect} counter rows moved")


def run_one(conn: Connection, sql: str, params: dict[str, Any]) -> tuple[Any, ...]:
    """One PostgreSQL statement (driver placeholders, ``%(name)s``) that returns one row, on the
    request's connection, with errors wrapped as ``Connection.execute`` wraps them.

    For the lanes' single-statement reads and writes: the statement goes straight to the
    driver (prepared by psycopg once per connection), with none of SQLAlchemy's per-execute work.
    """
    driver: Any = conn.connection.driver_connection
    try:
        with driver.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
    except conn.dialect.loaded_dbapi.Error as exc:
        raise _wrapped(conn, driver, exc, sql, params) from exc
    if row is None:
        raise AssertionError("the statement returned no row")
    return row


def _wrapped(conn: Connection, driver: Any, exc: Exception, sql: str, params: Any) -> DBAPIError:
    invalidated = conn.dialect.is_disconnect(exc, driver, None)
    if invalidated:
        conn.invalidate(exc)
    return DBAPIError.instance(sql, params, exc, conn.dialect.loaded_dbapi.Error,
                               connection_invalidated=invalidated, dialect=conn.dialect)


def _run_pipelined(conn: Connection, steps: Sequence[Step]) -> list[Any]:
    driver: Any = conn.connection.driver_connection
    cursors = []
    sql, params = "", None
    try:
        pipeline = driver.pipeline()
        pipeline.__enter__()
        try:
            for step in steps:
                first = step.params[0] if isinstance(step.params, list) else step.params
                compiled = _compiled(conn, step.statement, first)
                sql = compiled.sql
                cursor = driver.cursor()
                if step.kind == MANY:
                    params = [compiled.params(p) for p in step.params]  # type: ignore[union-attr]
                    cursor.executemany(sql, params)
                else:
                    params = compiled.params(step.params)  # type: ignore[arg-type]
                    cursor.execute(sql, params)
                cursors.append(cursor)
        except BaseException:
            # a statement failed while the batch was being sent: report that error, not the
            # pipeline's "aborted" that ending it raises
            try:
                pipeline.__exit__(None, None, None)
            except Exception:  # noqa: BLE001
                pass
            raise
        pipeline.__exit__(None, None, None)  # one Sync: every result is here (or the first error)
        return [cursor.fetchall() if step.kind == ROWS else cursor.rowcount for cursor, step in zip(cursors, steps)]
    except conn.dialect.loaded_dbapi.Error as exc:
        raise _wrapped(conn, driver, exc, sql, params) from exc
    finally:
        for cursor in cursors:
            cursor.close()


__all__ = ["MANY", "ROWCOUNT", "ROWS", "Step", "run", "run_one"]
