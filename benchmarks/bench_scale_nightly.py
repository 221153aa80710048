"""The whole nightly work at chain scale: the model fit and both list cohorts, end to end.

For each ``--members`` size, on PostgreSQL (a database of its own per size):

1. **data**: a synthetic chain (``ChainSpec``, 26 weeks) written straight into the database
   (catalog, members, member scan lines; the secondary indexes built once at the end, as a big
   import does), and ``--offers`` offers valid over the lists' period;
2. **the nightly work**, in a fresh process (so its memory is its own), as the product runs
   it: ``refresh_model_state`` (the model fit on member shards of a LocalCluster of
   ``--workers`` processes, each worker saving its shard's part of the state), then the lists
   of cohort A and of cohort B for the period starting the day after the data ends
   (``build_lists`` with the sharded selection, shards cut along the saved parts, and the
   workers' ``COPY`` of the lists).

Printed per size: seconds of each phase and in all, microseconds per member (linearity
across sizes), the peak resident memory of the nightly process (the client), of its largest
worker, of all of them together, and of PostgreSQL's processes (proportional set size, so
shared buffers count once), sampled every half second.

    python benchmarks/bench_scale.py --nightly --members 250000 500000 1000000 [--keep]

``--keep`` keeps each size's database (``bench_nightly_<members>``) for a re-run, which then
skips the data step.
"""
from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import psutil
from sqlalchemy import text

from bench_scale_fit import TreeSampler, run_sampled

from loyalty_engine import migrate
from loyalty_engine.db import make_engine

WEEKS = 26


def database_url(server: str, members: int) -> str:
    return f"{server.rsplit('/', 1)[0]}/bench_nightly_{members}"


def ensure_database(server: str, name: str, fresh: bool) -> None:
    engine = make_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
        if exists and fresh:
            conn.execute(text(f'DROP DATABASE "{name}"'))
        if fresh or not exists:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()


def drop_database(server: str, name: str) -> None:
    engine = make_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    engine.dispose()


def loaded_members(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT COUNT(*) FROM members")).scalar_one())
    except Exception:  # noqa: BLE001 - a database not migrated yet holds no chain
        return 0
    finally:
        engine.dispose()


def load_data(url: str, members: int, n_offers: int) -> tuple[int, date, float]:
    """The chain and its offers; returns (scan lines, the day after the data, seconds)."""
    from bench_lists import offer_definitions
    from bench_scale_fit import WEEKS as FIT_WEEKS, load_chain

    from loyalty_engine.imports.deferred_indexes import deferred

    assert FIT_WEEKS == WEEKS
    started = time.perf_counter()
    engine = make_engine(url)
    migrate.upgrade(engine)
    with deferred(engine, 10**12):  # indexes only readers use, built once after the load
        lines, as_of = load_chain(url, members)
    load_offers(engine, as_of, n_offers, offer_definitions)
    engine.dispose()
    return lines, as_of, time.perf_counter() - started


def load_offers(engine, as_of: date, n_offers: int, definitions_of) -> None:  # type: ignore[no-untyped-def]
    """``bench_lists``' offer mix, valid from the data's end for eight weeks."""
    import numpy as np
    import pandas as pd

    from loyalty_engine.db import session_scope
    from loyalty_engine.offers.definition import parse_definitions
    from loyalty_engine.offers.service import save_offer

    with engine.connect() as conn:
        products = pd.DataFrame(conn.execute(text(
            "SELECT id AS product_key, sku, category, brand, brand_type, COALESCE(manufacturer_id, '') AS manufacturer_id, "
            "regular_price_cents / 100.0 AS regular_price FROM products")).mappings().all())
    offers = definitions_of(products, n_offers, np.random.default_rng(3))
    for offer in offers:
        offer["validity"] = {"from": as_of.isoformat(), "to": (as_of + timedelta(weeks=8)).isoformat()}
    with session_scope(engine) as session:
        for definition in parse_definitions({"offers": offers}, "bench offers").offers:
            save_offer(session, definition, as_of)


class PssSampler(TreeSampler):
    """:class:`TreeSampler`'s peaks, plus the peak of the tree's proportional set size in all
    and of PostgreSQL's processes (shared memory counted once)."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        self.peak_ours = 0
        self.peak_postgres = 0
        super().__init__(pid, interval)

    def _sample(self, procs: list[psutil.Process]) -> None:
        total = 0
        for proc in procs:
            try:
                info = proc.memory_full_info()
            except psutil.Error:
                continue
            self.peak[proc.pid] = max(self.peak.get(proc.pid, 0), info.rss)
            total += info.pss
        self.peak_ours = max(self.peak_ours, total)
        self.peak_postgres = max(self.peak_postgres, _postgres_pss())

    def peaks(self) -> dict[str, float]:
        client_mb, worker_mb = self.stop()
        return {"client_mb": client_mb, "worker_mb": worker_mb,
                "ours_mb": self.peak_ours / 2**20, "postgres_mb": self.peak_postgres / 2**20}


def _postgres_pss() -> int:
    total = 0
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] and proc.info["name"].startswith("postgres"):
            try:
                total += proc.memory_full_info().pss
            except psutil.Error:
                continue
    return total


def nightly(url: str, as_of: date, workers: int, shard_members: int) -> dict[str, float]:
    """The nightly work in a fresh process, its figures and peaks."""
    engine = make_engine(url)
    clear_period(engine, as_of)  # before the timed run
    engine.dispose()
    instance = Path(tempfile.mkdtemp(prefix="bench_nightly_"))
    cmd = [sys.executable, __file__, "run", url, as_of.isoformat(), str(instance), str(workers), str(shard_members)]
    try:
        seconds, sampler, stdout = run_sampled(cmd, PssSampler)
    finally:
        shutil.rmtree(instance, ignore_errors=True)
    peaks = sampler.peaks()
    return {"seconds": seconds, **peaks, **json.loads(stdout.splitlines()[-1])}


def run_nightly(url: str, as_of: str, instance: str, workers: int, shard_members: int) -> None:
    """The child: the model refresh and both cohorts' lists, as the jobs run them."""
    from loyalty_engine.config import Config
    from loyalty_engine.db import session_scope
    from loyalty_engine.distributed.build import ShardedBuild
    from loyalty_engine.distributed.cluster import ClusterSettings
    from loyalty_engine.shopping_lists.build import build_lists
    from loyalty_engine.shopping_lists.model_source import model_provider, refresh_model_state
    from loyalty_engine.shopping_lists.settings import ListSettings

    day = date.fromisoformat(as_of)
    config = Config(database_url=url, instance_path=Path(instance), secret_key="bench", workers=workers,
                    shard_members=shard_members)
    engine = make_engine(url)
    out: dict[str, object] = {}
    started = time.perf_counter()
    refreshed = refresh_model_state(engine, config, day)
    out.update(fit_s=time.perf_counter() - started, parts=refreshed["parts"], lines=refreshed["lines"],
               sku_pairs=refreshed["sku_pairs"])
    settings = ListSettings.from_config(config)
    for cohort in ("A", "B"):
        t0 = time.perf_counter()
        with ShardedBuild(ClusterSettings.from_config(config)) as sharded, session_scope(engine) as session:
            result = build_lists(session, day, model_provider(engine, config), settings, cohort=cohort,
                                 rebuild=True, select=sharded.select, write=sharded.write)
        c = result.counts
        out[f"build_{cohort}_s"] = time.perf_counter() - t0
        out[f"lists_{cohort}"] = c["lists"]
        out[f"lines_{cohort}"] = c["lines"]
        out[f"eligible_{cohort}"] = c["eligible_regular"] + c["eligible_winback"]
        out[f"timings_{cohort}"] = c["timings"]
        out[f"hash_{cohort}"] = lines_hash(engine, result.build_id)
    engine.dispose()
    print(json.dumps(out))


def clear_period(engine, day: date) -> None:  # type: ignore[no-untyped-def]
    """Remove every build of the period, so each run starts from the same database (a cohort's
    selection counts the other cohort's live lists against the offers' budgets)."""
    builds = "SELECT id FROM list_builds WHERE period_start = :d"
    lists = f"SELECT id FROM shopping_lists WHERE build_id IN ({builds})"
    with engine.begin() as conn:
        for sql in (f"DELETE FROM shopping_list_lines WHERE list_id IN ({lists})",
                    f"DELETE FROM shopping_list_content WHERE list_id IN ({lists})",
                    f"DELETE FROM list_holdouts WHERE build_id IN ({builds})",
                    f"DELETE FROM shopping_lists WHERE build_id IN ({builds})",
                    "DELETE FROM list_builds WHERE period_start = :d"):
            conn.execute(text(sql), {"d": day})


def lines_hash(engine, build_id: int) -> str:  # type: ignore[no-untyped-def]
    """md5 of (member, line, offer, face value, probability) of every line of a build, in order."""
    with engine.connect() as conn:
        return str(conn.execute(text(
            "SELECT md5(string_agg(concat_ws(',', l.member_key, n.line_no, n.offer_id, n.face_value_cents, "
            "n.probability), ';' ORDER BY l.member_key, n.line_no)) FROM shopping_list_lines n "
            "JOIN shopping_lists l ON l.id = n.list_id WHERE l.build_id = :b"), {"b": build_id}).scalar_one())


def bench_nightly(sizes: list[int], server: str, workers: int, shard_members: int, n_offers: int, keep: bool,
                  load_average, one_process_max: int = 0) -> None:  # type: ignore[no-untyped-def]
    rows = []
    for n in sorted(sizes):
        url = database_url(server, n)
        name = url.rsplit("/", 1)[1]
        reuse = keep and loaded_members(url) == n if _exists(server, name) else False
        if reuse:
            print(f"\n{n:,} members: reusing database {name}")
            engine = make_engine(url)
            with engine.connect() as conn:
                as_of = conn.execute(text("SELECT MAX(business_date) FROM scan_lines")).scalar_one() + timedelta(days=1)
            engine.dispose()
        else:
            ensure_database(server, name, fresh=True)
            lines, as_of, seconds = load_data(url, n, n_offers)
            print(f"\n{n:,} members, {WEEKS} weeks: {lines:,} member scan lines and {n_offers} offers written in "
                  f"{seconds:.0f} s ({lines / seconds:,.0f} lines/s, indexes included); load average {load_average()}")
        r = nightly(url, as_of, workers, shard_members)
        rows.append((n, r))
        total = r["seconds"]
        print(f"  nightly work: {total:7.1f} s ({total / 60:.1f} min) = model fit {r['fit_s']:.1f} s "
              f"({r['parts']} parts, {r['lines']:,} lines, {r['sku_pairs']:,} sku pairs) + cohort A "
              f"{r['build_A_s']:.1f} s ({r['eligible_A']:,} eligible, {r['lines_A']:,} lines) + cohort B "
              f"{r['build_B_s']:.1f} s ({r['eligible_B']:,} eligible, {r['lines_B']:,} lines) + start-up")
        print(f"  {total / n * 1e6:,.0f} us/member; peaks: client {r['client_mb']:,.0f} MB, largest worker "
              f"{r['worker_mb']:,.0f} MB, client and workers together {r['ours_mb']:,.0f} MB (PSS), "
              f"PostgreSQL {r['postgres_mb']:,.0f} MB (PSS); load average {load_average()}")
        print(f"  phases A {r['timings_A']}\n  phases B {r['timings_B']}")
        if n <= one_process_max:
            one = nightly(url, as_of, 1, shard_members)
            same = all(one[f"hash_{c}"] == r[f"hash_{c}"] for c in "AB")
            print(f"  one process (today's default below 50,000 members): {one['seconds']:.1f} s = model fit "
                  f"{one['fit_s']:.1f} s + cohort A {one['build_A_s']:.1f} s + cohort B {one['build_B_s']:.1f} s; "
                  f"peak {one['client_mb']:,.0f} MB; ratio sharded / one process: {total / one['seconds']:.2f}x "
                  f"(fit {r['fit_s'] / one['fit_s']:.2f}x, lists {(r['build_A_s'] + r['build_B_s']) / (one['build_A_s'] + one['build_B_s']):.2f}x); "
                  f"identical lines: {same}; load average {load_average()}")
        if not keep:
            drop_database(server, name)
    if len(rows) > 1:
        base = rows[0][1]["seconds"] / rows[0][0]
        print("\ntime per member relative to the smallest size: "
              + ", ".join(f"{n:,}: {r['seconds'] / n / base:.2f}x" for n, r in rows)
              + "; largest worker: " + ", ".join(f"{n:,}: {r['worker_mb']:,.0f} MB" for n, r in rows))


def _exists(server: str, name: str) -> bool:
    engine = make_engine(server)
    with engine.connect() as conn:
        found = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
    engine.dispose()
    return found is not None


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "run":
    run_nightly(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))
