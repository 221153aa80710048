"""Lane API under load: quote + complete pairs against gunicorn (4 workers), PostgreSQL and SQLite.

    .venv/bin/python benchmarks/bench_checkout.py [--seconds 20] [--clients 6] [--lines 30]
        [--postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/test] [--backends postgresql,sqlite]
        [--workers 4] [--worker-class sync] [--threads 1] [--py-spy PATH]
    .venv/bin/python benchmarks/bench_checkout.py --in-process 300 [--members 3000]

For each database: a fresh database (PostgreSQL: its own schema, dropped afterwards; SQLite: a
WAL file in a temp folder) is migrated and loaded with a synthetic chain (the synthetic
generator's catalog, stores and members; offers on its products; a 15-line shopping list for
every member) and analyzed, one lane key per load client is issued, and the API is started
under gunicorn. A separate load process per client (a minimal HTTP client, loopback only)
then rings up baskets of ``--lines`` lines for random members, each a quote followed by a
complete, for ``--seconds``. It prints throughput and p50/p95/p99 latency per call, the same
figures for ``GET /api/v1/health`` on the same server (the baseline: an HTTP round trip through
gunicorn and Flask with no database work), the ratio of the two, the CPU time per pair spent by
the gunicorn workers, by the database server processes of the bench's own connections and by
the load processes, how busy the whole (shared) machine was, and checks afterwards that every
completed basket was recorded once and that the counters equal the redemption ledger.

``--in-process N`` skips the server: N pairs are called straight into the WSGI app and each
call's CPU time, the database server's CPU time for it and its round trips are printed next to
``GET /api/v1/health`` measured in the same process.
"""
from __future__ import annotations

import argparse
import ctypes
import http.client
import json
import multiprocessing
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from loyalty_engine import migrate  # noqa: E402
from loyalty_engine.checkout.lanes import issue_key  # noqa: E402
from loyalty_engine.db import make_engine  # noqa: E402
from loyalty_engine.list_numbers import make_list_number  # noqa: E402
from loyalty_engine.config import Config  # noqa: E402
from loyalty_engine.imports.runner import import_file  # noqa: E402
from loyalty_engine.models import Member, Product  # noqa: E402
from loyalty_engine.models.checkout import Checkout, Redemption  # noqa: E402
from loyalty_engine.models.lists import ListBuild, ShoppingList, ShoppingListLine  # noqa: E402
from loyalty_engine.models.offers import Offer, OfferProduct  # noqa: E402
from loyalty_engine.synthetic import ChainSpec, write_chain  # noqa: E402

LIST_LINES = 15
TARGET_PAIRS = 300  # the issue's target: complete calls (one per quote + complete pair) per second
OFFERS = 300


@dataclass
class Seeded:
    baskets: list[dict[str, Any]]  # list number + the lines to ring up for it
    fillers: list[tuple[str, int]]  # (sku, price) of ordinary products
    store: str


# --- the chain ----------------------------------------------------------------------------


def seed_chain(engine: Engine, members: int, seed: int, today: date) -> Seeded:
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as tmp:
        # the team's generator writes the chain, the team's importer loads it
        write_chain(ChainSpec(members=members, weeks=1, seed=seed, stores=4), Path(tmp))
        config = Config(database_url=engine.url.render_as_string(hide_password=False), instance_path=Path(tmp) / "instance").resolved()
        for kind in ("manufacturers", "stores", "products", "members"):
            import_file(engine, kind, Path(tmp) / f"{kind}.csv", config=config)
        store_ids = pd.read_csv(Path(tmp) / "stores.csv", dtype=str, keep_default_na=False).store_id
    with engine.connect() as conn:
        catalog = conn.execute(select(Product.id, Product.sku, Product.subcategory, Product.brand,
                                      Product.regular_price_cents, Product.manufacturer_id)
                               .where(Product.is_placeholder.is_(False))).all()
        member_keys = [k for (k,) in conn.execute(select(Member.id).order_by(Member.id))]

    # offers: a brand within a subcategory (1-6 skus), funded by the maker or the store
    groups: dict[tuple[str, str], list[tuple[int, str, int, str | None]]] = {}
    for key, sku, sub, brand, price, maker in catalog:
        groups.setdefault((sub, brand), []).append((key, sku, price or 299, maker))
    group_list = [g[:6] for g in groups.values()]
    chosen = rng.choice(len(group_list), size=min(OFFERS, len(group_list)), replace=False)
    offers: list[dict[str, Any]] = []
    scopes: list[list[tuple[int, str, int, str | None]]] = []
    for n, index in enumerate(chosen):
        scope = group_list[int(index)]
        kind = ("amount_off", "percent_off", "fixed_price")[n % 3]
        cheapest = min(p for _, _, p, _ in scope)
        value = {"amount_off": max(10, cheapest // 5), "percent_off": 2000, "fixed_price": max(1, cheapest * 3 // 4)}[kind]
        maker = scope[0][3]
        offers.append(dict(
            slug=f"bench-{n}", offer_code=f"{200000 + n}", name=f"bench offer {n}", description=f"Save on {scope[0][1]}",
            funder_kind="manufacturer" if maker else "retailer", manufacturer_id=maker, scope_kind="skus",
            scope_values=[s for _, s, _, _ in scope], benefit_kind=kind, benefit_low=value, benefit_medium=value,
            benefit_high=value, min_quantity=1 + (n % 4 == 0), redemption_limit=2, funded_share_bp=10_000 if maker else 0,
            handling_fee_cents=8, budget_cents=None if n % 5 else 10_000_000, max_redemptions=None,
            valid_from=today - timedelta(days=30), valid_to=today + timedelta(days=30), status="active",
        ))
        scopes.append(scope)
    with engine.begin() as conn:
        offer_ids = [conn.execute(Offer.__table__.insert().values(**o).returning(Offer.id)).scalar_one() for o in offers]
        conn.execute(OfferProduct.__table__.insert(), [
            dict(offer_id=oid, product_key=key) for oid, scope in zip(offer_ids, scopes) for key, _, _, _ in scope])
        period = (today - timedelta(days=3), today + timedelta(days=10))
        build_id = conn.execute(ListBuild.__table__.insert().values(
            period_start=period[0], period_end=period[1], cohort="A", as_of=period[0], status="complete",
            holdout_seed=seed, params={}, counts={}).returning(ListBuild.id)).scalar_one()
        lists, lines, baskets = [], [], []
        for serial, member_key in enumerate(member_keys, start=1):
            picks = rng.choice(len(offer_ids), size=LIST_LINES, replace=False)
            number = make_list_number(serial)
            lists.append(dict(id=serial, list_number=number, build_id=build_id, member_key=member_key, store_id=None,
                              period_start=period[0], period_end=period[1], cohort="A", kind="regular",
                              status="active", line_count=LIST_LINES))
            wanted = []
            for line_no, pick in enumerate(picks, start=1):
                o = offers[int(pick)]
                lines.append(dict(list_id=serial, line_no=line_no, offer_id=offer_ids[int(pick)],
                                  description=o["description"], benefit_text="", benefit_kind=o["benefit_kind"],
                                  benefit_value=o["benefit_low"], min_quantity=o["min_quantity"], redemption_limit=2,
                                  valid_from=period[0], valid_to=period[1], reason={}, redeemed_count=0))
                if line_no <= 5:  # the basket buys what five of its list lines offer
                    key, sku, price, _ = scopes[int(pick)][0]
                    wanted.append((sku, o["min_quantity"], price))
            baskets.append({"list_number": number, "wanted": wanted})
        conn.execute(ShoppingList.__table__.insert(), lists)
        conn.execute(ShoppingListLine.__table__.insert(), lines)
    fillers = [(sku, price or 199) for _, sku, _, _, price, _ in catalog]
    if not os.environ.get("BENCH_NO_ANALYZE"):
        # planner statistics, as a database that has been running has them (autovacuum would
        # take its time to analyze freshly loaded tables)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    return Seeded(baskets, fillers, str(store_ids.iloc[0]))


# --- the server ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """Time the process has spent on a CPU, all its threads (nanosecond schedstat)."""
    total = 0.0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            total += int((task / "schedstat").read_text().split()[0]) / 1e9
    except OSError:
        pass
    return total


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    tick = os.sysconf("SC_CLK_TCK")
    return (total - idle) / tick, total / tick


def pg_database_stats(url: str) -> tuple[int, int, int]:
    """(commits, rollbacks, deadlocks) of the whole database so far (other users' included)."""
    admin = make_engine(url)
    try:
        with admin.connect() as conn:
            return tuple(conn.execute(text("SELECT xact_commit, xact_rollback, deadlocks FROM pg_stat_database "
                                           "WHERE datname = current_database()")).one())  # type: ignore[return-value]
    finally:
        admin.dispose()


def pg_backend_pids(url: str, application_name: str) -> list[int]:
    """The server processes of the bench's own connections (by application_name)."""
    admin = make_engine(url)
    try:
        with admin.connect() as conn:
            return list(conn.execute(text("SELECT pid FROM pg_stat_activity WHERE application_name = :n"),
                                     {"n": application_name}).scalars())
    finally:
        admin.dispose()


def start_gunicorn(url: str, workers: int, port: int, log: Path, instance: Path, worker_class: str = "sync",
                   threads: int = 1) -> subprocess.Popen:
    env = dict(os.environ, LOYALTY_DATABASE_URL=url, LOYALTY_SECRET_KEY="bench-" + uuid.uuid4().hex,
               LOYALTY_INSTANCE_PATH=str(instance), PYTHONPATH=str(ROOT))
    gunicorn = Path(sys.executable).with_name("gunicorn")
    # Deployment tuning the figures assume: move the loaded app out of the cyclic GC's way
    # (gc.freeze after the worker imported it), as long-running Python services do.
    conf = log.with_suffix(".conf.py")
    conf.write_text("def post_worker_init(worker):\n    import gc\n    gc.collect()\n    gc.freeze()\n")
    cmd = [str(gunicorn), "-c", str(conf), "-w", str(workers), "-b", f"127.0.0.1:{port}", "--keep-alive", "30",
           "--worker-class", worker_class, "--threads", str(threads), "--log-level", "warning", "wsgi:app"]
    process = subprocess.Popen(cmd, env=env, cwd=str(ROOT), stdout=log.open("wb"), stderr=subprocess.STDOUT,
                               start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/v1/health")
            if conn.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit(f"gunicorn did not start; see {log}")


def stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGKILL)


# --- the load -----------------------------------------------------------------------------


class RawHttp:
    """A minimal HTTP/1.1 client over one socket: the load's own CPU stays small next to the
    server's (http.client costs about 0.5 ms a call to build and parse). It reconnects when the
    server closes the connection (gunicorn's sync workers close it after every answer)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None

    def call(self, request: bytes) -> tuple[int, bytes]:
        for attempt in range(2):
            if self.sock is None:
                # a bare connect: create_connection resolves the address on every call
                self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                self.sock.settimeout(30)
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.sock.connect(("127.0.0.1", self.port))
            try:
                self.sock.sendall(request)
                return self._answer()
            except (ConnectionError, _Closed):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _answer(self) -> tuple[int, bytes]:
        assert self.sock is not None
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise _Closed()
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, close = 0, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        while len(body) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise _Closed()
            body += chunk
        if close:
            self.close()
        return status, body

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class _Closed(Exception):
    pass


def _request(path: str, key: str, body: bytes | None) -> bytes:
    if body is None:
        return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {key}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


_DUE = re.compile(rb'"total_due_cents":(-?[0-9]+)')


def _basket_bodies(rng: random.Random, client_no: int, store: str, lane: str, baskets: list[dict[str, Any]],
                   fillers: list[tuple[str, int]], n_lines: int, count: int) -> list[bytes]:
    """Quote bodies without their closing brace (the complete adds its tender), built before the
    load starts so that the timed loop only sends and reads."""
    scanned_at = datetime.now(timezone.utc).isoformat()
    out = []
    for serial in range(1, count + 1):
        pick = rng.choice(baskets)
        lines = [{"sku": s, "quantity": q, "unit_price_cents": p, "amount_cents": p * q} for s, q, p in pick["wanted"]]
        while len(lines) < n_lines:
            sku, price = rng.choice(fillers)
            qty = rng.choice((1, 1, 1, 2, 3))
            lines.append({"sku": sku, "quantity": qty, "unit_price_cents": price, "amount_cents": price * qty})
        body = {"store": store, "lane": lane, "pos_transaction_id": f"B{client_no}-{serial}",
                "scanned_at": scanned_at, "identifier": pick["list_number"], "lines": lines}
        out.append(json.dumps(body, separators=(",", ":"))[:-1].encode())
    return out


def load_client(args: tuple[int, int, str, str, str, list[dict[str, Any]], list[tuple[str, int]], float, float, int, str]) -> dict[str, list[float]]:
    """One lane: quote + complete pairs over one connection until ``stop_at``."""
    client_no, port, store, lane, key, baskets, fillers, start_at, stop_at, n_lines, mode = args
    rng = random.Random(client_no)
    http = RawHttp(port)
    timings: dict[str, list[float]] = {"quote": [], "complete": [], "health": [], "errors": [], "completed": [],
                                       "cpu": []}
    # enough baskets for 150 pairs/s from this lane alone; more are built if the run outpaces that
    bodies = _basket_bodies(rng, client_no, store, lane, baskets, fillers, n_lines,
                            int(150 * (stop_at - start_at)) if mode != "health" else 0)
    health = _request("/api/v1/health", key, None)
    time.sleep(max(0.0, start_at - time.time()))
    cpu_start = time.process_time()
    serial = 0
    while time.time() < stop_at:
        if mode == "health":
            t0 = time.perf_counter()
            status, _ = http.call(health)
            timings["health"].append(time.perf_counter() - t0)
            continue
        if serial == len(bodies):
            bodies += _basket_bodies(rng, client_no, store, lane, baskets, fillers, n_lines, 200)
            # (their pos ids restart: keep them unique)
            bodies[serial:] = [b.replace(f'"B{client_no}-'.encode(), f'"B{client_no}x{serial}-'.encode(), 1)
                               for b in bodies[serial:]]
        prefix = bodies[serial]
        serial += 1
        t0 = time.perf_counter()
        status, data = http.call(_request("/api/v1/checkout/quote", key, prefix + b"}"))
        timings["quote"].append(time.perf_counter() - t0)
        if status != 200:
            timings["errors"].append(float(status))
            continue
        due = _DUE.search(data)
        tender = b',"tender":{"method":"card","amount_cents":' + (due.group(1) if due else b"0") + b"}}"
        t0 = time.perf_counter()
        status, data = http.call(_request("/api/v1/checkout/complete", key, prefix + tender))
        timings["complete"].append(time.perf_counter() - t0)
        if status != 200:
            timings["errors"].append(float(status))
        else:
            timings["completed"].append(1.0)
    http.close()
    timings["cpu"].append(time.process_time() - cpu_start)
    return timings


def run_load(port: int, seeded: Seeded, keys: list[tuple[str, str]], seconds: float, n_lines: int,
             mode: str) -> dict[str, np.ndarray]:
    start_at = time.time() + 3.0  # the load processes build their baskets first
    stop_at = start_at + seconds
    jobs = [(i, port, seeded.store, lane, key, seeded.baskets, seeded.fillers, start_at, stop_at, n_lines, mode)
            for i, (lane, key) in enumerate(keys)]
    # fork: the load processes start at once (they use only http.client, no database handle)
    with multiprocessing.get_context("fork").Pool(len(jobs)) as pool:
        results = pool.map(load_client, jobs)
    merged: dict[str, np.ndarray] = {}
    for name in ("quote", "complete", "health", "errors", "completed", "cpu"):
        merged[name] = np.array([v for r in results for v in r[name]], dtype=float)
    merged["seconds"] = np.array([seconds])
    return merged


def summary(name: str, values: np.ndarray, seconds: float) -> str:
    if len(values) == 0:
        return f"  {name:<9} no calls"
    ms = values * 1000
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return (f"  {name:<9} {len(values) / seconds:8.1f} calls/s   p50 {p50:6.1f} ms   p95 {p95:6.1f} ms   "
            f"p99 {p99:6.1f} ms   ({len(values)} calls)")


# --- in process: CPU and round trips per call ------------------------------------------------


class _RoundTrips:
    """Counts what each call costs the database connection.

    PostgreSQL: libpq's protocol trace of every pooled connection goes to one file; a round
    trip is a run of frontend messages answered by backend messages (so a pipeline of
    statements with one Sync is one round trip). Also the backend processes' CPU time
    (/proc, when the server runs on this machine). SQLite: statements executed (there is no
    network; each is a call into the library).
    """

    def __init__(self, engines: list[Engine], workdir: Path) -> None:
        self.statements = 0
        self.backend_pids: set[int] = set()
        self.connections: list[Any] = []
        self.trace_path = workdir / "pq_trace.txt"
        self.trace = self.trace_path.open("a")
        self.is_pg = engines[0].dialect.name == "postgresql"
        self.tracing = False
        for engine in engines:  # the app's pools: transactions, and autocommit
            self._listen(engine)

    def _listen(self, engine: Engine) -> None:
        from sqlalchemy import event

        @event.listens_for(engine, "before_cursor_execute")
        def _count(*_args: Any) -> None:
            self.statements += 1

        if self.is_pg:
            @event.listens_for(engine, "connect")
            def _on_connect(dbapi_connection: Any, _record: Any) -> None:
                self.connections.append(dbapi_connection)
                self.backend_pids.add(dbapi_connection.info.backend_pid)
                if self.tracing:
                    self._trace(dbapi_connection)

    def _trace(self, dbapi_connection: Any) -> None:
        import psycopg

        dbapi_connection.pgconn.trace(self.trace.fileno())
        dbapi_connection.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)

    def start_tracing(self) -> None:
        """The protocol trace costs CPU itself: it is switched on only to count round trips."""
        self.tracing = True
        for dbapi_connection in self.connections:
            if not dbapi_connection.closed:
                self._trace(dbapi_connection)

    def mark(self) -> tuple[int, int, float]:
        self.trace.flush()
        if self.tracing:  # libpq writes its trace through a buffered C stream of its own
            ctypes.CDLL(None).fflush(None)
        return self.statements, self.trace_path.stat().st_size, self.backend_cpu()

    def backend_cpu(self) -> float:
        total = 0.0
        for pid in self.backend_pids:
            try:  # nanoseconds on a CPU (exact, where /proc/<pid>/stat counts 10 ms ticks)
                total += int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
            except OSError:
                continue
        return total

    def round_trips(self, start: int, end: int) -> int:
        with self.trace_path.open("rb") as f:
            f.seek(start)
            chunk = f.read(end - start).decode("utf-8", "replace")
        trips, previous = 0, ""
        for line in chunk.splitlines():
            side = line[:1]
            if side == "B" and previous == "F":
                trips += 1
            if side in ("F", "B"):
                previous = side
        return trips


def profile_in_process(backend: str, url: str, seeded: Seeded, key: tuple[str, str], args: argparse.Namespace,
                       workdir: Path) -> None:
    """Each call straight into the WSGI app (no HTTP, no client work timed): CPU ms and round trips."""
    from werkzeug.test import EnvironBuilder

    from loyalty_engine.app import create_app, dispose_engines

    app = create_app(Config(database_url=url, instance_path=workdir / "instance",
                            secret_key="bench-" + uuid.uuid4().hex).resolved())
    extensions = app.extensions["loyalty_engine"]
    counter = _RoundTrips([extensions["engine"], extensions["autocommit_engine"]], workdir)
    lane, api_key = key
    headers = {"Authorization": f"Bearer {api_key}"}
    rng = random.Random(7)

    def call(method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, bytes]:
        environ = EnvironBuilder(path=path, method=method, headers=headers,
                                 data=json.dumps(body) if body is not None else None,
                                 content_type="application/json" if body is not None else None).get_environ()
        status: list[str] = []
        chunks = app(environ, lambda s, h, exc_info=None: status.append(s))
        data = b"".join(chunks)
        getattr(chunks, "close", lambda: None)()
        return int(status[0].split()[0]), data

    stats: dict[str, list[tuple[float, float, int]]] = {"health": [], "quote": [], "complete": []}
    trips: dict[str, list[int]] = {"health": [], "quote": [], "complete": []}
    warm_up, trace_pairs = 20, 20

    def timed(name: str, method: str, path: str, body: dict[str, Any] | None, phase: str) -> bytes:
        s0, t0, b0 = counter.mark()
        c0 = time.process_time()
        status, data = call(method, path, body)
        cpu = time.process_time() - c0
        s1, t1, b1 = counter.mark()
        if status != 200:
            raise SystemExit(f"{name}: {status} {data[:300]!r}")
        if phase == "cpu":
            stats[name].append((cpu, b1 - b0, s1 - s0))
        elif phase == "trace":
            trips[name].append(counter.round_trips(t0, t1) if counter.is_pg else s1 - s0)
        return data

    for n in range(warm_up + args.in_process + trace_pairs):
        # the first calls warm the pool, caches and prepared statements; the last count round trips
        phase = "warm" if n < warm_up else "cpu" if n < warm_up + args.in_process else "trace"
        if n == warm_up + args.in_process:
            counter.start_tracing()
        timed("health", "GET", "/api/v1/health", None, phase)
        pick = rng.choice(seeded.baskets)
        lines = [{"sku": s, "quantity": q, "unit_price_cents": p, "amount_cents": p * q} for s, q, p in pick["wanted"]]
        while len(lines) < args.lines:
            sku, price = rng.choice(seeded.fillers)
            lines.append({"sku": sku, "quantity": 1, "unit_price_cents": price, "amount_cents": price})
        body: dict[str, Any] = {"store": seeded.store, "lane": lane, "pos_transaction_id": f"P-{n}",
                                "scanned_at": datetime.now(timezone.utc).isoformat(),
                                "identifier": pick["list_number"], "lines": lines}
        due = json.loads(timed("quote", "POST", "/api/v1/checkout/quote", body, phase))["total_due_cents"]
        body["tender"] = {"method": "card", "amount_cents": due}
        timed("complete", "POST", "/api/v1/checkout/complete", body, phase)
    print(f"\n== {backend}, in process: {args.in_process} quote + complete pairs of {args.lines} lines after "
          f"{warm_up} warm-up pairs (CPU: this process's time.process_time; database server: its backends' "
          f"CPU from /proc), then {trace_pairs} pairs counting round trips (libpq trace)")
    base = float(np.median([s[0] for s in stats["health"]]))
    for name, rows in stats.items():
        cpu = np.array([r[0] for r in rows]) * 1000
        db_cpu = np.array([r[1] for r in rows]) * 1000
        print(f"  {name:<9} CPU median {np.median(cpu):6.2f} ms  mean {cpu.mean():6.2f} ms  "
              f"(= {np.median(cpu) / (base * 1000):4.1f} x health)   "
              f"statements {np.mean([r[2] for r in rows]):5.1f}   "
              + (f"round trips {np.mean(trips[name]):4.1f}   database server CPU median {np.median(db_cpu):5.2f} ms "
                 f"mean {db_cpu.mean():5.2f} ms"
                 if counter.is_pg else ""))
    dispose_engines(app)


# --- one backend ------------------------------------------------------------------------------


def bench_backend(backend: str, pg_url: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    schema = None
    if backend == "postgresql":
        schema = f"bench_checkout_{uuid.uuid4().hex[:8]}"
        admin = make_engine(pg_url)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        parsed = make_url(pg_url)
        url = parsed.set(query={**parsed.query, "options": f"-csearch_path={schema}",
                                "application_name": schema}).render_as_string(hide_password=False)
    else:
        url = f"sqlite:///{workdir / 'bench.db'}"
    try:
        engine = make_engine(url)
        migrate.upgrade(engine)
        today = datetime.now(timezone.utc).date()
        t0 = time.perf_counter()
        seeded = seed_chain(engine, args.members, args.seed, today)
        keys = []
        with engine.begin() as conn:
            for i in range(args.clients):
                keys.append((f"B{i}", issue_key(conn, seeded.store, f"B{i}", datetime.now(timezone.utc)).api_key))
        print(f"[{backend}] chain loaded in {time.perf_counter() - t0:.1f} s: {args.members} members with "
              f"{LIST_LINES}-line lists, {OFFERS} offers", flush=True)
        if args.in_process:
            profile_in_process(backend, url, seeded, keys[0], args, workdir)
            engine.dispose()
            return None
        engine.dispose()  # only the server's connections stay open (they are measured)
        port = free_port()
        server = start_gunicorn(url, args.workers, port, workdir / f"gunicorn-{backend}.log", workdir / "instance",
                                args.worker_class, args.threads)
        try:
            workers = children(server.pid)
            health_app_before = sum(cpu_seconds(pid) for pid in workers)
            baseline = run_load(port, seeded, keys, min(5.0, args.seconds), args.lines, "health")
            app_before = sum(cpu_seconds(pid) for pid in workers)
            # the floor of any call: HTTP through gunicorn and Flask, server and client CPU
            baseline["cpu_per_call"] = np.array([(app_before - health_app_before + float(baseline["cpu"].sum()))
                                                 / max(len(baseline["health"]), 1)])
            machine_before = machine_busy_seconds()
            db_before = pg_database_stats(pg_url) if schema is not None else (0, 0, 0)
            spy = None
            if args.py_spy:  # sample the workers' stacks during the load (collapsed stacks file)
                spy = subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(server.pid),
                                        "--subprocesses", "-r", "200", "-f", "raw", "-o", f"{args.py_spy}.{backend}",
                                        "-d", str(int(args.seconds) + 3)], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
            load = run_load(port, seeded, keys, args.seconds, args.lines, "checkout")
            machine_after = machine_busy_seconds()
            db_after = pg_database_stats(pg_url) if schema is not None else (0, 0, 0)
            if spy is not None:
                spy.wait()
            cpu = {
                "app": sum(cpu_seconds(pid) for pid in workers) - app_before,
                "load": float(load["cpu"].sum()),
                # the pool's connections were all opened during the load (health uses none)
                "database": (sum(cpu_seconds(pid) for pid in pg_backend_pids(pg_url, schema))
                             if schema is not None else 0.0),
                "machine": machine_after[0] - machine_before[0],
                "capacity": machine_after[1] - machine_before[1],
                "load_average": os.getloadavg()[0],
                "db": [b - a for a, b in zip(db_before, db_after)],
            }
        finally:
            stop(server)
        with engine.connect() as conn:
            recorded = conn.execute(select(func.count()).select_from(Checkout)).scalar_one()
            ledger = conn.execute(select(func.coalesce(func.sum(Redemption.applications), 0))).scalar_one()
            counters = conn.execute(select(func.coalesce(func.sum(Offer.redeemed_count), 0))).scalar_one()
            lines = conn.execute(select(func.coalesce(func.sum(ShoppingListLine.redeemed_count), 0))).scalar_one()
        engine.dispose()
        return {"backend": backend, "load": load, "baseline": baseline, "recorded": recorded, "ledger": int(ledger),
                "counters": int(counters), "line_counters": int(lines), "cpu": cpu,
                "workers": f"{args.workers} workers ({args.worker_class}, {args.threads} threads)"}
    finally:
        if schema is not None:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


def report(result: dict[str, Any], seconds: float, baseline_seconds: float) -> None:
    load, base = result["load"], result["baseline"]
    completes = len(load["complete"])
    print(f"\n== {result['backend']}: gunicorn {result['workers']}, {len(load['errors'])} errors")
    print(summary("quote", load["quote"], seconds))
    print(summary("complete", load["complete"], seconds))
    print(summary("health", base["health"], baseline_seconds) + "   <- baseline, same server")
    if completes and len(base["health"]):
        ratio = np.percentile(load["complete"], 50) / np.percentile(base["health"], 50)
        print(f"  complete p50 = {ratio:.1f} x health p50")
    cpu = result["cpu"]
    if completes:
        ours = cpu["app"] + cpu["load"] + cpu["database"]
        per = lambda seconds: seconds / completes * 1000  # noqa: E731
        print(f"  CPU per quote + complete pair: app (gunicorn workers) {per(cpu['app']):.1f} ms, database server "
              f"{per(cpu['database']):.1f} ms, load clients {per(cpu['load']):.1f} ms = {per(ours):.1f} ms; the "
              f"machine was busy {100 * cpu['machine'] / cpu['capacity']:.0f} % of its {os.cpu_count()} cores, "
              f"{100 * ours / max(cpu['machine'], 1e-9):.0f} % of that ours; load average {cpu['load_average']:.1f}")
        floor = 2 * float(base["cpu_per_call"][0]) * 1000 if "cpu_per_call" in base else 0.0
        budget = os.cpu_count() * 1000 / TARGET_PAIRS
        print(f"  budget for {TARGET_PAIRS} pairs/s on {os.cpu_count()} cores: {budget:.1f} ms of CPU per pair; two bare "
              f"HTTP calls (health, server + client) cost {floor:.1f} ms and the database server "
              f"{per(cpu['database']):.1f} ms, leaving {budget - floor - per(cpu['database']):.1f} ms for the app's "
              f"own work (it used {per(cpu['app'] + cpu['load']) - floor:.1f} ms)")
        print(f"  => on {os.cpu_count()} idle cores at this CPU cost: at most "
              f"{os.cpu_count() * 1000 / per(cpu['app'] + cpu['database']):.0f} pairs/s for app + database "
              f"(load clients elsewhere), {os.cpu_count() * 1000 / per(ours):.0f} pairs/s with the load clients here")
    if result["backend"] == "postgresql":
        commits, rollbacks, deadlocks = cpu["db"]
        print(f"  database during the load (all its users): {commits} commits, {rollbacks} rollbacks, "
              f"{deadlocks} deadlocks")
    ok = result["recorded"] == len(load["completed"])
    print(f"  recorded checkouts {result['recorded']} for {len(load['completed'])} successful completes; redemptions in ledger "
          f"{result['ledger']} = offer counters {result['counters']} = list-line counters {result['line_counters']}: "
          f"{'OK' if ok and result['ledger'] == result['counters'] == result['line_counters'] else 'MISMATCH'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="load time per database")
    parser.add_argument("--clients", type=int, default=6, help="load processes (one lane each)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--worker-class", default="sync",
                        help="gunicorn worker class: sync (one request at a time per worker; the connection is "
                             "closed after each answer) or gthread (keeps connections alive)")
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker (gthread)")
    parser.add_argument("--py-spy", metavar="PATH", help="sample the gunicorn workers with py-spy during the load "
                                                          "(raw collapsed stacks to PATH.<backend>)")
    parser.add_argument("--lines", type=int, default=30, help="lines per basket")
    parser.add_argument("--members", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--postgres-url", default=os.environ.get("LOYALTY_BENCH_POSTGRES_URL",
                                                                 "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--backends", default="postgresql,sqlite")
    parser.add_argument("--in-process", type=int, default=0, metavar="PAIRS",
                        help="instead of the load: PAIRS quote + complete pairs called in process, printing CPU ms "
                             "and database round trips per call")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench_checkout_"))
    print(f"bench_checkout: {args.clients} load processes x (quote + complete), {args.lines}-line baskets, "
          f"{args.seconds:.0f} s per database, machine with {os.cpu_count()} cores; logs in {workdir}")
    results = [bench_backend(b, args.postgres_url, args, workdir) for b in args.backends.split(",")]
    if args.in_process:
        return
    for result in results:
        report(result, args.seconds, min(5.0, args.seconds))
    if len(results) == 2:
        a, b = (len(r["load"]["complete"]) for r in results)
        if a and b:
            print(f"\n{results[1]['backend']} / {results[0]['backend']} complete throughput: {b / a:.2f}")
    pg = next((r for r in results if r["backend"] == "postgresql"), None)
    if pg is not None and len(pg["load"]["complete"]):
        rate = len(pg["load"]["complete"]) / args.seconds
        p99 = np.percentile(pg["load"]["complete"], 99) * 1000
        print(f"target (PostgreSQL): >= {TARGET_PAIRS} complete/s with p99 < 50 ms: {rate:.0f}/s, p99 {p99:.1f} ms -> "
              f"{'MET' if rate >= TARGET_PAIRS and p99 < 50 else 'NOT MET'}")
    shutil.rmtree(workdir / "instance", ignore_errors=True)


if __name__ == "__main__":
    main()
