"""Workers write a build's lists and lines straight into PostgreSQL's tables with ``COPY``;
the period turns active only when the client's build transaction commits.

Why not a staging table and one ``INSERT ... SELECT``: the move is one server backend doing
every index entry and foreign-key check of every line, measured as slow as the client's own
writes (docs/scale.md). Here each worker's backend does its shard's share, in parallel.

How it stays atomic, with no new status and no reader changed:

1. The client commits, on its own connection, a **staging build row** for the period and
   cohort, with status ``failed`` (outside the unique index of live builds, so it does not
   conflict with the build in progress, which is uncommitted and has no id the workers could
   reference) and ``params = {"staging_for": build id}``.
2. Each shard's task (a Dask worker, or this process) formats its lists and lines (the
   client's own code, :mod:`loyalty_engine.shopping_lists.store_rows`) and copies them into
   ``shopping_lists`` and ``shopping_list_lines`` under the staging build, the lists with
   status ``replaced``: the status every reader already skips (checkout, the member pages,
   export, render, results, analytics). One transaction per shard: a worker killed mid-COPY
   leaves nothing (PostgreSQL rolls back when its connection drops), and its task runs again
   on another worker; a task that runs again after its shard was committed finds it there and
   does nothing.
3. The client, in the build's transaction, moves the staged lists to the build and activates
   them with one ``UPDATE`` (one row per list, about a twelfth of the lines; the lines are not
   touched) and deletes the staging build row. Commit: the whole period is active at once.

A shard that fails after Dask's retries fails the build, which rolls back: the staged rows are
deleted at once (best effort) and, whatever is left (say the client died too), by the next
build of the same period and cohort. Until then they are invisible: status ``replaced``
under a ``failed`` build. List numbers are the client's: one block of serials reserved for the
build, handed out in the chain-wide member order exactly as in one process.
"""
from __future__ import annotations

import functools
import time
import warnings
from typing import Any, Callable

import numpy as np
from sqlalchemy import Connection, Engine, bindparam, delete, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from ..db import make_engine
from ..models.lists import ListBuild, ShoppingList
from ..shopping_lists.store_rows import (
    BuildStamp, ListBatch, ListWrite, OfferColumns, line_columns, list_columns, write_here,
)
from .shards import shard_of

STAGED_STATUS = "replaced"  # what staged lists carry until the flip: every reader skips it
STAGING_BUILD_STATUS = "failed"  # outside the live-build unique index; true if the build dies


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


def write_shard(url: str, staging_build: int, batch: ListBatch, offers: OfferColumns, stamp: BuildStamp) -> int:
    """A worker's task: its shard's lists (status ``replaced``, under the staging build) and
    lines, in one transaction (all or nothing). Returns the number of lines of the shard."""
    if batch.n_lists == 0:
        return 0
    with _engine(url).begin() as conn:
        first = int(batch.list_id[0])
        if conn.execute(select(ShoppingList.id).where(ShoppingList.id == first)).first() is not None:
            return batch.n_lines  # written by an earlier run of this task (one transaction: all of it)
        lists = list_columns(batch, stamp)
        lists["build_id"] = [staging_build] * batch.n_lists
        lists["status"] = [STAGED_STATUS] * batch.n_lists
        raw = conn.connection.dbapi_connection
        with raw.cursor() as cursor:  # type: ignore[union-attr]
            copy_columns(cursor, "shopping_lists", lists)
            return copy_columns(cursor, "shopping_list_lines", line_columns(batch, offers, stamp))


def _staging_builds(conn: Connection, stamp: BuildStamp) -> list[int]:
    """Staging build rows of this period and cohort (of this build or of earlier failed ones)."""
    rows = conn.execute(select(ListBuild.id, ListBuild.params).where(
        ListBuild.period_start == stamp.period_start, ListBuild.cohort == stamp.cohort,
        ListBuild.status == STAGING_BUILD_STATUS)).all()
    return [int(i) for i, params in rows if isinstance(params, dict) and "staging_for" in params]


def _discard(conn: Connection, builds: list[int]) -> None:
    """Staged lists (their lines and content go with them: ON DELETE CASCADE) and build rows."""
    if builds:
        lists = ShoppingList.__table__
        conn.execute(delete(lists).where(lists.c.build_id.in_(builds), lists.c.status == STAGED_STATUS))
        conn.execute(delete(ListBuild.__table__).where(ListBuild.__table__.c.id.in_(builds)))


def _open_staging_build(engine: Engine, stamp: BuildStamp) -> int:
    """Commit the staging build row the workers' lists reference, after discarding what
    failed builds of the period and cohort left. Safe: once this build's (uncommitted) row is
    in the live-build unique index, no other builder of the period and cohort gets this far."""
    with engine.begin() as conn:
        _discard(conn, _staging_builds(conn, stamp))
        return int(conn.execute(insert(ListBuild).values(
            period_start=stamp.period_start, period_end=stamp.period_end, cohort=stamp.cohort,
            as_of=stamp.period_start, status=STAGING_BUILD_STATUS, holdout_seed=0,
            params={"staging_for": stamp.build_id}, counts={}, started_at=stamp.created_at,
        ).returning(ListBuild.id)).scalar_one())


def _discard_quietly(engine: Engine, staging_build: int) -> None:
    try:
        with engine.begin() as conn:
            _discard(conn, [staging_build])
    except Exception:  # noqa: BLE001 - the build's own error is the one to report
        pass


class ShardListWriter:
    """A list writer for ``build_lists``: on PostgreSQL, one ``write_shard`` task per member
    shard on ``runner`` (a ``distributed.Client`` or ``LocalRunner``), then the flip in the
    build's transaction; on SQLite (one writer) the client writes, as always. ``task``
    replaces :func:`write_shard` (same arguments), e.g. to disturb a write in a test."""

    def __init__(self, runner: Any, n_shards: int, task: Callable[..., int] | None = None) -> None:
        self.runner = runner
        self.n_shards = max(1, n_shards)
        self.task = task or write_shard

    def __call__(self, session: Session, job: ListWrite) -> dict[str, float]:
        if session.connection().dialect.name != "postgresql":
            return write_here(session, job)
        started = time.perf_counter()
        engine = session.get_bind()
        url = engine.url.render_as_string(hide_password=False)  # type: ignore[union-attr]
        staging = _open_staging_build(engine, job.stamp)  # type: ignore[arg-type]
        try:
            written = self._write_shards(url, staging, job)
        except BaseException:
            _discard_quietly(engine, staging)  # type: ignore[arg-type]
            raise
        written_at = time.perf_counter()
        lists, builds = ShoppingList.__table__, ListBuild.__table__
        moved = session.execute(
            update(lists).where(lists.c.build_id == bindparam("staging"))
            .values(build_id=job.stamp.build_id, status="active"), {"staging": staging},
        ).rowcount
        session.execute(delete(builds).where(builds.c.id == staging))
        if (moved, written) != (job.batch.n_lists, job.batch.n_lines):
            raise RuntimeError(f"the shards wrote {moved} lists and {written} lines, "
                               f"expected {job.batch.n_lists} and {job.batch.n_lines}")
        return {"workers_s": written_at - started, "activate_s": time.perf_counter() - written_at}

    def _write_shards(self, url: str, staging: int, job: ListWrite) -> int:
        batches = [b for b in shard_batches(job.batch, self.n_shards) if b.n_lists]
        with warnings.catch_warnings():
            # A shard's rows travel in its task, so a lost worker's task can run again elsewhere.
            warnings.filterwarnings("ignore", message=".*[Ll]arge (object|graph).*")
            futures = [self.runner.submit(self.task, url, staging, b, job.offers, job.stamp, pure=False, retries=2)
                       for b in batches]
        return int(sum(self.runner.gather(futures)))

