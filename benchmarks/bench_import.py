"""Scan import speed and memory on SQLite and PostgreSQL, against a baseline from the same run.

For each size (default 1,000,000 scan lines; ``--big`` adds 10,000,000) it writes a synthetic
chain with ``loyalty_engine.synthetic`` (plain CSV), then, each in a fresh process so that
peak memory is per run:

- ``parse``: the baseline, pyarrow's streaming CSV reader merely parsing scans.csv into string
  columns (what any import must at least do);
- for each database, the bare load of the same scans.csv into a table with scan_lines' primary
  key ``(transaction_id, line_no)``: one ``COPY`` on PostgreSQL, the sqlite3 shell's ``.import``
  on SQLite (see ``child_bare``);
- for each database: a fresh, migrated database, the stores / manufacturers / products /
  members files imported, then ``scans`` imported (timed: lines/s, rate / the bare load's rate
  (target >= 0.70), time / parse time, peak RSS), then ``scans`` imported again (must insert 0);
  with the CPU seconds of both loads, client and local server (PostgreSQL backends read from
  ``/proc``), whose ratio is steadier than the wall clock's on a shared machine.

``--real`` instead runs the real-data check: products, members and scans of the shared grocery
sample (742,567 lines) into a fresh SQLite database and a fresh PostgreSQL schema, with the
reject counts, and a re-import that must insert nothing.

    .venv/bin/python benchmarks/bench_import.py [--lines 1000000] [--big] [--real]
        [--no-postgres] [--only sqlite|postgresql] [--pg-url URL] [--chunk-rows N] [--keep-chains DIR]
        [--repeat N]

``--repeat 3`` runs three rounds of (bare load, import) per database, alternating the databases,
and prints each round's ratio and their median: the machine is shared and its load changes
from one minute to the next, so one round's ratio is not enough.

``--keep-chains /tmp/bench-chains`` writes each synthetic chain once and reuses it in later runs
(the 10M-line chain takes minutes to write).

PostgreSQL runs go to a schema of their own (dropped afterwards) in LOYALTY_BENCH_PG_URL
(default postgresql+psycopg://postgres@127.0.0.1:5432/test); they are skipped with a message
when no server answers.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# LOYALTY_GROCERY_SAMPLE points at another copy (as for the tests), e.g. from a git worktree.
SAMPLE = Path(os.environ.get("LOYALTY_GROCERY_SAMPLE") or ROOT.parent / "shared" / "data" / "grocery-sample")
SAMPLE_LINES = 742_567
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
LINES_PER_MEMBER_YEAR = 290  # about what the synthetic chain produces (52 weeks)
ENTITY_FILES = ("stores", "manufacturers", "products", "members")


def _peak_mb() -> float:
    """Peak RSS of this process. VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the
    parent across fork/exec, which would charge the chain writer's memory to every child."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux


def _cpu_seconds(who: int = resource.RUSAGE_SELF) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _process_cpu(pid: int) -> float:
    """CPU seconds of another process on this machine (a PostgreSQL backend), 0 if unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


class BackendCpu:
    """CPU of the PostgreSQL backends serving an engine's connections (the server is local):
    the server's share of the work, which the importer's own CPU figure leaves out."""

    def __init__(self, engine: Any) -> None:
        from sqlalchemy import event

        self.pids: set[int] = set()
        self.start: dict[int, float] = {}
        if engine.dialect.name == "postgresql":
            event.listen(engine, "connect", self._on_connect)

    def _on_connect(self, dbapi_connection: Any, _record: Any) -> None:
        self.pids.add(dbapi_connection.info.backend_pid)

    def mark(self) -> None:
        self.start = {pid: _process_cpu(pid) for pid in self.pids}

    def since_mark(self) -> float:
        return sum(_process_cpu(pid) - self.start.get(pid, 0.0) for pid in self.pids)


# ---------------------------------------------------------------------------- child tasks

def child_parse(path: str) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    started = time.perf_counter()
    with open(path, "rb") as fh:
        names = fh.readline().decode().strip().split(",")
    reader = pcsv.open_csv(path, convert_options=pcsv.ConvertOptions(column_types={n: pa.string() for n in names}))
    rows = sum(batch.num_rows for batch in reader)
    return {"rows": rows, "seconds": time.perf_counter() - started, "peak_mb": _peak_mb()}


def child_import(url: str, files: dict[str, str], chunk_rows: int | None) -> dict[str, Any]:
    from loyalty_engine import migrate
    from loyalty_engine.config import Config
    from loyalty_engine.db import make_engine
    from loyalty_engine.imports import import_file
    from loyalty_engine.imports.integrity import orphan_scan_lines

    engine = make_engine(url)
    backends = BackendCpu(engine)
    migrate.upgrade(engine)
    instance = Path(tempfile.mkdtemp(prefix="bench-import-instance-"))
    config = Config(database_url=url, instance_path=instance, secret_key="bench").resolved()
    reports: dict[str, Any] = {}
    try:
        for kind, path in files.items():
            cpu = _cpu_seconds()
            backends.mark()
            report = import_file(engine, kind, path, config=config, chunk_rows=chunk_rows,
                                 rejects_path=instance / f"{kind}.rejects.csv")
            reports[kind] = report.to_dict()
            if kind == "scans":
                reports["scans_peak_mb"] = _peak_mb()
                reports["scans_cpu"] = _cpu_seconds() - cpu
                reports["scans_server_cpu"] = backends.since_mark()
        if "scans" in files:
            again = import_file(engine, "scans", files["scans"], config=config, chunk_rows=chunk_rows,
                                rejects_path=instance / "scans-again.rejects.csv")
            reports["scans_again"] = again.to_dict()
            with engine.connect() as conn:
                reports["integrity_ok"] = orphan_scan_lines(conn).ok
    finally:
        engine.dispose()
        shutil.rmtree(instance, ignore_errors=True)
    reports["peak_mb"] = _peak_mb()
    return reports


BARE_COLUMNS = "transaction_id, store_id, member_id, scanned_at, sku, quantity, amount, discount"


def child_bare(url: str, path: str) -> dict[str, Any]:
    """The bare load of scans.csv into a table with scan_lines' primary key, timed.

    PostgreSQL: one ``COPY ... FROM STDIN (FORMAT csv, HEADER)`` of the file's bytes (what
    psql's ``\\copy`` sends) into typed columns plus ``line_no`` (an identity, as no column of
    the file gives it), primary key ``(transaction_id, line_no)``.
    SQLite: the sqlite3 shell's ``.import --csv --skip 1`` into the file's columns plus
    ``line_no`` (the shell fills the missing column with NULL), primary key
    ``(transaction_id, line_no)``: the same index shape as scan_lines.
    """
    if url.startswith("sqlite"):
        db = url[len("sqlite:///"):]
        create = ("CREATE TABLE bare_scans (transaction_id TEXT NOT NULL, store_id TEXT, member_id TEXT, "
                  "scanned_at TEXT, sku TEXT, quantity INTEGER, amount NUMERIC, discount NUMERIC, line_no INTEGER, "
                  "PRIMARY KEY (transaction_id, line_no))")
        subprocess.run(["sqlite3", db, create], check=True)
        started, cpu = time.perf_counter(), _cpu_seconds(resource.RUSAGE_CHILDREN)
        # The shell warns on stderr once per row about the NULL-filled column: discarded.
        subprocess.run(["sqlite3", db, ".import --csv --skip 1 " + path + " bare_scans"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seconds = time.perf_counter() - started
        cpu = _cpu_seconds(resource.RUSAGE_CHILDREN) - cpu
        out = subprocess.run(["sqlite3", db, "SELECT COUNT(*) FROM bare_scans"], check=True, capture_output=True,
                             text=True)
        return {"rows": int(out.stdout.strip()), "seconds": seconds, "cpu": cpu}
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as conn:
        conn.execute("CREATE TABLE bare_scans (transaction_id text NOT NULL, store_id text, member_id text, "
                     "scanned_at timestamp, sku text, quantity integer, amount numeric(12, 2), "
                     "discount numeric(12, 2), line_no bigint GENERATED ALWAYS AS IDENTITY, "
                     "PRIMARY KEY (transaction_id, line_no))")
        conn.commit()
        started, cpu, server_cpu = time.perf_counter(), _cpu_seconds(), _process_cpu(conn.info.backend_pid)
        with conn.cursor() as cursor, open(path, "rb") as fh:
            with cursor.copy(f"COPY bare_scans ({BARE_COLUMNS}) FROM STDIN (FORMAT csv, HEADER)") as copy:
                while data := fh.read(1 << 20):
                    copy.write(data)
        conn.commit()
        seconds = time.perf_counter() - started
        cpu = _cpu_seconds() - cpu + _process_cpu(conn.info.backend_pid) - server_cpu
        rows = conn.execute("SELECT COUNT(*) FROM bare_scans").fetchone()[0]
        conn.execute("DROP TABLE bare_scans")
        conn.commit()
    return {"rows": rows, "seconds": seconds, "cpu": cpu}


def run_child(task: str, *args: Any) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps([task, *args])],
                          capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"{task} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------- databases

class Databases:
    """Fresh databases per run: SQLite files, PostgreSQL schemas (dropped at the end)."""

    def __init__(self, scratch: Path, pg_url: str | None) -> None:
        self.scratch = scratch
        self.pg_url = pg_url
        self.schemas: list[str] = []

    def sqlite(self, name: str) -> str:
        path = self.scratch / f"{name}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"

    def postgres(self, name: str) -> str | None:
        if not self.pg_url:
            return None
        from sqlalchemy import text
        from sqlalchemy.engine import make_url

        from loyalty_engine.db import make_engine

        schema = f"bench_import_{name}_{uuid.uuid4().hex[:8]}"
        admin = make_engine(self.pg_url)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        self.schemas.append(schema)
        parsed = make_url(self.pg_url)
        return parsed.set(query={**parsed.query, "options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False)

    def drop(self) -> None:
        if not self.schemas:
            return
        from sqlalchemy import text

        from loyalty_engine.db import make_engine

        admin = make_engine(self.pg_url)  # type: ignore[arg-type]
        with admin.begin() as conn:
            for schema in self.schemas:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def postgres_answers(url: str) -> bool:
    from sqlalchemy import text

    from loyalty_engine.db import make_engine

    try:
        engine = make_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception as exc:  # noqa: BLE001
        print(f"PostgreSQL at {url} does not answer ({exc.__class__.__name__}): PostgreSQL runs SKIPPED")
        return False


# ---------------------------------------------------------------------------- benchmarks

def synthetic_chain(lines: int, out: Path) -> tuple[dict[str, str], int]:
    """Write the chain into ``out`` (or reuse the one a previous run kept there)."""
    from loyalty_engine.synthetic import ChainSpec, write_chain

    members = max(100, math.ceil(lines / LINES_PER_MEMBER_YEAR))
    files = {kind: str(out / f"{kind}.csv") for kind in (*ENTITY_FILES, "scans")}
    counts_file = out / "bench-counts.json"
    if counts_file.exists() and all(Path(f).exists() for f in files.values()):
        counts = json.loads(counts_file.read_text())
        print(f"  synthetic chain (kept from an earlier run in {out}): {members:,} members x 52 weeks -> "
              f"{counts['scans']:,} scan lines, {counts['baskets']:,} baskets")
        return files, counts["scans"]
    started = time.perf_counter()
    result = write_chain(ChainSpec(members=members, weeks=52, seed=20171), out)
    counts_file.write_text(json.dumps(result.counts))
    scans = result.counts["scans"]
    print(f"  synthetic chain: {members:,} members x 52 weeks -> {scans:,} scan lines, "
          f"{result.counts['baskets']:,} baskets ({time.perf_counter() - started:.1f} s to write)")
    return files, scans


def bench_size(target: int, dbs: Databases, scratch: Path, chunk_rows: int | None,
               keep_chains: Path | None = None, backends: tuple[str, ...] = ("sqlite", "postgresql"),
               repeat: int = 1) -> list[dict[str, Any]]:
    """``repeat`` rounds; each round runs, per database, the bare load then the import (the two
    back to back, so that the ratio compares runs under about the same machine load)."""
    print(f"\n== about {target:,} scan lines")
    out = (keep_chains or scratch) / f"chain-{target}"
    files, lines = synthetic_chain(target, out)
    size_mb = Path(files["scans"]).stat().st_size / 2**20
    parse = run_child("parse", files["scans"])
    assert parse["rows"] == lines
    print(f"  baseline parse (pyarrow streaming CSV, {size_mb:,.0f} MB): {parse['seconds']:.2f} s, "
          f"{lines / parse['seconds']:,.0f} lines/s, peak RSS {parse['peak_mb']:,.0f} MB")
    results = []
    for round_no in range(1, repeat + 1):
        if repeat > 1:
            print(f"  -- round {round_no} of {repeat}, load average {os.getloadavg()[0]:.1f}")
        for backend in backends:
            result = _bench_backend(backend, target, dbs, files, lines, parse, chunk_rows)
            if result is not None:
                results.append({**result, "round": round_no})
    if keep_chains is None:
        shutil.rmtree(out, ignore_errors=True)
    return results


def _bench_backend(backend: str, target: int, dbs: Databases, files: dict[str, str], lines: int,
                   parse: dict[str, Any], chunk_rows: int | None) -> dict[str, Any] | None:
    """The bare load, then the import and the re-import, of one database; None without a server."""
    url = dbs.sqlite(f"bench-{target}") if backend == "sqlite" else dbs.postgres(str(target))
    if url is None:
        return None
    bare_url = dbs.sqlite(f"bare-{target}") if backend == "sqlite" else url
    load_before = os.getloadavg()[0]
    bare = run_child("bare", bare_url, files["scans"])
    assert bare["rows"] == lines, bare
    r = run_child("import", url, files, chunk_rows)
    scans, again = r["scans"], r["scans_again"]
    ok = (scans["inserted"] == lines and scans["rejected"] == 0 and again["inserted"] == 0
          and again["duplicates"] == lines and r["integrity_ok"])
    rate = lines / scans["seconds"]
    result = {"backend": backend, "lines": lines, "seconds": scans["seconds"], "rate": rate,
              "cpu": r["scans_cpu"], "bare_seconds": bare["seconds"],
              "bare_ratio": bare["seconds"] / scans["seconds"],
              "ratio": scans["seconds"] / parse["seconds"], "peak_mb": r["scans_peak_mb"],
              "again_seconds": again["seconds"], "ok": ok,
              "load": (load_before, os.getloadavg()[0]),
              "total_cpu": r["scans_cpu"] + r["scans_server_cpu"], "bare_cpu": bare["cpu"]}
    bare_name = "sqlite3 .import" if backend == "sqlite" else "bare COPY"
    print(f"  {backend:10s} {bare_name}: {bare['seconds']:6.1f} s  {lines / bare['seconds']:9,.0f} lines/s   "
          f"import / bare = {bare['seconds'] / scans['seconds']:.2f} x the bare load's rate")
    entities = ", ".join(f"{k} {r[k]['inserted']:,}" for k in ENTITY_FILES)
    print(f"  {backend:10s} scans: {scans['seconds']:6.1f} s  {rate:9,.0f} lines/s  "
          f"= {scans['seconds'] / parse['seconds']:4.1f} x parse time   (importer CPU {r['scans_cpu']:.1f} s)   "
          f"peak RSS {r['scans_peak_mb']:,.0f} MB   "
          f"re-import: {again['seconds']:.1f} s, inserted {again['inserted']}   "
          f"{'OK' if ok else 'MISMATCH'}")
    print(f"  {'':10s} CPU seconds (client + local server): bare load {bare['cpu']:.1f}, import "
          f"{result['total_cpu']:.1f} (importer {r['scans_cpu']:.1f} + server {r['scans_server_cpu']:.1f}); "
          f"bare / import CPU = {bare['cpu'] / result['total_cpu']:.2f}")
    print(f"  {'':10s} (also imported {entities}; baskets {scans['baskets_inserted']:,}; "
          f"load average {load_before:.1f} -> {os.getloadavg()[0]:.1f})")
    if backend == "sqlite":
        for db_url in (url, bare_url):
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db_url[len('sqlite:///'):]}{suffix}").unlink(missing_ok=True)
    return result


def bench_real(dbs: Databases, chunk_rows: int | None) -> bool:
    print(f"\n== real-data check: {SAMPLE}")
    if not (SAMPLE / "scans.csv.gz").exists():
        print(f"SKIPPED: the shared grocery sample is not at {SAMPLE}")
        return True
    files = {k: str(SAMPLE / f"{k}.csv.gz") for k in ("products", "members", "scans")}
    parse_seconds = _parse_gz(files["scans"])
    print(f"  baseline parse (pyarrow, gzip): {parse_seconds:.2f} s")
    all_ok = True
    for backend in ("sqlite", "postgresql"):
        url = dbs.sqlite("real") if backend == "sqlite" else dbs.postgres("real")
        if url is None:
            continue
        r = run_child("import", url, files, chunk_rows)
        print(f"  {backend}:")
        for kind in ("products", "members", "scans"):
            rep = r[kind]
            made = ", ".join(f"{k} {v:,}" for k, v in sorted(rep["placeholders_created"].items())) or "none"
            print(f"    {kind:9s} read {rep['read']:>8,}  inserted {rep['inserted']:>8,}  rejected {rep['rejected']}"
                  f"  placeholders: {made}  ({rep['seconds']:.1f} s)")
        scans, again = r["scans"], r["scans_again"]
        print(f"    scans: {scans['read'] / scans['seconds']:,.0f} lines/s = {scans['seconds'] / parse_seconds:.1f} x parse; "
              f"{scans['baskets_inserted']:,} baskets; prices learned {scans['prices_learned']:,}; "
              f"DST gap {scans['dst_gap']}, overlap {scans['dst_ambiguous']}; peak RSS {r['scans_peak_mb']:,.0f} MB")
        print(f"    re-import: inserted {again['inserted']}, skipped as duplicate {again['duplicates']:,} "
              f"({again['seconds']:.1f} s)")
        ok = (scans["inserted"] == SAMPLE_LINES and scans["rejected"] == 0 and again["inserted"] == 0
              and r["integrity_ok"])
        print(f"    {'OK: all 742,567 lines loaded, none rejected, re-import inserted nothing' if ok else 'MISMATCH'}")
        all_ok &= ok
    return all_ok


def _parse_gz(path: str) -> float:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    started = time.perf_counter()
    names = ["transaction_id", "store_id", "member_id", "scanned_at", "sku", "quantity", "amount", "discount"]
    reader = pcsv.open_csv(path, convert_options=pcsv.ConvertOptions(column_types={n: pa.string() for n in names}))
    sum(b.num_rows for b in reader)
    return time.perf_counter() - started


def _print_medians(results: list[dict[str, Any]]) -> None:
    """Per database and size: every round's import / bare ratio and their median."""
    groups: dict[tuple[str, int], list[float]] = {}
    for r in results:
        groups.setdefault((r["backend"], r["lines"]), []).append(r)
    for (backend, lines), runs in groups.items():
        if len(runs) > 1:
            ratios = [r["bare_ratio"] for r in runs]
            cpu = [r["bare_cpu"] / r["total_cpu"] for r in runs]
            print(f"  {backend:10s} {lines:>11,} lines  import / bare per round: "
                  f"{', '.join(f'{x:.2f}' for x in ratios)}; median {statistics.median(ratios):.2f} (target >= 0.70); "
                  f"CPU bare / import: {', '.join(f'{x:.2f}' for x in cpu)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--big", action="store_true", help="also 10,000,000 lines (several minutes)")
    parser.add_argument("--real", action="store_true", help="the real-data check on the shared grocery sample")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--pg-url", default=os.environ.get("LOYALTY_BENCH_PG_URL", DEFAULT_PG))
    parser.add_argument("--chunk-rows", type=int, default=None)
    parser.add_argument("--keep-chains", type=Path, default=None,
                        help="write the synthetic chains into this folder once and reuse them (e.g. /tmp/bench-chains)")
    parser.add_argument("--only", choices=("sqlite", "postgresql"), default=None, help="one database only")
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds of (bare load, import) per database, alternating the databases; "
                             "the summary gives each round's ratio and their median")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        task, *rest = json.loads(args.child)
        tasks = {"parse": child_parse, "bare": child_bare, "import": child_import}
        result = tasks[task](*rest)
        print(json.dumps(result))
        return 0

    pg_url = None if args.no_postgres or not postgres_answers(args.pg_url) else args.pg_url
    print(f"machine: {os.cpu_count()} cores, load average {' / '.join(f'{x:.1f}' for x in os.getloadavg())} (1/5/15 min) "
          "(shared; compare the ratios to the parse baseline, not absolute times)")
    scratch = Path(tempfile.mkdtemp(prefix="bench-import-"))
    dbs = Databases(scratch, pg_url)
    ok = True
    try:
        if args.real:
            ok = bench_real(dbs, args.chunk_rows)
        else:
            sizes = list(args.lines) + ([10_000_000] if args.big else [])
            backends = (args.only,) if args.only else ("sqlite", "postgresql")
            results = [r for size in sizes
                       for r in bench_size(size, dbs, scratch, args.chunk_rows, args.keep_chains, backends,
                                                  max(1, args.repeat))]
            print("\nsummary (lines/s; rate / the bare load's rate (target >= 0.70); time / pyarrow parse time; "
                  "peak RSS of the importing process)")
            for r in results:
                print(f"  {r['backend']:10s} {r['lines']:>11,} lines  {r['rate']:9,.0f} lines/s  "
                      f"{r['bare_ratio']:5.2f} x bare ({r['lines'] / r['bare_seconds']:9,.0f} lines/s)  "
                      f"{r['ratio']:5.1f} x parse  {r['peak_mb']:6,.0f} MB  load {r['load'][0]:4.1f}-{r['load'][1]:4.1f}  "
                      f"{'OK' if r['ok'] else 'MISMATCH'}")
            _print_medians(results)
            ok = all(r["ok"] for r in results)
    finally:
        dbs.drop()
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"load average at the end: {' / '.join(f'{x:.1f}' for x in os.getloadavg())} (1/5/15 min)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
