"""Print-run rendering speed and memory.

Measures, in one run on this machine:

1. one core rendering lists into the merged print-run PDF (parts of ``--part`` lists joined
   with qpdf, as ``lists render`` does): list pages per second, and peak RSS after 1,000 and
   after all ``--lists`` lists (memory must stay flat);
2. the baseline: an empty-page reportlab document with the same page count, same process;
3. the whole print run through the process pool (each list's own PDF + the merged run):
   pages per second with ``--workers`` processes, and per core.

Target (issue 5): at least 100 list pages per second per core into the merged PDF.

    python benchmarks/bench_render.py [--lists 10000] [--pool-lists 2000] [--workers 2]
"""
from __future__ import annotations

import argparse
import io
import os
import resource
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Iterator

from reportlab.pdfgen.canvas import Canvas

from loyalty_engine.render.examples import example_document
from loyalty_engine.render.from_db import PrintItem
from loyalty_engine.render.paper import LETTER
from loyalty_engine.render.pdf import render_lists_pdf
from loyalty_engine.render.print_run import _join_parts, render_print_run
from loyalty_engine.render.settings import RenderSettings

PERIOD = date(2027, 3, 1)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def documents(n: int, first_serial: int = 100_000, lines: int = 15) -> Iterator:
    for i in range(n):
        yield example_document(first_serial + i, lines, content=2)


def merged_single_core(n: int, part: int, out: Path, settings: RenderSettings) -> tuple[int, float, float, dict[int, float]]:
    """Render n lists into parts and join them; returns pages, wall and CPU seconds, peak RSS by lists done."""
    rss: dict[int, float] = {}
    parts: list[str] = []
    pages = 0
    done = 0
    start = time.perf_counter()
    cpu = time.process_time()
    batch = []
    for doc in documents(n):
        batch.append(doc)
        if len(batch) == part:
            data, per_list = render_lists_pdf(batch, LETTER, settings, "bench", PERIOD)
            path = out / f"part-{len(parts):05d}.pdf"
            path.write_bytes(data)
            parts.append(str(path))
            pages += sum(per_list)
            done += len(batch)
            batch = []
            if done in (1_000, n):
                rss[done] = peak_rss_mb()
    if batch:
        data, per_list = render_lists_pdf(batch, LETTER, settings, "bench", PERIOD)
        path = out / f"part-{len(parts):05d}.pdf"
        path.write_bytes(data)
        parts.append(str(path))
        pages += sum(per_list)
    _join_parts(parts, out / "merged.pdf", "bench", PERIOD)
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu
    rss[n] = peak_rss_mb()
    return pages, seconds, cpu_seconds, rss


def empty_pages(pages: int) -> tuple[float, float]:
    buffer = io.BytesIO()
    start = time.perf_counter()
    cpu = time.process_time()
    canvas = Canvas(buffer, pagesize=(LETTER.width, LETTER.height), invariant=1, pageCompression=1)
    for _ in range(pages):
        canvas.showPage()
    canvas.save()
    return time.perf_counter() - start, time.process_time() - cpu


def load_average() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg()) + " (1/5/15 min)"


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lists", type=int, default=10_000, help="lists for the single-core merged run")
    parser.add_argument("--part", type=int, default=100, help="lists per print-run part (batch)")
    parser.add_argument("--pool-lists", type=int, default=2_000, help="lists for the process-pool print run")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    settings = RenderSettings(retailer_gs1_prefix="0712345")
    work = Path(tempfile.mkdtemp(prefix="bench-render-"))
    print(f"machine: {os.cpu_count()} cores, load average {load_average()} (shared: wall rates vary with it)")
    try:
        # warm up fonts and code paths (not measured)
        render_lists_pdf(list(documents(5, first_serial=1)), LETTER, settings, "warm-up", PERIOD)

        pages, seconds, cpu_seconds, rss = merged_single_core(args.lists, args.part, work, settings)
        per_core = pages / cpu_seconds
        base_wall, base_cpu = empty_pages(pages)
        base_rate = pages / base_cpu
        # Per core = pages per CPU second of the rendering process: the machine is shared, so
        # wall-clock rates fall whenever other work runs; both are printed.
        print(f"single core, merged print run: {args.lists} lists, {pages} pages; {cpu_seconds:.1f} CPU s "
              f"= {per_core:.0f} list pages/s per core ({args.lists / cpu_seconds:.0f} lists/s); "
              f"wall {seconds:.1f} s = {pages / seconds:.0f} pages/s; target >= 100 per core")
        print(f"baseline, empty reportlab pages, same run: {pages} pages in {base_cpu:.2f} CPU s = {base_rate:.0f} pages/s; "
              f"a list page costs {base_rate / per_core:.1f}x an empty page")
        size = (work / "merged.pdf").stat().st_size
        print(f"merged PDF: {size / 1e6:.1f} MB ({size / pages / 1e3:.1f} kB/page)")
        print("peak RSS (MB): " + ", ".join(f"after {k:,} lists {v:.0f}" for k, v in sorted(rss.items())))
        if len(rss) >= 2:
            low, high = rss[min(rss)], rss[max(rss)]
            print(f"  growth {high - low:.0f} MB from {min(rss):,} to {max(rss):,} lists "
                  f"({(high - low) / max(1, max(rss) - min(rss)) * 1024:.1f} kB per list)")

        pool_out = work / "pool"
        items = (PrintItem(doc, "S1", True) for doc in documents(args.pool_lists, first_serial=500_000))
        cpu_before = children_cpu() + time.process_time()
        summary = render_print_run(items, pool_out, PERIOD, "letter", settings, workers=args.workers, batch_size=args.part)
        pool_cpu = children_cpu() + time.process_time() - cpu_before
        print(f"process pool, full print run ({args.workers} workers; each list's own PDF + the merged run, so "
              f"every page is rendered twice): {summary.lists} lists, {summary.pages} pages in {summary.seconds:.1f} s "
              f"wall = {summary.pages_per_second:.0f} pages/s; {pool_cpu:.1f} CPU s = "
              f"{2 * summary.pages / pool_cpu:.0f} rendered pages/s per core")
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"  peak RSS of a worker: {children:.0f} MB")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
