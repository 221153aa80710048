"""Workers write a build's lists and lines straight to PostgreSQL with ``COPY``; the period
turns active only when the client's build transaction commits.

Each member shard's task (on a Dask worker, or in this process) formats its shard's lists and
lines (:mod:`loyalty_engine.shopping_lists.store_rows`, the client's own code) and copies
them into two ``UNLOGGED`` staging tables of its own, created **in the same transaction as the
COPY**: a worker killed mid-write leaves no table at all (PostgreSQL rolls the transaction
back when the connection drops), and a retried task simply writes its tables again. Staging
tables have no index, constraint or WAL, so the workers' COPY runs at the speed of the
formatting and the server's parsing, one backend per worker.

The client then, inside the build's transaction (where the build row and the previous build's
``replaced`` lists already are), moves every shard's rows into ``shopping_lists`` and
``shopping_list_lines`` with one server-side ``INSERT ... SELECT`` each (ordered by list id,
then line number, so line ids come out as in one process) and drops the staging tables. The
lists are therefore visible, and ``active``, only when the build commits; a shard that fails
after Dask's retries fails the build, which rolls back with nothing of it visible. The staging
tables of a failed build are dropped at once (best effort) and, whatever is left, by the next
build of the same period and cohort: once that build's row is flushed, the partial unique index
on live builds guarantees no other builder of the period and cohort is writing.

List numbers are the client's: it reserves one block of serials for the build and hands each
list its serial in the chain-wide member order, exactly as one process does, so the numbers
do not depend on which worker writes which shard.
"""
from __future__ import annotations

import functools
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from ..db import make_engine
from ..shopping_lists.store_rows import (
    LINE_COLUMNS, LIST_COLUMNS, BuildStamp, ListBatch, ListWrite, OfferColumns, line_columns, list_columns,
    write_here,
)
from .shards import shard_of

STAGE_PREFIX = "list_stage_"


@dataclass(frozen=True)
class StageTables:
    """One shard's staging tables (lists, lines) of one build."""

    lists: str
    lines: str


def stage_prefix(stamp: BuildStamp) -> str:
    """Names of every staging table of builds of this period and cohort start with this."""
    return f"{STAGE_PREFIX}{stamp.period_start:%Y%m%d}_{stamp.cohort.lower()}_"


def stage_tables(stamp: BuildStamp, shard: int) -> StageTables:
    base = f"{stage_prefix(stamp)}{stamp.build_id}_{shard}"
    return StageTables(f"{base}_lists", f"{base}_lines")


def shard_batches(batch: ListBatch, n_shards: int) -> list[ListBatch]:
    """The batch split by member shard (the selection's hash of the member key): each list and
    its lines go to its member's shard. List ids ascend, so a line finds its list by bisection."""
    list_shard = shard_of(batch.member_key, n_shards)
    line_shard = list_shard[np.searchsorted(batch.list_id, batch.line_list_id)]
    return [batch.part(np.flatnonzero(list_shard == i), np.flatnonzero(line_shard == i)) for i in range(n_shards)]


@functools.lru_cache(maxsize=4)
def _engine(url: str) -> Engine:
    # No pool: a worker holds no idle connection between builds.
    return make_engine(url, poolclass=NullPool)


def copy_columns(cursor: Any, table: str, columns: dict[str, list[Any]]) -> int:
    """``COPY`` whole columns (equal-length lists) into ``table``; returns the row count."""
    names = ", ".join(f'"{c}"' for c in columns)
    count = 0
    with cursor.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
        for row in zip(*columns.values()):
            copy.write_row(row)
            count += 1
    return count


def _create_stage(cursor: Any, name: str, like: str, columns: list[str]) -> None:
    """An empty UNLOGGED table with ``columns`` typed as in ``like`` (no constraint, no index)."""
    cursor.execute(f'DROP TABLE IF EXISTS "{name}"')
    cols = ", ".join(f'"{c}"' for c in columns)
    cursor.execute(f'CREATE UNLOGGED TABLE "{name}" AS SELECT {cols} FROM "{like}" WITH NO DATA')


def write_shard(url: str, tables: StageTables, batch: ListBatch, offers: OfferColumns, stamp: BuildStamp) -> int:
    """A worker's task: its shard's lists and lines into its staging tables, in one
    transaction (all or nothing). Returns the number of lines written."""
    with _engine(url).begin() as conn:
        raw = conn.connection.dbapi_connection
        with raw.cursor() as cursor:  # type: ignore[union-attr]
            _create_stage(cursor, tables.lists, "shopping_lists", LIST_COLUMNS)
            copy_columns(cursor, tables.lists, list_columns(batch, stamp))
            _create_stage(cursor, tables.lines, "shopping_list_lines", LINE_COLUMNS)
            return copy_columns(cursor, tables.lines, line_columns(batch, offers, stamp))


def _stage_names(connection: Any, prefix: str) -> list[str]:
    names = connection.execute(text(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")).scalars().all()
    return sorted(n for n in names if n.startswith(prefix))


def _drop(connection: Any, names: list[str]) -> None:
    if names:
        connection.execute(text("DROP TABLE IF EXISTS " + ", ".join(f'"{n}"' for n in names)))


def _drop_build_stages(url: str, stamp: BuildStamp) -> None:
    """After a failed build: drop its staging tables (best effort; the next build of the
    period and cohort drops whatever is left)."""
    try:
        with _engine(url).begin() as conn:
            _drop(conn, _stage_names(conn, f"{stage_prefix(stamp)}{stamp.build_id}_"))
    except Exception:  # noqa: BLE001 - the build's own error is the one to report
        pass


def _move_into_tables(session: Session, names: list[StageTables]) -> tuple[int, int]:
    """Every shard's staged rows into the real tables, in the session's transaction, then the
    staging tables dropped (also in it). Returns (lists, lines) inserted."""
    counts = []
    for table, columns, stages, order in (
        ("shopping_lists", LIST_COLUMNS, [t.lists for t in names], "id"),
        ("shopping_list_lines", LINE_COLUMNS, [t.lines for t in names], "list_id, line_no"),
    ):
        cols = ", ".join(f'"{c}"' for c in columns)
        union = " UNION ALL ".join(f'SELECT {cols} FROM "{s}"' for s in stages)
        result = session.execute(text(f'INSERT INTO "{table}" ({cols}) SELECT {cols} FROM ({union}) AS s ORDER BY {order}'))
        counts.append(int(result.rowcount or 0))
    _drop(session.connection(), [n for t in names for n in (t.lists, t.lines)])
    return counts[0], counts[1]


class ShardListWriter:
    """A list writer for ``build_lists``: on PostgreSQL, one ``write_shard`` task per member
    shard on ``runner`` (a ``distributed.Client`` or ``InProcess``), then the move into the real
    tables in the build's transaction; on SQLite (one writer) the client writes, as always.
    ``task`` replaces :func:`write_shard` (same arguments), e.g. to disturb a write in a test."""

    def __init__(self, runner: Any, n_shards: int, task: Callable[..., int] | None = None) -> None:
        self.runner = runner
        self.n_shards = max(1, n_shards)
        self.task = task or write_shard

    def __call__(self, session: Session, job: ListWrite) -> dict[str, float]:
        if session.connection().dialect.name != "postgresql":
            return write_here(session, job)
        started = time.perf_counter()
        url = session.get_bind().url.render_as_string(hide_password=False)
        stamp = job.stamp
        _drop(session.connection(), _stage_names(session.connection(), stage_prefix(stamp)))  # earlier failures
        shards = [(i, b) for i, b in enumerate(shard_batches(job.batch, self.n_shards)) if b.n_lists]
        names = [stage_tables(stamp, i) for i, _ in shards]
        try:
            with warnings.catch_warnings():
                # A shard's rows travel in its task (so a lost worker's task can run again elsewhere).
                warnings.filterwarnings("ignore", message=".*[Ll]arge (object|graph).*")
                futures = [self.runner.submit(self.task, url, n, b, job.offers, stamp, pure=False, retries=2)
                           for n, (_, b) in zip(names, shards)]
            written = sum(self.runner.gather(futures))
        except BaseException:
            _drop_build_stages(url, stamp)
            raise
        staged = time.perf_counter()
        n_lists, n_lines = _move_into_tables(session, names) if names else (0, 0)
        if (n_lists, n_lines, written) != (job.batch.n_lists, job.batch.n_lines, job.batch.n_lines):
            raise RuntimeError(f"staged {n_lists} lists and {n_lines} lines ({written} reported by the shards), "
                               f"expected {job.batch.n_lists} and {job.batch.n_lines}")
        return {"workers_s": staged - started, "insert_select_s": time.perf_counter() - staged}
