"""The nightly model fit on member shards against the one-process fit (``bench_scale.py --fit``).

For each ``--members`` size a synthetic chain (``ChainSpec``, 26 weeks) is written straight
into a fresh database (products, members, scan lines; keys = generator positions + 1), then
the model is fitted twice, each in a fresh process so its memory is its own:

1. **one process**: ``fit_chain`` with one worker (``load_history`` once, then ``fit_model``);
2. **sharded**: ``fit_chain`` on a LocalCluster of ``--workers`` processes, shards of at most
   ``--shard-members`` members (so the shard size stays the same as the chain grows), each
   shard task reading its own member key range from the database.

Printed per size: wall time of both and their ratio, the peak RSS of the fitting process
(the client) and of the largest worker process (sampled every 50 ms with psutil), and whether
the two saved states are identical array for array.

    python benchmarks/bench_scale.py --fit --members 25000 50000 100000 [--workers 2] [--shard-members 12500]
        [--one-process-max 25000]
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import psutil
from bench_lists import write_catalog

from loyalty_engine import migrate
from loyalty_engine.db import make_engine, session_scope
from loyalty_engine.model.arrays import rank_in_runs
from loyalty_engine.models.members import Member
from loyalty_engine.models.scans import ScanLine
from loyalty_engine.shopping_lists.bulk import bulk_insert
from loyalty_engine.synthetic import ChainSpec, generate_catalog, iter_scan_batches

WEEKS = 26
START = date(2026, 6, 1)


def load_chain(url: str, members: int, seed: int = 11) -> tuple[int, date]:
    """Write a synthetic chain's catalog, members and member scan lines; returns (lines, as_of)."""
    spec = ChainSpec(members=members, weeks=WEEKS, seed=seed, start_date=START)
    engine = make_engine(url)
    migrate.upgrade(engine)
    catalog = generate_catalog(spec)
    with session_scope(engine) as s:
        write_catalog(s, catalog, numbered=True)
        rows = ((i + 1, f"B{i:07d}", f"9{i:011d}", "Bench", f"Member {i}", "", "1 Main St", "Platteville", "WI",
                 "53818", "S1", START, True, False, "active", False) for i in range(members))
        bulk_insert(s, Member.__table__, ["id", "member_id", "card_number", "first_name", "last_name", "email",
                                          "address_line", "city", "region", "postal_code", "home_store_id",
                                          "enrolled_at", "mail_opt_in", "app_opt_in", "status", "is_placeholder"], rows)
    start_day = (START - date(1970, 1, 1)).days
    iso = np.array([(date(1970, 1, 1) + timedelta(days=start_day + d)).isoformat() for d in range(7 * WEEKS + 7)],
                   dtype=object)
    lines = 0
    columns = ["transaction_id", "line_no", "product_key", "member_key", "business_date", "quantity",
               "amount_cents", "discount_cents"]
    for batch in iter_scan_batches(spec):
        mine = batch.line_member >= 0
        basket = (batch.first_serial + batch.line_basket[mine]).astype(np.int64)
        txn = np.char.add("T", basket.astype(str)).astype(object)
        day = (batch.line_time[mine] // 86_400).astype(np.int64)
        with session_scope(engine) as s:
            lines += bulk_insert(s, ScanLine.__table__, columns, zip(
                txn.tolist(), (rank_in_runs(basket) + 1).tolist(), (batch.line_product[mine] + 1).tolist(),
                (batch.line_member[mine] + 1).tolist(), iso[day].tolist(), batch.line_quantity[mine].tolist(),
                batch.line_amount_cents[mine].tolist(), batch.line_discount_cents[mine].tolist()),
                converted_dates=True)
    engine.dispose()
    return lines, START + timedelta(weeks=WEEKS)


class TreeSampler:
    """Peak RSS of one process and of each of its descendants (sampled every ``interval`` s)."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid, self.interval = pid, interval
        self.peak: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self._stop.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                break
            self._sample(procs)
            self._stop.wait(self.interval)

    def _sample(self, procs: list[psutil.Process]) -> None:
        for proc in procs:
            try:
                rss = proc.memory_info().rss
            except psutil.Error:
                continue
            self.peak[proc.pid] = max(self.peak.get(proc.pid, 0), rss)

    def stop(self) -> tuple[float, float]:
        """(peak of the process, peak of its largest descendant) in MB."""
        self._stop.set()
        self._thread.join()
        others = [rss for pid, rss in self.peak.items() if pid != self.pid]
        return self.peak.get(self.pid, 0) / 2**20, (max(others) / 2**20 if others else 0.0)


def run_sampled(cmd: list[str], make_sampler=TreeSampler):  # type: ignore[no-untyped-def]
    """Run ``cmd`` with its process tree's memory sampled: (wall seconds, sampler, stdout)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    sampler = make_sampler(proc.pid)
    stdout, _ = proc.communicate()
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        sampler.stop()
        raise RuntimeError(f"failed: {' '.join(cmd)}")
    return seconds, sampler, stdout


def timed_fit(url: str, as_of: date, out: Path, workers: int, shards: int) -> dict[str, float]:
    """One fit in a fresh process: wall time and peak RSS (client, largest worker)."""
    cmd = [sys.executable, __file__, "run", url, as_of.isoformat(), str(out), str(workers), str(shards)]
    seconds, sampler, stdout = run_sampled(cmd)
    client_mb, worker_mb = sampler.stop()
    return {"seconds": seconds, "client_mb": client_mb, "worker_mb": worker_mb, **json.loads(stdout.splitlines()[-1])}


def same_state(a: Path, b: Path) -> bool:
    with np.load(a, allow_pickle=False) as x, np.load(b, allow_pickle=False) as y:
        return x.files == y.files and all(
            np.array_equal(x[k], y[k], equal_nan=x[k].dtype.kind == "f") for k in x.files)


def run_fit(url: str, as_of: str, out: str, workers: int, shards: int) -> None:
    """The child process: one fit, its state saved, its figures as the last line of JSON."""
    from loyalty_engine.distributed.cluster import ClusterSettings
    from loyalty_engine.distributed.fit import fit_chain
    from loyalty_engine.model.params import ModelParams

    engine = make_engine(url)
    cluster = ClusterSettings(workers=workers, shards=shards if shards > 1 else None)
    started = time.perf_counter()
    state = fit_chain(engine, date.fromisoformat(as_of), ModelParams(horizon_days=14), cluster)
    fit_seconds = time.perf_counter() - started
    state.save(out)
    print(json.dumps({"fit_seconds": fit_seconds, "members": state.n_members,
                      "sku_pairs": int(state.sku_member.shape[0])}))


def bench_fit(sizes: list[int], workers: int, shard_members: int, load_average,  # type: ignore[no-untyped-def]
              one_process_max: int | None = None) -> None:
    """One process against the sharded fit at each size, in the same run (the one-process fit
    only up to ``one_process_max`` members when given: on a busy machine it is the slow part)."""
    tmp = Path(tempfile.mkdtemp(prefix="bench_scale_fit_"))
    rows = []
    workers_mb: list[tuple[int, float]] = []
    for n in sorted(sizes):
        url = f"sqlite:///{tmp / f'chain-{n}.db'}"
        t0 = time.perf_counter()
        lines, as_of = load_chain(url, n)
        print(f"\n{n:,} members, {WEEKS} weeks: {lines:,} member scan lines written in "
              f"{time.perf_counter() - t0:.0f} s (load average {load_average()})")
        shards = max(1, math.ceil(n / shard_members))
        sharded = timed_fit(url, as_of, tmp / "sharded.npz", workers, shards)
        workers_mb.append((n, sharded["worker_mb"]))
        print(f"  {shards} shards/{workers} workers: {sharded['seconds']:6.1f} s  client peak "
              f"{sharded['client_mb']:7,.0f} MB, largest worker {sharded['worker_mb']:7,.0f} MB; "
              f"{sharded['sku_pairs']:,} sku pairs; load average {load_average()}")
        if one_process_max is not None and n > one_process_max:
            continue
        one = timed_fit(url, as_of, tmp / "one.npz", 1, 1)
        same = same_state(tmp / "one.npz", tmp / "sharded.npz")
        rows.append((n, one, sharded))
        print(f"  one process        : {one['seconds']:6.1f} s  peak {one['client_mb']:7,.0f} MB")
        print(f"  ratio sharded / one process: {sharded['seconds'] / one['seconds']:.2f}x time; "
              f"identical state: {same}; load average {load_average()}")
        for path in tmp.glob("*.db*"):
            path.unlink()
    if len(rows) > 1:
        print("\nper member, relative to the smallest size: one process "
              + ", ".join(f"{n:,}: {o['seconds'] / n / (rows[0][1]['seconds'] / rows[0][0]):.2f}x" for n, o, _ in rows)
              + "; sharded " + ", ".join(f"{n:,}: {s['seconds'] / n / (rows[0][2]['seconds'] / rows[0][0]):.2f}x"
                                         for n, _, s in rows))
    print("\nlargest worker: " + ", ".join(f"{n:,}: {mb:,.0f} MB" for n, mb in workers_mb)
          + "; one process: " + ", ".join(f"{n:,}: {o['client_mb']:,.0f} MB" for n, o, _ in rows))


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "run":
    run_fit(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))
