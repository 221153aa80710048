"""Secondary indexes of ``transactions`` and ``scan_lines`` dropped during a big scan import and
built once at the end.

A basket inserted into ``transactions`` updates four b-trees: the table, its primary key and
two secondary indexes (``business_date``; ``member_key, business_date``) that only readers use
(the model's history, results, the console); a scan line updates its table, its primary key and
``member_key, business_date`` (the model fit's member shards read their key range through it).
Keeping these up to date row by row costs about as much as the primary keys and the tables
together; building them once from the loaded tables is a sort, several times cheaper. The import
itself never reads them: baskets and lines are found by their primary keys, which stay.

This is only worth it when the import adds about as many baskets as the table holds (an initial
load, a big backfill): rebuilding an index re-reads the whole table. :func:`deferral_wanted`
decides from the file's size and a bounded count of the stored baskets.

Safety: the indexes are rebuilt in a ``finally`` whatever happens to the import; and should the
process die before that (killed, power cut), :func:`restore_missing` (run at the start of every
scan import) rebuilds any that is missing. The definitions come from the models (the same ones
the migrations create, which a test checks), so a rebuilt index is the migrated one.
On PostgreSQL dropping an index waits for the table's lock: at most ``LOCK_TIMEOUT``, after
which the import keeps the indexes (a lane basket being recorded is never held up for long);
a role that does not own the table keeps them too.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Sequence

from sqlalchemy import Connection, Engine, Index, inspect, text
from sqlalchemy.exc import DBAPIError

from ..models.scans import ScanLine, Transaction

# An import estimated below this many scan lines never defers (tests lower it to exercise the path).
DEFER_MIN_LINES = 400_000
CSV_BYTES_PER_LINE = 64  # a canonical scans.csv line is 65-75 bytes: a slight overestimate of lines
LINES_PER_BASKET = 8  # a conservative basket size (synthetic chains ~5, the grocery sample ~9.5)
LOCK_TIMEOUT = "2s"


DEFERRED_TABLES = (Transaction, ScanLine)


def secondary_indexes(models: Sequence[type] = DEFERRED_TABLES) -> list[Index]:
    """The indexes of ``transactions`` and ``scan_lines`` (or of ``models`` among them) other than
    their primary keys, as the models define them."""
    return sorted((index for model in models for index in model.__table__.indexes),  # type: ignore[attr-defined]
                  key=lambda index: str(index.name))


def estimated_lines(progress_total: int, progress_unit: str) -> int:
    """Scan lines in a file from what its reader knows up front: bytes for CSV (compressed bytes
    for ``.gz``, an underestimate that only makes deferral rarer), rows for Parquet."""
    return progress_total // CSV_BYTES_PER_LINE if progress_unit == "B" else progress_total


def deferral_wanted(conn: Connection, lines: int) -> bool:
    """Whether the file adds at least as many baskets as ``transactions`` holds.

    Counts stored baskets only up to the bound that matters (``LIMIT``), so the question costs
    the same on a table of a million or a billion rows."""
    if lines < DEFER_MIN_LINES:
        return False
    new_baskets = lines // LINES_PER_BASKET
    stored = conn.execute(
        text("SELECT COUNT(*) FROM (SELECT 1 FROM transactions LIMIT :bound) AS stored"),
        {"bound": new_baskets},
    ).scalar_one()
    return stored < new_baskets


def restore_missing(engine: Engine, models: Sequence[type] = DEFERRED_TABLES) -> list[str]:
    """Build every deferred secondary index (of ``models``) that is missing (an import stopped
    before it could rebuild them, or is about to end); returns their names."""
    with engine.begin() as conn:
        inspector = inspect(conn)
        present = {index["name"] for model in models
                   for index in inspector.get_indexes(model.__tablename__)}  # type: ignore[attr-defined]
        missing = [index for index in secondary_indexes(models) if index.name not in present]
        for index in missing:
            index.create(conn)
    return [str(index.name) for index in missing]


@contextmanager
def deferred(engine: Engine, lines: int) -> Iterator[bool]:
    """Drop the deferred secondary indexes for the block when :func:`deferral_wanted`,
    and build them again afterwards, in every case; yields whether they were dropped."""
    dropped = _drop_if_wanted(engine, lines)
    try:
        yield dropped
    finally:
        if dropped:
            restore_missing(engine)


def _drop_if_wanted(engine: Engine, lines: int) -> bool:
    conn = engine.connect()
    try:
        with conn.begin():
            if not deferral_wanted(conn, lines):
                return False
            if conn.dialect.name == "postgresql":
                conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
            for index in secondary_indexes():
                index.drop(conn, checkfirst=True)
        return True
    except DBAPIError:
        # PostgreSQL: a reader or writer held the table past the lock timeout, or the importing
        # role does not own the table (only its owner may drop an index): keep the indexes.
        return False
    finally:
        conn.close()
