"""One import run: check the file, then stream it chunk by chunk into the database.

Everything that can make the whole file unusable (not CSV/Parquet, unreadable header, missing
required columns, a bad ``--map``, an unmigrated database) is checked before the first write,
and raises :class:`ImportFileError`. Each chunk is then loaded in its own transaction, so an
interrupted import keeps the chunks already committed and re-running it completes the rest
(re-imports skip what is loaded).
"""
from __future__ import annotations

import gc
import sys
import threading
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, ContextManager, Iterable, Iterator, Protocol

from sqlalchemy import Connection, Engine, inspect

from ..config import Config
from ..models.scans import Transaction
from . import deferred_indexes
from .columnmap import load_map_file, parse_map_pairs, resolve_columns
from .entities import EntityLoader
from .errors import DamagedInputError, ImportFileError
from .formats import FORMATS, ImportKind
from .readers import Source, SourceChunk, open_source
from .rejects import RejectWriter, default_rejects_path
from .report import ImportReport
from .scans import LinesToWrite, ScanLoader


FIRST_WINDOW_ROWS = 10_000  # PostgreSQL scans: rows of the first chunk's first window (doubling)


class ChunkLoader(Protocol):
    def prepare(self, chunk: SourceChunk) -> Any: ...

    def write(self, prepared: Any, conn: Connection) -> None: ...


def import_file(
    engine: Engine,
    kind: ImportKind | str,
    path: Path | str,
    *,
    config: Config | None = None,
    column_map: Iterable[str] | dict[str, str] = (),
    map_file: Path | str | None = None,
    rejects_path: Path | str | None = None,
    chunk_rows: int | None = None,
    encoding: str = "utf-8",
    delimiter: str | None = None,
    progress: bool | None = False,
) -> ImportReport:
    """Import one file; returns the counts. ``progress=None`` shows a bar only on a terminal."""
    config = config or Config.from_env()
    kind = ImportKind(kind)
    fmt = FORMATS[kind]
    path = Path(path)
    started = time.perf_counter()

    source = open_source(path, encoding=encoding, delimiter=delimiter)
    mapping = load_map_file(Path(map_file), kind) if map_file else {}
    mapping.update(column_map if isinstance(column_map, dict) else parse_map_pairs(column_map))
    columns = resolve_columns(fmt, source.columns, mapping)
    _check_database(engine)
    chunk_rows = int(chunk_rows or config.import_chunk_rows)
    if chunk_rows < 1:
        raise ImportFileError("--chunk-rows must be at least 1")

    report = ImportReport(kind=kind.value, path=str(path), format=source.format)
    target = Path(rejects_path) if rejects_path else default_rejects_path(path, config.instance_path)
    extra = ["line_no"] if kind is ImportKind.SCANS and "line_no" not in columns else []
    rejects = RejectWriter(target, source.columns, extra)
    loader: ChunkLoader
    if kind is ImportKind.SCANS:
        loader = ScanLoader(columns, config.default_timezone, rejects, report, extra_line_no=bool(extra))
    else:
        loader = EntityLoader(fmt, columns, config.default_timezone, rejects, report)
    committed = _Committed()
    try:
        try:
            with _scan_indexes(engine, source, kind), _no_full_collections():
                _stream(engine, source, loader, chunk_rows, progress, committed)
        except DamagedInputError as exc:
            rejects.close()
            raise exc.with_outcome(committed.describe(report, exc, rejects)) from None
        if isinstance(loader, ScanLoader):
            with engine.begin() as conn:
                report.prices_learned = loader.prices.learn(conn)
    finally:
        rejects.close()
    if rejects.count:
        report.rejects_path = str(rejects.path)
    report.seconds = time.perf_counter() - started
    return report


_FULL_COLLECTIONS_OFF = 1_000_000  # gen-1 passes before a full one: never, within an import
_collector_lock = threading.Lock()
_collector_holders = 0
_collector_threshold: tuple[int, int, int] | None = None


@contextmanager
def _no_full_collections() -> Iterator[None]:
    """No full pass of the garbage collector while imports run (the young generations are still
    collected). The chunks' key lists trigger full passes, and each one walked every object
    of the process (modules, the app's caches: hundreds of thousands) with every thread of the
    import stopped: about 0.2 s on the 1M-line benchmark. Counted across threads, so that the
    last import to end restores the thresholds."""
    global _collector_holders, _collector_threshold
    with _collector_lock:
        if _collector_holders == 0:
            _collector_threshold = gc.get_threshold()
            gc.set_threshold(_collector_threshold[0], _collector_threshold[1], _FULL_COLLECTIONS_OFF)
        _collector_holders += 1
    try:
        yield
    finally:
        with _collector_lock:
            _collector_holders -= 1
            if _collector_holders == 0 and _collector_threshold is not None:
                gc.set_threshold(*_collector_threshold)


def _scan_indexes(engine: Engine, source: Source, kind: ImportKind) -> ContextManager[bool]:
    """Scans: the basket indexes only readers use are built once at the end of a big import
    (:mod:`.deferred_indexes`); any an interrupted import left unbuilt are built first."""
    if kind is not ImportKind.SCANS:
        return nullcontext(False)
    deferred_indexes.restore_missing(engine)
    return deferred_indexes.deferred(engine, deferred_indexes.estimated_lines(source.progress_total,
                                                                              source.progress_unit))


def _check_database(engine: Engine) -> None:
    try:
        tables = set(inspect(engine).get_table_names())
    except Exception as exc:  # noqa: BLE001 - any connection failure is one clear message
        raise ImportFileError(f"cannot open the database ({exc.__class__.__name__}: {exc})") from None
    missing = {"stores", "manufacturers", "products", "members", "transactions", "scan_lines"} - tables
    if missing:
        raise ImportFileError("the database has no schema yet: run `loyalty-engine db upgrade` first")


class _Committed:
    """The last input line (or Parquet row) of the chunks committed so far."""

    def __init__(self) -> None:
        self.last_line = 0

    def add(self, prepared: Any) -> None:
        chunk: SourceChunk = getattr(prepared, "chunk", prepared)
        lines = [int(chunk.lines.max())] if len(chunk.lines) else []
        lines += [b.line for b in chunk.broken]
        self.last_line = max([self.last_line, *lines])

    def describe(self, report: ImportReport, error: DamagedInputError, rejects: RejectWriter) -> str:
        """What the import loaded before ``error``, in words: the runner's answer, not the reader's."""
        if report.read == 0:
            return "Nothing was loaded; import the file again once it is fixed."
        unit = error.unit
        first = 2 if unit == "line" else 1
        counts = [f"{report.inserted:,} inserted"]
        counts += [f"{report.updated:,} updated"] if report.updated else []
        counts += [f"{report.duplicates:,} already there"] if report.duplicates else []
        counts += [f"{report.rejected:,} rejected to {rejects.path}"] if report.rejected else []
        return (f"{unit.capitalize()}s {first:,}-{self.last_line:,} were imported ({report.read:,} rows: "
                f"{', '.join(counts)}); nothing from {unit} {self.last_line + 1:,} on was loaded. "
                "Importing the fixed file again is safe: what is loaded is skipped.")


def _stream(engine: Engine, source: Source, loader: ChunkLoader, chunk_rows: int, progress: bool | None,
            committed: _Committed) -> None:
    """One connection for the run, one transaction per chunk.

    A prefetch thread reads and prepares chunk N+1 (pyarrow and numpy, which release the GIL)
    while this thread writes chunk N, so the two cores of a small server both work.
    """
    bar = _progress_bar(source, progress)
    with bar if bar is not None else nullcontext(), engine.connect() as conn, \
            ThreadPoolExecutor(1, thread_name_prefix="import-prefetch") as prefetch:
        chunks = iter(source.chunks(chunk_rows, bar.update if bar is not None else None))

        def prepare_next() -> Any:
            chunk = next(chunks, None)
            return None if chunk is None else loader.prepare(chunk)

        if conn.dialect.name == "postgresql" and isinstance(loader, ScanLoader):
            _stream_overlapped(engine, conn, loader, prefetch, prepare_next, committed)
            return
        with _sqlite_foreign_keys_off(conn), _sqlite_bulk_settings(conn):
            pending = prefetch.submit(prepare_next)
            while (prepared := pending.result()) is not None:
                pending = prefetch.submit(prepare_next)
                with conn.begin():
                    loader.write(prepared, conn)
                committed.add(prepared)


def _stream_overlapped(engine: Engine, conn: Connection, loader: ScanLoader, prefetch: ThreadPoolExecutor,
                       prepare_next: Callable[[], Any], committed: _Committed) -> None:
    """PostgreSQL scans: chunk N's lines are COPYed on a second connection while this one
    writes chunk N+1's placeholders and baskets, so the server works on two cores.

    Each chunk commits its placeholders and baskets first, then (on the other connection) its
    lines; at most one chunk's lines are in flight. If the run stops between the two, the
    baskets are there without (some of) their lines, and re-running the import adds them: lines
    of baskets recorded before are matched to the record and skipped when present.
    """
    with engine.connect() as lines_conn, ThreadPoolExecutor(1, thread_name_prefix="import-lines") as writer:

        def write_lines(lines: LinesToWrite) -> None:
            with lines_conn.begin():
                loader.write_lines(lines, lines_conn)

        in_flight: tuple[Future[None], Any] | None = None

        def settle() -> None:
            nonlocal in_flight
            if in_flight is not None:
                future, done = in_flight
                in_flight = None
                future.result()
                committed.add(done)

        try:
            prepared = prefetch.submit(prepare_next).result()
            first = True
            while prepared is not None:
                # The first chunk's lines wait for its baskets: written in growing windows, the
                # first lines are COPYed after a few thousand baskets, not a whole chunk's. The
                # next chunk is read only once the first window is in, so that the reader's
                # thread does not compete with it for the interpreter.
                parts = prepared.windows(FIRST_WINDOW_ROWS) if first else [prepared]
                pending = None if first else prefetch.submit(prepare_next)
                for part in parts:
                    with conn.begin():
                        lines = loader.write_baskets(part, conn)
                    pending = pending or prefetch.submit(prepare_next)
                    settle()
                    if lines is None:
                        committed.add(part)
                    else:
                        in_flight = (writer.submit(write_lines, lines), part)
                first = False
                prepared = pending.result()
            # Every basket is in: their deferred indexes are built while the last lines are COPYed.
            deferred_indexes.restore_missing(engine, (Transaction,))
        finally:
            settle()


@contextmanager
def _sqlite_foreign_keys_off(conn: Connection) -> Iterator[None]:
    """SQLite checks foreign keys row by row, which halves bulk insert speed. The loaders insert
    every referenced store, product, member and basket in the same transaction before the rows
    that point at them (tests run ``PRAGMA foreign_key_check`` after imports), so the check is
    switched off for the importer's own connection and always switched back on."""
    if conn.dialect.name != "sqlite":
        yield
        return
    raw = conn.connection.dbapi_connection
    if raw.in_transaction:  # pragma: no cover - a fresh pooled connection is idle
        yield
        return
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        if raw.in_transaction:
            raw.rollback()
        raw.execute("PRAGMA foreign_keys=ON")


SQLITE_IMPORT_CACHE_KIB = 64 * 1024
SQLITE_IMPORT_CHECKPOINT_PAGES = 64 * 1024  # 256 MB of WAL between checkpoints (4 KB pages)


@contextmanager
def _sqlite_bulk_settings(conn: Connection, kib: int = SQLITE_IMPORT_CACHE_KIB) -> Iterator[None]:
    """A large page cache and rarer WAL checkpoints on the importer's connection, then the old
    settings back.

    Checkpoints: SQLite's default copies the WAL into the database (and syncs both) once the
    WAL passes 1,000 pages, i.e. after every chunk, rewriting the index pages each chunk
    touches again and again; every 256 MB of WAL instead (bounded whatever the file size), and
    one passive checkpoint at the end. On the 1M-line benchmark: 0.58x the bare load against
    0.36-0.52x in the same alternation.

    With SQLite's default 2 MB, the index pages the import keeps touching (baskets by member
    and date, scan lines by key, looked up again on re-import) fall out of the cache as the
    database grows and every chunk re-reads them: the import slowed down with the file size.
    64 MB holds what a chunk touches (10M lines: 133k lines/s, against 136k with 256 MB);
    it is memory only as used, bounded by ``kib``, the same for 1 and for 100 million lines.
    """
    if conn.dialect.name != "sqlite":
        yield
        return
    raw = conn.connection.dbapi_connection
    old = raw.execute("PRAGMA cache_size").fetchone()[0]
    old_checkpoint = raw.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
    old_temp_store = raw.execute("PRAGMA temp_store").fetchone()[0]
    raw.execute(f"PRAGMA cache_size=-{int(kib)}")
    raw.execute(f"PRAGMA wal_autocheckpoint={SQLITE_IMPORT_CHECKPOINT_PAGES}")
    # A multi-row INSERT inside a transaction keeps a statement journal (to undo that statement
    # alone), which SQLite spills to a temporary file past 64 KB: ~570,000 pwrite calls per
    # million lines. In memory it is written nowhere.
    raw.execute("PRAGMA temp_store=MEMORY")
    try:
        yield
    finally:
        raw.execute(f"PRAGMA cache_size={int(old)}")
        raw.execute(f"PRAGMA wal_autocheckpoint={int(old_checkpoint)}")
        raw.execute(f"PRAGMA temp_store={int(old_temp_store)}")
        if not raw.in_transaction:
            # What the run left in the WAL goes to the database file now (never waits for readers).
            raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


def _progress_bar(source: Source, progress: bool | None):  # type: ignore[no-untyped-def]
    if progress is False:
        return None
    from tqdm import tqdm

    unit_scale = source.progress_unit == "B"
    return tqdm(total=source.progress_total, unit=source.progress_unit, unit_scale=unit_scale,
                desc=f"import {source.path.name}", file=sys.stderr, disable=None if progress is None else False,
                leave=False, mininterval=0.5)
