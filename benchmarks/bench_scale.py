"""The nightly list build on member shards: one process against a 2-worker Dask LocalCluster.

For each ``--members`` size, in one run on this machine:

1. the one-process build (``build_lists`` with the in-process selection) of cohort A;
2. the same build with the selection on member shards on a LocalCluster of ``--workers``
   worker processes (shards = 2 per worker); on PostgreSQL each shard's worker writes its
   lists and lines with COPY into staging tables and the build's transaction moves them in
   (``distributed.list_writer``); on SQLite this process writes them, as in the first run;

printing wall time, peak RSS of the client and of every worker process (sampled from psutil
every 50 ms), time per member (linearity across sizes), the ratio sharded / one process, and
the store phase's lines per second of each run (the client's writes against the workers' COPY
plus the move into the real tables).
Both runs build the same period (the second replaces the first) and their lines are compared.

The model view is the constructed one of ``bench_lists.py`` (a fitted model of the same size
takes far longer to set up); ``--fit`` measures the model fit instead, one process against
member shards on the same chain (``bench_scale_fit.py``). Members are written straight to the database, about twice the
build size (cohort A is about half of them).

    python benchmarks/bench_scale.py --members 10000 25000 [--offers 300] [--workers 2]
    python benchmarks/bench_scale.py --members 250000 500000 1000000   # a quiet machine
    python benchmarks/bench_scale.py --fit --members 25000 50000 100000 --shard-members 12500
    python benchmarks/bench_scale.py --nightly --members 250000 500000 1000000 [--keep]
    python benchmarks/bench_scale.py --nightly --members 100000 --one-process-max 100000
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_lists import (  # noqa: E402
    constructed_view, load_average, load_catalog, load_members, load_offers,
)

from loyalty_engine import migrate  # noqa: E402
from loyalty_engine.config import Config  # noqa: E402
from loyalty_engine.db import make_engine, session_scope  # noqa: E402
from loyalty_engine.distributed.cluster import SHARD_MEMBERS, ClusterSettings, open_client  # noqa: E402
from loyalty_engine.distributed.list_writer import ShardListWriter  # noqa: E402
from loyalty_engine.distributed.selection import select_sharded  # noqa: E402
from loyalty_engine.shopping_lists.build import build_lists  # noqa: E402
from loyalty_engine.shopping_lists.settings import ListSettings  # noqa: E402

PERIOD = date(2027, 3, 1)  # cohort A's week


class RssSampler:
    """Peak resident memory of this process and of each of its descendants (the workers)."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak: dict[int, tuple[str, int]] = {}
        self.peak_total = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for proc in [me, *me.children(recursive=True)]:
                try:
                    rss = proc.memory_info().rss
                    name = "client" if proc.pid == me.pid else " ".join(proc.cmdline()[-2:])[-40:]
                except psutil.Error:
                    continue
                total += rss
                if rss > self.peak.get(proc.pid, ("", 0))[1]:
                    self.peak[proc.pid] = (name, rss)
            self.peak_total = max(self.peak_total, total)
            self._stop.wait(self.interval)

    def report(self) -> str:
        mb = lambda b: f"{b / 2**20:,.0f} MB"  # noqa: E731
        client = [rss for pid, (_, rss) in self.peak.items() if pid == os.getpid()]
        workers = sorted((rss for pid, (_, rss) in self.peak.items() if pid != os.getpid()), reverse=True)
        text = f"client peak {mb(client[0]) if client else '?'}"
        if workers:
            text += f", largest other process {mb(workers[0])} ({len(workers)} processes)"
        return text + f", all processes together {mb(self.peak_total)}"


def timed_build(engine, view, settings, period, select=None, rebuild=False, write=None):  # type: ignore[no-untyped-def]
    with RssSampler() as rss:
        t0 = time.perf_counter()
        with session_scope(engine) as session:
            result = build_lists(session, period, lambda _d: view, settings, cohort="A", select=select,
                                 rebuild=rebuild, write=write)
        seconds = time.perf_counter() - t0
    return seconds, {**result.counts, "build_id": result.build_id}, rss


def build_lines(engine, build_id: int) -> list[tuple]:  # type: ignore[no-untyped-def,type-arg]
    """(member, offer, face value, probability) of every line of a build, in order."""
    from sqlalchemy import text

    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT l.member_key, n.line_no, n.offer_id, n.face_value_cents, n.probability FROM shopping_list_lines n "
            "JOIN shopping_lists l ON l.id = n.list_id WHERE l.build_id = :b ORDER BY 1, 2"), {"b": build_id}).all()


def store_rates(one: dict, sharded: dict, dialect: str) -> str:  # type: ignore[type-arg]
    """Store-phase lines per second of both runs (the phase also writes content and hold-outs)."""
    one_t, sh_t = one["timings"], sharded["timings"]
    text = (f"store phase: one process (client writes) {one['lines'] / one_t['store_s']:,.0f} lines/s "
            f"({one_t['store_s']:.1f}s); sharded ({'workers COPY' if dialect == 'postgresql' else 'client writes'}) "
            f"{sharded['lines'] / sh_t['store_s']:,.0f} lines/s ({sh_t['store_s']:.1f}s")
    if "store_workers_s" in sh_t:
        text += (f": workers' COPY {sh_t['store_workers_s']:.1f}s, activation {sh_t['store_activate_s']:.1f}s")
    return text + f"); ratio {sh_t['store_s'] / one_t['store_s']:.2f}x time"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, nargs="+", default=[10_000, 25_000],
                        help="eligible members per build (cohort A); several sizes check linearity")
    parser.add_argument("--offers", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--shard-members", type=int, default=SHARD_MEMBERS,
                        help="members per shard (shards = the larger of this split and 2 per worker)")
    parser.add_argument("--database-url", default=None, help="default: a SQLite file in a temporary folder")
    parser.add_argument("--fit", action="store_true",
                        help="time the model fit instead: one process against member shards (bench_scale_fit.py)")
    parser.add_argument("--one-process-max", type=int, default=None,
                        help="with --fit: the one-process fit only up to this many members; with --nightly: "
                             "also the one-process nightly work (and its ratio) up to this many members")
    parser.add_argument("--nightly", action="store_true",
                        help="the whole nightly work (model fit, cohorts A and B) on PostgreSQL "
                             "(bench_scale_nightly.py); --database-url names the server")
    parser.add_argument("--keep", action="store_true", help="with --nightly: keep each size's database for a re-run")
    args = parser.parse_args(argv)
    if args.nightly:
        from bench_scale_nightly import bench_nightly

        server = args.database_url or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        print(f"the nightly work, {args.workers} workers, shards of at most {args.shard_members:,} members; "
              f"{os.cpu_count()} cores, load average {load_average()}")
        bench_nightly(args.members, server, args.workers, args.shard_members, args.offers, args.keep, load_average,
                      args.one_process_max or 0)
        print(f"load average at the end: {load_average()}")
        return
    if args.fit:
        from bench_scale_fit import bench_fit

        print(f"model fit, one process against {args.workers} workers; {os.cpu_count()} cores, "
              f"load average {load_average()}")
        bench_fit(args.members, args.workers, args.shard_members, load_average, args.one_process_max)
        print(f"load average at the end: {load_average()}")
        return

    tmp = Path(tempfile.mkdtemp(prefix="bench_scale_"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    products = load_catalog(engine)
    keys = np.sort(load_members(engine, 2 * max(args.members)))
    n_offers = load_offers(engine, products, args.offers)
    full = constructed_view(keys, products)
    settings = ListSettings.from_config(Config(database_url=url, instance_path=tmp, secret_key="bench"))
    print(f"setup: {keys.shape[0]} members, {n_offers} offers, database {engine.dialect.name}; "
          f"{os.cpu_count()} cores, load average {load_average()}")

    rows = []
    used: list[int] = []
    with open_client(ClusterSettings(workers=args.workers)) as client:
        cluster = ClusterSettings(workers=args.workers, shard_members=args.shard_members)

        def sharded(view, prepared, members, s, seed):  # type: ignore[no-untyped-def]
            shards = cluster.shard_count(args.workers, int(members.member_key.shape[0]))
            used.append(shards)
            return select_sharded(client, view, prepared, members, s, seed, shards)

        def write(session, job):  # type: ignore[no-untyped-def]
            return ShardListWriter(client, used[-1])(session, job)  # the shards of the selection

        for i, n in enumerate(sorted(args.members)):
            view = full.for_members(np.arange(min(2 * n, keys.shape[0])))  # the first 2n members
            # The same period twice (the second replaces the first), so both choose from the same offers.
            period = PERIOD + timedelta(weeks=8 * i)
            one_s, one_c, one_rss = timed_build(engine, view, settings, period)
            one_lines = build_lines(engine, one_c["build_id"])
            sh_s, sh_c, sh_rss = timed_build(engine, view, settings, period, sharded, rebuild=True, write=write)
            same = build_lines(engine, sh_c["build_id"]) == one_lines
            m = one_c["eligible_regular"] + one_c["eligible_winback"] - one_c["held_out"]
            rows.append((m, one_s, sh_s))
            print(f"\n{m:,} eligible members x {one_c['offers']} offers ({one_c['lines']:,} lines, "
                  f"{len(one_c['budget_limited_offers'])} offers budget-limited, {one_c['selection_rounds']} rounds)")
            print(f"  one process : {one_s:7.1f}s  {one_s / m * 1e6:7.1f} us/member  {one_rss.report()}")
            print(f"  {used[-1]} shards/{args.workers} workers: {sh_s:7.1f}s  {sh_s / m * 1e6:7.1f} us/member  "
                  f"{sh_rss.report()}")
            print(f"  ratio sharded / one process: {sh_s / one_s:.2f}x time; "
                  f"identical lines: {same}"
                  f"; phases one {one_c['timings']}, sharded {sh_c['timings']}")
            print("  " + store_rates(one_c, sh_c, engine.dialect.name))
    if len(rows) > 1:
        base1, base2 = rows[0][1] / rows[0][0], rows[0][2] / rows[0][0]
        print("\ntime per member relative to the smallest size: one process "
              + ", ".join(f"{m:,}: {s / m / base1:.2f}x" for m, s, _ in rows)
              + "; sharded " + ", ".join(f"{m:,}: {s / m / base2:.2f}x" for m, _, s in rows))
    print(f"load average at the end: {load_average()}")
    engine.dispose()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
