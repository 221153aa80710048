"""A period's print run: one PDF per list, one merged PDF per store, and a CSV manifest.

Output under ``out``::

    manifest.csv                                   one row per list, in print order
    print-run-<period>-<store>.pdf                 mailed lists of the store, by postal code
    lists/<store>/<list number>.pdf                every list on its own (web view, email)

Lists are rendered in batches by a process pool; a batch renders each list's own PDF and,
for mailed lists, one part of the store's print run. The parts are joined (streamed,
:mod:`.pdf_join`) when the store is done, so memory stays flat however many lists a store has.

Idempotent: a list whose fingerprint (what is printed + renderer version + paper +
settings) matches the previous manifest and whose file is there is not rendered again; a
print run whose lists are all unchanged is kept. Rendering is deterministic anyway (fixed
PDF dates and IDs), so a forced re-render produces the same bytes.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Callable, Iterable, Iterator

from .document import ListDocument
from .from_db import NO_STORE, PrintItem
from .pdf_join import join_pdfs
from .list_layout import ListLayoutError
from .paper import PaperSpec, paper_for
from .pdf import RENDERER_VERSION, blank_pages_after, render_list_pdf, render_lists_pdf
from .settings import RenderSettings

MANIFEST = "manifest.csv"
MANIFEST_COLUMNS = [
    "list_number", "member_id", "member_name", "store_id", "postal_code", "pages", "file", "mailed",
    "print_run", "print_run_first_page", "print_mode", "sheets", "blank_pages_after", "fingerprint", "status",
    "warnings",
]


@dataclass
class RunSummary:
    period_start: date
    out_dir: Path
    lists: int = 0
    pages: int = 0
    rendered: int = 0
    unchanged: int = 0
    failed: int = 0
    print_runs: dict[str, Path] = field(default_factory=dict)  # store -> merged PDF
    print_run_pages: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    manifest: Path | None = None

    @property
    def pages_per_second(self) -> float:
        return self.pages / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class _Job:
    """One batch for a worker: lists in print order, all of one store."""

    store_key: str
    part_index: int
    items: tuple[PrintItem, ...]
    render_own: tuple[bool, ...]  # render this list's own PDF (changed or missing)
    render_part: bool  # render the batch's mailed lists as one print-run part
    out_dir: str
    part_path: str
    paper: str
    settings: RenderSettings
    title: str
    created: date
    last_of_store: bool


@dataclass(frozen=True)
class _JobResult:
    store_key: str
    part_index: int
    pages: tuple[int, ...]  # per list
    errors: tuple[str, ...]  # per list, "" when fine
    part_path: str | None
    part_pages: int
    last_of_store: bool


def list_fingerprint(doc: ListDocument, paper: PaperSpec, settings: RenderSettings) -> str:
    payload = json.dumps([doc.fingerprint(), RENDERER_VERSION, paper.name, asdict(settings)], default=str, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def list_path(out_dir: Path, store_key: str, list_number: str) -> Path:
    return out_dir / "lists" / store_key / f"{list_number}.pdf"


def print_run_path(out_dir: Path, period_start: date, store_key: str) -> Path:
    return out_dir / f"print-run-{period_start.isoformat()}-{store_key}.pdf"


def render_print_run(
    items: Iterable[PrintItem],
    out_dir: Path,
    period_start: date,
    paper: PaperSpec | str = "letter",
    settings: RenderSettings | None = None,
    *,
    workers: int = 1,
    batch_size: int = 100,
    force: bool = False,
    progress: Callable[[int], None] | None = None,
) -> RunSummary:
    """Render ``items`` (in print order: grouped by store, sorted by postal code) into ``out_dir``.

    Streams: at most ``2 * workers`` batches are in flight and manifest rows go straight to
    disk, so memory does not grow with the number of lists.
    """
    paper = paper_for(paper) if isinstance(paper, str) else paper
    settings = settings or RenderSettings()
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    previous = {} if force else _read_manifest(out_dir / MANIFEST)
    summary = RunSummary(period_start, out_dir)
    parts_dir = Path(tempfile.mkdtemp(prefix=".parts-", dir=out_dir))
    manifest_tmp = out_dir / (MANIFEST + ".tmp")
    try:
        with manifest_tmp.open("w", newline="", encoding="utf-8") as fh, _Pool(workers) as pool:
            writer = csv.DictWriter(fh, fieldnames=MANIFEST_COLUMNS)
            writer.writeheader()
            stores: dict[str, _StoreRun] = {}
            jobs = _jobs(items, batch_size, out_dir, parts_dir, period_start, paper, settings, previous, stores)
            for job, rows, result in pool.run(jobs):
                run = stores[job.store_key]
                _collect(job, rows, result, run, summary)
                writer.writerows(rows)
                if progress:
                    progress(len(job.items))
                if result.last_of_store:
                    _finish_store(run, summary)
        summary.manifest = _replace_if_changed(manifest_tmp, out_dir / MANIFEST)
    finally:
        shutil.rmtree(parts_dir, ignore_errors=True)
        manifest_tmp.unlink(missing_ok=True)
    summary.seconds = time.perf_counter() - started
    return summary


@dataclass
class _StoreRun:
    store_key: str
    path: Path
    title: str
    created: date
    parts: list[str] = field(default_factory=list)
    next_page: int = 1
    batches: int = 0
    closed: bool = False  # its last batch was cut


def _jobs(
    items: Iterable[PrintItem],
    batch_size: int,
    out_dir: Path,
    parts_dir: Path,
    period_start: date,
    paper: PaperSpec,
    settings: RenderSettings,
    previous: dict[str, tuple[str, str]],
    stores: dict[str, _StoreRun],
) -> Iterator[tuple[_Job, list[dict[str, str]]]]:
    """Batches in print order, each within one store; the last batch of a store is flagged."""
    batch: list[PrintItem] = []
    for item in items:
        if batch and (item.store_key != batch[0].store_key or len(batch) >= batch_size):
            yield _job(batch, item.store_key != batch[0].store_key, out_dir, parts_dir, paper, settings, previous, stores)
            batch = []
        if item.store_key not in stores:
            stores[item.store_key] = _StoreRun(
                item.store_key, print_run_path(out_dir, period_start, item.store_key),
                f"{settings.chain_name} print run {period_start.isoformat()} store {item.store_key}", period_start,
            )
        elif not batch:
            # a store seen before, but not in the batch just cut: its lists are not contiguous
            previous_store = stores[item.store_key]
            if previous_store.closed:
                raise ValueError(f"lists of store {item.store_key} are not contiguous: sort the input by store")
        batch.append(item)
    if batch:
        yield _job(batch, True, out_dir, parts_dir, paper, settings, previous, stores)


def _job(
    batch: list[PrintItem],
    last_of_store: bool,
    out_dir: Path,
    parts_dir: Path,
    paper: PaperSpec,
    settings: RenderSettings,
    previous: dict[str, tuple[str, str]],
    stores: dict[str, _StoreRun],
) -> tuple[_Job, list[dict[str, str]]]:
    store_key = batch[0].store_key
    run = stores[store_key]
    run.closed = last_of_store
    own: list[bool] = []
    rows: list[dict[str, str]] = []
    for item in batch:
        doc = item.document
        fp = list_fingerprint(doc, paper, settings)
        path = list_path(out_dir, store_key, doc.list_number)
        prev_fp, prev_pages = previous.get(doc.list_number, ("", ""))
        unchanged = prev_fp == fp and path.exists()
        own.append(not unchanged)
        rows.append({
            "list_number": doc.list_number, "member_id": doc.member_id, "member_name": doc.member_name,
            "store_id": "" if store_key == NO_STORE else store_key, "postal_code": doc.address.postal_code,
            "pages": prev_pages if unchanged else "", "file": str(path.relative_to(out_dir)),
            "mailed": "yes" if item.mailed else "no", "print_run": run.path.name if item.mailed else "",
            "print_run_first_page": "", "print_mode": "duplex" if settings.print_duplex else "simplex",
            "sheets": "", "blank_pages_after": "", "fingerprint": fp, "status": "unchanged" if unchanged else "rendered",
            "warnings": "; ".join(item.warnings),
        })
    index = run.batches
    run.batches += 1
    job = _Job(store_key, index, tuple(batch), tuple(own), any(i.mailed for i in batch), str(out_dir),
               str(parts_dir / f"{store_key}-{index:06d}.pdf"), paper.name, settings, run.title, run.created,
               last_of_store)
    return job, rows


def _collect(job: _Job, rows: list[dict[str, str]], result: "_JobResult", run: _StoreRun, summary: RunSummary) -> None:
    for item, row, pages, error in zip(job.items, rows, result.pages, result.errors):
        if error:
            row["status"] = "failed"
            row["warnings"] = "; ".join(filter(None, [row["warnings"], error]))
            row["pages"] = ""
            summary.failed += 1
        elif row["status"] == "rendered":
            summary.rendered += 1
            row["pages"] = str(pages)
        else:
            summary.unchanged += 1
            if pages:
                row["pages"] = str(pages)
        if item.mailed and not error:
            # duplex: a blank back page after an odd page count, so the next list starts on a new sheet
            blanks = blank_pages_after(int(row["pages"] or 0), job.settings.print_duplex)
            row["print_run_first_page"] = str(run.next_page)
            row["blank_pages_after"] = str(blanks)
            run.next_page += int(row["pages"] or 0) + blanks
        if row["pages"]:
            pages_n = int(row["pages"])
            row["sheets"] = str((pages_n + 1) // 2 if job.settings.print_duplex else pages_n)
        summary.lists += 1
        summary.pages += int(row["pages"] or 0)
    if result.part_path:
        run.parts.append(result.part_path)


def _finish_store(run: _StoreRun, summary: RunSummary) -> None:
    if not run.parts:
        return
    _join_parts(run.parts, run.path, run.title, run.created)
    for part in run.parts:
        Path(part).unlink(missing_ok=True)
    summary.print_runs[run.store_key] = run.path
    summary.print_run_pages[run.store_key] = run.next_page - 1


def _render_job(job: _Job) -> _JobResult:
    """Worker: each changed list to its own file, and the mailed lists as one print-run part."""
    paper = paper_for(job.paper)
    out_dir = Path(job.out_dir)
    pages: list[int] = []
    errors: list[str] = []
    for item, own in zip(job.items, job.render_own):
        doc = item.document
        path = list_path(out_dir, job.store_key, doc.list_number)
        if not own:
            pages.append(0)
            errors.append("")
            continue
        try:
            data, n = render_list_pdf(doc, paper, job.settings)
        except ListLayoutError as exc:
            pages.append(0)
            errors.append(str(exc))
            continue
        _write_if_changed(path, data)
        pages.append(n)
        errors.append("")
    part_path = None
    part_pages = 0
    if job.render_part:
        mailed = [item.document for item, error in zip(job.items, errors) if item.mailed and not error]
        if mailed:
            data, per_list = render_lists_pdf(mailed, paper, job.settings, job.title, job.created)
            Path(job.part_path).write_bytes(data)
            part_path = job.part_path
            part_pages = sum(per_list)
            # lists not re-rendered on their own still have their page count from the run
            counts = iter(per_list)
            pages = [p if not (item.mailed and not err) else next(counts) for item, p, err in zip(job.items, pages, errors)]
    return _JobResult(job.store_key, job.part_index, tuple(pages), tuple(errors), part_path, part_pages,
                      job.last_of_store)


def _write_if_changed(path: Path, data: bytes) -> None:
    """Leave an identical file alone (mtime too); replace others atomically."""
    if path.exists() and path.stat().st_size == len(data) and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".pdf.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _join_parts(parts: list[str], target: Path, title: str, created: date) -> None:
    """Concatenate the parts, streaming (:mod:`.pdf_join`: one part open at a time, so memory
    stays flat however long the run); deterministic output (fixed ID and dates)."""
    tmp = target.with_suffix(".pdf.tmp")
    join_pdfs(parts, tmp, title, created, "loyalty_engine (ReportLab)")
    if target.exists() and _same_file(target, tmp):
        tmp.unlink()
        return
    os.replace(tmp, target)


def _same_file(a: Path, b: Path) -> bool:
    """Byte comparison in blocks (a print run can be hundreds of MB)."""
    if a.stat().st_size != b.stat().st_size:
        return False
    with a.open("rb") as fa, b.open("rb") as fb:
        while True:
            block_a, block_b = fa.read(1 << 20), fb.read(1 << 20)
            if block_a != block_b:
                return False
            if not block_a:
                return True


def _read_manifest(path: Path) -> dict[str, tuple[str, str]]:
    """list number -> (fingerprint, pages) from the previous run."""
    if not path.exists():
        return {}
    with path.open(newline="", encoding="utf-8") as fh:
        return {row["list_number"]: (row.get("fingerprint", ""), row.get("pages", "")) for row in csv.DictReader(fh)}


def _replace_if_changed(tmp: Path, target: Path) -> Path:
    if target.exists() and target.read_bytes() == tmp.read_bytes():
        tmp.unlink()
    else:
        os.replace(tmp, target)
    return target


class _Pool:
    """A process pool with a bounded window of batches in flight, or inline for one worker."""

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self.executor: ProcessPoolExecutor | None = None

    def __enter__(self) -> "_Pool":
        if self.workers > 1:
            self.executor = ProcessPoolExecutor(self.workers)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.executor is not None:
            self.executor.shutdown(cancel_futures=True)

    def run(
        self, jobs: Iterator[tuple[_Job, list[dict[str, str]]]]
    ) -> Iterator[tuple[_Job, list[dict[str, str]], _JobResult]]:
        """Results in submission order (print order)."""
        if self.executor is None:
            for job, rows in jobs:
                yield job, rows, _render_job(job)
            return
        window: deque[tuple[_Job, list[dict[str, str]], Future[_JobResult]]] = deque()
        for job, rows in jobs:
            window.append((job, rows, self.executor.submit(_render_job, job)))
            if len(window) >= 2 * self.workers:
                done_job, done_rows, future = window.popleft()
                yield done_job, done_rows, future.result()
        while window:
            done_job, done_rows, future = window.popleft()
            yield done_job, done_rows, future.result()
