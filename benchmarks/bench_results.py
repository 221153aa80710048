"""Speed of results, manufacturer analytics and statements for one list period.

Builds a chain straight into a fresh database (bulk inserts, not the lanes: this measures
the readers): ``--members`` members (default 100,000) with one list each of ``--lines`` offer
lines (default 10) out of 500 offers from 25 funders in 50 categories, a 5 % per-offer
hold-out, a ledger of about one redemption per line (3 % of them returned: ~1M rows at
100k members), and scans: 4 baskets of 6 lines per member in the two-week period, 8 in the
8 weeks before.

Timed, in the same run:

* baseline: a bare ``GROUP BY`` over the ledger (funder, offer) and one over the window's
  scan lines (product), i.e. the least any reader of those rows must pay;
* results: ``loyalty_engine.results.store.compute_period`` (delivery, money, accuracy, lift);
* analytics: ``period_analytics`` for every funder in one pass (trial, repeat, source of
  volume, lift, suppression);
* statements: issuing every funder's statement with its PDF and CSV.

Prints seconds, rows/s and the ratio to the baseline, and checks that the statements add up,
to the cent, to an independent SQL sum over the ledger.

    .venv/bin/python benchmarks/bench_results.py --members 20000
    .venv/bin/python benchmarks/bench_results.py --members 100000 --database-url postgresql+psycopg://...
"""
from __future__ import annotations

import argparse
import cProfile
import dataclasses
import hashlib
import inspect
import json
import os
import shutil
import sqlite3
import io
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from sqlalchemy import Engine, event, text
from sqlalchemy.engine import make_url

from loyalty_engine import migrate
from loyalty_engine.config import Config
from loyalty_engine.db import make_engine
from loyalty_engine.list_numbers import make_list_number
from loyalty_engine.results.analytics import period_analytics
from loyalty_engine.results.statement_files import issue_and_write
from loyalty_engine.results.store import compute, compute_period

P0, P1 = date(2027, 3, 1), date(2027, 3, 14)
N_OFFERS, N_FUNDERS, N_CATS, N_STORES = 500, 25, 50, 20


# --------------------------------------------------------------------------- bulk loading


def load(engine: Engine, table: str, columns: dict[str, Sequence[Any] | np.ndarray]) -> None:
    """Insert aligned columns: COPY on PostgreSQL, executemany in chunks on SQLite."""
    names = list(columns)
    n = len(next(iter(columns.values())))
    cols = [c.tolist() if isinstance(c, np.ndarray) else list(c) for c in columns.values()]
    rows = list(zip(*cols))
    if engine.dialect.name == "postgresql":
        raw = engine.raw_connection()
        try:
            with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            raw.commit()
        finally:
            raw.close()
        return
    sql = text(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join(':' + c for c in names)})")
    with engine.begin() as conn:
        for i in range(0, n, 100_000):
            conn.execute(sql, [dict(zip(names, r)) for r in rows[i:i + 100_000]])


def build_chain(engine: Engine, members: int, lines: int, seed: int) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    now = datetime(2027, 2, 1, tzinfo=timezone.utc)
    stores = [f"S{i:02d}" for i in range(N_STORES)]
    load(engine, "stores", {"id": stores, "name": stores, "timezone": ["America/Chicago"] * N_STORES,
                            "address_line": [""] * N_STORES, "city": [""] * N_STORES, "region": [""] * N_STORES,
                            "postal_code": [""] * N_STORES, "is_placeholder": [False] * N_STORES})
    funders = [f"MFR{i:02d}" for i in range(N_FUNDERS)]
    load(engine, "manufacturers", {"id": funders, "name": [f"Maker {i}" for i in range(N_FUNDERS)],
                                   "gs1_company_prefix": [f"07{i:05d}" for i in range(N_FUNDERS)],
                                   "is_placeholder": [False] * N_FUNDERS})
    # 50 categories x 20 products: 4 national brands of 4 products, 4 store-brand products
    pid = np.arange(1, N_CATS * 20 + 1)
    cat = (pid - 1) // 20
    slot = (pid - 1) % 20
    national = slot < 16
    brand = np.where(national, slot // 4, 4)
    maker = np.array([funders[(c + b) % N_FUNDERS] if n else None for c, b, n in zip(cat, brand, national)], dtype=object)
    load(engine, "products", {
        "id": pid, "sku": [f"{p:08d}" for p in pid], "name": [f"Product {p}" for p in pid],
        "department": ["Grocery"] * len(pid), "category": [f"C{c:02d}" for c in cat],
        "subcategory": [f"C{c:02d}" for c in cat], "brand": [f"B{c:02d}-{b}" if n else "Store" for c, b, n in
                                                            zip(cat, brand, national)],
        "brand_type": np.where(national, "national", "store"), "manufacturer_id": maker,
        "size": [""] * len(pid), "regular_price_cents": rng.integers(199, 999, len(pid)),
        "is_placeholder": [False] * len(pid)})
    # 500 offers: offer j = brand (j // 50) % 4 of category j % 50, funded by that brand's maker
    oid = np.arange(1, N_OFFERS + 1)
    o_cat, o_brand = (oid - 1) % N_CATS, ((oid - 1) // N_CATS) % 4
    share = rng.choice([10000, 7500, 5000], N_OFFERS)
    fee = rng.choice([0, 8, 10], N_OFFERS)
    benefit = rng.choice([50, 100, 150, 200], N_OFFERS)
    load(engine, "offers", {
        "id": oid, "slug": [f"offer-{o}" for o in oid], "offer_code": [f"{100000 + o}" for o in oid],
        "name": [f"Offer {o}" for o in oid], "description": [""] * N_OFFERS, "funder_kind": ["manufacturer"] * N_OFFERS,
        "manufacturer_id": [funders[(c + b) % N_FUNDERS] for c, b in zip(o_cat, o_brand)],
        "scope_kind": ["brand"] * N_OFFERS, "scope_values": ['["x"]'] * N_OFFERS, "scope_brand_type": ["national"] * N_OFFERS,
        "scope_category": [f"C{c:02d}" for c in o_cat], "segment_category": [f"C{c:02d}" for c in o_cat],
        "department": [""] * N_OFFERS, "match_on": ["scope"] * N_OFFERS, "min_probability": [0.0] * N_OFFERS,
        "benefit_kind": ["amount_off"] * N_OFFERS, "benefit_low": benefit, "benefit_medium": benefit,
        "benefit_high": benefit, "min_quantity": [1] * N_OFFERS, "redemption_limit": [1] * N_OFFERS,
        "stackable": [False] * N_OFFERS, "funded_share_bp": share, "handling_fee_cents": fee,
        "valid_from": [P0] * N_OFFERS, "valid_to": [P1] * N_OFFERS, "status": ["active"] * N_OFFERS,
        "holdout_share": [0.05] * N_OFFERS, "redeemed_count": [0] * N_OFFERS, "funded_spent_cents": [0] * N_OFFERS,
        "discount_given_cents": [0] * N_OFFERS, "definition": ["{}"] * N_OFFERS, "created_at": [now] * N_OFFERS,
        "updated_at": [now] * N_OFFERS})
    scope_offer = np.repeat(oid, 4)
    scope_product = (((oid - 1) % N_CATS) * 20 + ((oid - 1) // N_CATS % 4) * 4 + 1)[:, None] + np.arange(4)
    load(engine, "offer_products", {"offer_id": scope_offer, "product_key": scope_product.ravel()})
    # members, one list each, ``lines`` distinct offers per list (base + i * step, step < 50)
    mid = np.arange(1, members + 1)
    home = rng.integers(0, N_STORES, members)
    load(engine, "members", {
        "id": mid, "member_id": [f"M{m:07d}" for m in mid], "card_number": [f"4{m:09d}" for m in mid],
        "first_name": [""] * members, "last_name": [""] * members, "email": [""] * members,
        "address_line": [""] * members, "city": [""] * members, "region": [""] * members,
        "postal_code": [""] * members, "home_store_id": [stores[h] for h in home], "enrolled_at": [date(2025, 1, 1)] * members,
        "mail_opt_in": [True] * members, "app_opt_in": [False] * members, "status": ["active"] * members,
        "is_placeholder": [False] * members})
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO list_builds (id, period_start, period_end, cohort, as_of, status, holdout_seed, "
                          "params, counts, eligible_members, holdout_members, lists_built, lines_built, total_face_cents, "
                          "started_at) VALUES (1, :a, :b, 'A', :a, 'complete', 1, '{}', '{}', 0, 0, 0, 0, 0, :t)"),
                     {"a": P0, "b": P1, "t": now})
    load(engine, "shopping_lists", {
        "id": mid, "list_number": [make_list_number(m) for m in mid], "build_id": np.ones(members, dtype=np.int64),
        "member_key": mid, "store_id": [stores[h] for h in home], "period_start": [P0] * members,
        "period_end": [P1] * members, "cohort": ["A"] * members, "kind": ["regular"] * members,
        "status": ["active"] * members, "lifecycle_stage": rng.choice(["new", "established", "declining"], members),
        "value_tier": np.zeros(members, dtype=np.int64), "face_cap_cents": np.zeros(members, dtype=np.int64),
        "total_face_cents": np.zeros(members, dtype=np.int64), "line_count": np.full(members, lines),
        "created_at": [now] * members})
    base = rng.integers(0, N_OFFERS, members)
    step = rng.integers(1, 50, members)
    line_offer = (base[:, None] + np.arange(lines)[None, :] * step[:, None]) % N_OFFERS + 1
    n_lines = members * lines
    line_list = np.repeat(mid, lines)
    loyalty = rng.choice(["national", "store", "switcher", ""], n_lines, p=[0.4, 0.25, 0.25, 0.1])
    tier = np.where(loyalty == "", "", rng.choice(["low", "medium", "high"], n_lines))
    line_benefit = benefit[line_offer.ravel() - 1]
    load(engine, "shopping_list_lines", {
        "id": np.arange(1, n_lines + 1), "list_id": line_list, "line_no": np.tile(np.arange(1, lines + 1), members),
        "offer_id": line_offer.ravel(), "description": [""] * n_lines, "benefit_text": [""] * n_lines,
        "department": [""] * n_lines, "category": [""] * n_lines, "brand_loyalty": loyalty, "usage_tier": tier,
        "benefit_kind": ["amount_off"] * n_lines, "benefit_value": line_benefit, "min_quantity": np.ones(n_lines, dtype=np.int64),
        "redemption_limit": np.ones(n_lines, dtype=np.int64), "face_value_cents": line_benefit,
        "valid_from": [P0] * n_lines, "valid_to": [P1] * n_lines, "probability": rng.random(n_lines).round(4),
        "expected_value_cents": np.zeros(n_lines, dtype=np.int64), "reason": ["{}"] * n_lines,
        "redeemed_count": np.zeros(n_lines, dtype=np.int64)})
    # hold-outs: about 5 % per offer, a (member, offer) pair the member's list does not carry
    held = np.flatnonzero(rng.random(members) < 0.05 * lines)
    h_offer = (base[held] + lines * step[held]) % N_OFFERS + 1
    load(engine, "list_holdouts", {
        "build_id": np.ones(len(held), dtype=np.int64), "period_start": [P0] * len(held), "member_key": mid[held],
        "offer_id": h_offer, "probability": rng.random(len(held)).round(4),
        "brand_loyalty": rng.choice(["national", "store", "switcher"], len(held)),
        "usage_tier": rng.choice(["low", "medium", "high"], len(held)), "lifecycle_stage": ["established"] * len(held),
        "list_kind": [""] * len(held)})
    n_ledger = _ledger(engine, rng, line_list, line_offer.ravel(), line_benefit, share, fee, home, stores, funders,
                       o_cat, o_brand, now)
    n_scans = _scans(engine, rng, mid, home, stores, line_offer, scope_product)
    return {"members": members, "lines": n_lines, "ledger": n_ledger, "scan_lines": n_scans}


def _ledger(engine: Engine, rng: np.random.Generator, line_list: np.ndarray, line_offer: np.ndarray,
            line_benefit: np.ndarray, share: np.ndarray, fee: np.ndarray, home: np.ndarray, stores: list[str],
            funders: list[str], o_cat: np.ndarray, o_brand: np.ndarray, now: datetime) -> int:
    """About one redemption per line, 3 % of them returned later in the period."""
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO lanes (id, store_id, lane_code, description, created_at) VALUES (1, 'S00', '1', '', :t)"),
                     {"t": now})
        conn.execute(text("INSERT INTO lane_api_keys (id, lane_id, key_id, secret_sha256, created_at) "
                          "VALUES (1, 1, 'bench', :s, :t)"), {"s": "0" * 64, "t": now})
        conn.execute(text(
            "INSERT INTO checkouts (id, store_id, lane_code, pos_transaction_id, transaction_id, kind, status, "
            "business_date, request_sha256, request_body, response_status, response_body, total_amount_cents, "
            "total_discount_cents, api_key_id, request_id, completed_at) VALUES (1, 'S00', '1', 'bench', 'bench', "
            "'sale', 'completed', :d, :s, '{}', 200, :b, 0, 0, 1, 'bench', :t)"),
            {"d": P0, "s": "0" * 64, "b": b"{}", "t": now})
    redeemed = np.flatnonzero(rng.random(len(line_list)) < 0.97)
    returned = redeemed[rng.random(len(redeemed)) < 0.03]
    n_r, n_x = len(redeemed), len(returned)
    ids = np.arange(1, n_r + n_x + 1)
    lines_all = np.concatenate([redeemed, returned])
    offer = line_offer[lines_all]
    sign = np.concatenate([np.ones(n_r, dtype=np.int64), -np.ones(n_x, dtype=np.int64)])
    discount = line_benefit[lines_all]
    funded = (discount * share[offer - 1] + 5000) // 10000
    day = np.concatenate([rng.integers(0, 10, n_r), rng.integers(10, 14, n_x)])
    reverses = np.concatenate([np.full(n_r, None, dtype=object), (np.searchsorted(redeemed, returned) + 1).astype(object)])
    members = line_list[lines_all]
    load(engine, "redemptions", {
        "id": ids, "event": np.where(sign > 0, "redeemed", "reversed"), "checkout_id": np.ones(len(ids), dtype=np.int64),
        "transaction_id": ["bench"] * len(ids), "list_id": members, "list_line_id": lines_all + 1,
        "list_line_no": lines_all % 10 + 1, "offer_id": offer, "member_key": members,
        "store_id": [stores[h] for h in home[members - 1]], "lane_code": ["1"] * len(ids),
        "api_key_id": np.ones(len(ids), dtype=np.int64), "business_date": [P0 + timedelta(days=int(d)) for d in day],
        "applications": sign, "units": sign, "discount_cents": sign * discount, "funded_cents": sign * funded,
        "handling_fee_cents": sign * fee[offer - 1], "funder_kind": ["manufacturer"] * len(ids),
        "manufacturer_id": [funders[(o_cat[o - 1] + o_brand[o - 1]) % N_FUNDERS] for o in offer],
        "reverses_id": reverses, "reversal_kind": np.where(sign > 0, None, "return").astype(object),
        "request_id": ["bench"] * len(ids), "created_at": [datetime(2027, 3, 15, tzinfo=timezone.utc)] * len(ids)})
    return len(ids)


def _scans(engine: Engine, rng: np.random.Generator, mid: np.ndarray, home: np.ndarray, stores: list[str],
           line_offer: np.ndarray, scope_product: np.ndarray) -> int:
    """4 baskets in the period (half their lines from the member's offers' scopes), 8 before it."""
    members = len(mid)
    days = np.concatenate([rng.integers(0, 14, (members, 4)), rng.integers(-56, 0, (members, 8))], axis=1)
    n_tx = members * 12
    tx_member = np.repeat(mid, 12)
    tx_day = days.ravel()
    tx_ids = [f"B{i}" for i in range(n_tx)]
    dates = [P0 + timedelta(days=int(d)) for d in tx_day]
    load(engine, "transactions", {
        "transaction_id": tx_ids, "store_id": [stores[h] for h in home[tx_member - 1]], "member_key": tx_member,
        "scanned_at_local": [datetime(d.year, d.month, d.day, 12) for d in dates], "utc_offset_minutes": np.zeros(n_tx, dtype=np.int64),
        "business_date": dates, "source": ["import"] * n_tx})
    per = 6
    n = n_tx * per
    line_tx = np.repeat(np.arange(n_tx), per)
    random_product = rng.integers(1, N_CATS * 20 + 1, n)
    own = line_offer[tx_member[line_tx] - 1, rng.integers(0, line_offer.shape[1], n)]
    own_product = scope_product[own - 1, rng.integers(0, 4, n)]
    product = np.where(rng.random(n) < 0.5, own_product, random_product)
    qty = rng.integers(1, 3, n)
    load(engine, "scan_lines", {
        "transaction_id": [tx_ids[t] for t in line_tx], "line_no": np.tile(np.arange(1, per + 1), n_tx),
        "product_key": product, "member_key": tx_member[line_tx], "business_date": [dates[t] for t in line_tx],
        "quantity": qty, "amount_cents": qty * rng.integers(199, 999, n), "discount_cents": np.zeros(n, dtype=np.int64)})
    return n


# --------------------------------------------------------------------------- timing


class Meter:
    """Wall and CPU seconds of a part: this process's CPU, plus on PostgreSQL the CPU of the
    server backends serving this engine's connections (read from /proc, same machine)."""

    def __init__(self, engine: Engine) -> None:
        self.backends: set[int] = set()
        if engine.dialect.name == "postgresql":
            engine.dispose()  # the pool's connections from the build were made before the listener
            event.listen(engine, "connect", self._remember)

    def _remember(self, dbapi_connection: Any, _record: Any) -> None:
        with dbapi_connection.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            self.backends.add(int(cur.fetchone()[0]))

    def db_cpu(self) -> float:
        total = 0.0
        for pid in self.backends:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # a backend that ended (its CPU is lost to the count)
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def run(self, fn) -> tuple[float, float, float]:  # type: ignore[no-untyped-def]
        """(wall, process CPU, database backend CPU) seconds of ``fn()``."""
        wall, cpu, db = time.perf_counter(), time.process_time(), self.db_cpu()
        fn()
        return time.perf_counter() - wall, time.process_time() - cpu, self.db_cpu() - db


def report(label: str, seconds: float, rows: int, baseline: float | None = None, cpu: str = "") -> None:
    ratio = f"  {seconds / baseline:6.1f}x baseline" if baseline else ""
    print(f"{label:<46} {seconds:8.2f} s  {rows / seconds:>12,.0f} rows/s{ratio}{cpu}", flush=True)


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--lines", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--joined-baseline", action="store_true",
                        help="also time the scan baseline joined to the baskets (as the earlier figures did)")
    parser.add_argument("--analytics-again", action="store_true",
                        help="also time analytics computed on demand, as the CLI's `analytics` does (not in the total)")
    parser.add_argument("--database-url", default="", help="PostgreSQL URL (a schema of its own is made); default SQLite")
    parser.add_argument("--chain-cache", default="", help="SQLite only: reuse the chain built into this file "
                        "(built there on the first run; each run works on a copy)")
    parser.add_argument("--keep-schema", default="", help="PostgreSQL only: build the chain into this schema once "
                        "and keep it (later runs empty what a run writes and reuse it)")
    parser.add_argument("--profile", default="", help="write a cProfile of the timed part to this file")
    parser.add_argument("--hash", action="store_true",
                        help="print a hash of every result row, analytics report and statement (answers unchanged?)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url, cleanup = _database(args.database_url, Path(tmp), args.keep_schema)
        engine = make_engine(url)
        try:
            run(engine, url, args, Path(tmp))
        finally:
            engine.dispose()
            cleanup()


def _database(pg_url: str, tmp: Path, keep: str = ""):  # type: ignore[no-untyped-def]
    """The database URL and its cleanup: a SQLite file in ``tmp``, or a PostgreSQL schema of its
    own (``keep``: that schema, kept for the next run with the chain in it)."""
    if not pg_url:
        return f"sqlite:///{tmp / 'bench.db'}", lambda: None
    schema = keep or f"bench_results_{uuid.uuid4().hex[:8]}"
    admin = make_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    parsed = make_url(pg_url)
    url = parsed.set(query={**parsed.query, "options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)

    def cleanup() -> None:
        if not keep:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return url, cleanup


# what a run writes: emptied before a run on a kept PostgreSQL chain
_WRITTEN = ("statement_coverage", "statement_lines", "statements", "result_analytics", "result_rows", "result_periods")


def _chain(engine: Engine, args: argparse.Namespace, tmp: Path) -> dict[str, int]:
    """Build the chain, or copy it from ``--chain-cache`` (SQLite) when it was built there before."""
    cache = Path(args.chain_cache) if args.chain_cache and engine.dialect.name == "sqlite" else None
    target = tmp / "bench.db"
    if args.keep_schema and engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            built = conn.execute(text("SELECT to_regclass('bench_sizes')")).scalar()
            if built is not None:
                conn.execute(text(f"TRUNCATE {', '.join(_WRITTEN)}"))
                conn.exec_driver_sql("ANALYZE")
                return dict(conn.execute(text("SELECT name, value FROM bench_sizes")).all())
    if cache is not None and cache.exists():
        engine.dispose()
        shutil.copyfile(cache, target)
        return json.loads(cache.with_suffix(".json").read_text())
    migrate.upgrade(engine)
    sizes = build_chain(engine, args.members, args.lines, args.seed)
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    if args.keep_schema and engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE bench_sizes (name TEXT, value BIGINT)"))
            conn.execute(text("INSERT INTO bench_sizes VALUES (:n, :v)"), [{"n": k, "v": v} for k, v in sizes.items()])
    if cache is not None:
        engine.dispose()
        with sqlite3.connect(target) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        shutil.copyfile(target, cache)
        cache.with_suffix(".json").write_text(json.dumps(sizes))
    return sizes


def run(engine: Engine, url: str, args: argparse.Namespace, tmp: Path) -> None:
    start = time.perf_counter()
    sizes = _chain(engine, args, tmp)
    print(f"{engine.dialect.name}: {sizes['members']:,} members, {N_OFFERS} offers, {sizes['lines']:,} list lines, "
          f"{sizes['ledger']:,} ledger rows, {sizes['scan_lines']:,} scan lines (built in "
          f"{time.perf_counter() - start:.0f} s)", flush=True)
    meter = Meter(engine)
    print(f"load average at the start (1, 5, 15 min): {load_average()}", flush=True)
    ledger_sql = text("SELECT manufacturer_id, offer_id, COUNT(*), SUM(applications), SUM(discount_cents), "
                      "SUM(funded_cents), SUM(handling_fee_cents) FROM redemptions GROUP BY manufacturer_id, offer_id")
    # the window's scan lines: alone (what results and analytics read) and joined to their baskets
    scans_sql = text("SELECT product_key, SUM(quantity), SUM(amount_cents) FROM scan_lines "
                     "WHERE business_date BETWEEN :a AND :b GROUP BY product_key")
    joined_sql = text("SELECT s.product_key, SUM(s.quantity), SUM(s.amount_cents) FROM transactions t "
                      "JOIN scan_lines s ON s.transaction_id = t.transaction_id "
                      "WHERE t.business_date BETWEEN :a AND :b GROUP BY s.product_key")

    def bare(sql, **params):  # type: ignore[no-untyped-def]
        with engine.connect() as conn:
            conn.execute(sql, params).all()

    window = {"a": P0 - timedelta(weeks=12), "b": P1}
    ledger_base = meter.run(lambda: bare(ledger_sql))[0]
    report("baseline: GROUP BY over the ledger", ledger_base, sizes["ledger"])
    scans_base = meter.run(lambda: bare(scans_sql, **window))[0]
    report("baseline: GROUP BY over the window's scan lines", scans_base, sizes["scan_lines"])
    if args.joined_baseline:  # the baseline of the earlier figures in docs/results.md
        report("  (the same joined to their baskets)", meter.run(lambda: bare(joined_sql, **window))[0],
               sizes["scan_lines"])
    # CPU time: the shared machine's load would blur wall-clock profiles
    profiler = cProfile.Profile(time.process_time) if args.profile else None
    if profiler is not None:
        profiler.enable()
    parts: dict[str, float] = {}
    # an older compute_period (to compare against in the same conditions) has no timings
    split = "timings" in inspect.signature(compute_period).parameters
    wall, cpu, db = meter.run(lambda: compute_period(engine, P0, **({"timings": parts} if split else {})))
    if split:
        report("results (compute_period: every dimension, lift)", parts["results"], sizes["lines"], scans_base)
        report(f"analytics ({N_FUNDERS} funders, stored by compute_period)", parts["analytics"], sizes["lines"],
               scans_base)
    else:
        report(f"results + analytics ({N_FUNDERS} funders): compute_period", wall, sizes["lines"], scans_base)
    print(f"  CPU seconds: this process {cpu:.1f} s" + (f" + database backends {db:.1f} s" if meter.backends else ""))
    config = Config(database_url=url, instance_path=tmp / "instance", secret_key="bench").resolved()
    issued: list[Any] = []
    s_wall, s_cpu, s_db = meter.run(lambda: issued.extend(issue_and_write(
        config, engine, P0, None, as_of=P1 + timedelta(days=1), now=datetime.now(timezone.utc))))
    report(f"statements ({N_FUNDERS} funders, PDF + CSV)", s_wall, sizes["ledger"], ledger_base)
    print(f"  CPU seconds: this process {s_cpu:.1f} s" + (f" + database backends {s_db:.1f} s" if meter.backends else ""))
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
    total = wall + s_wall
    db_note = f" + database backends {db + s_db:.1f} s" if engine.dialect.name == "postgresql" else " (SQLite runs in it)"
    print(f"total (results + analytics + statements): {total:.1f} s (target < 60 s), "
          f"{(sizes['scan_lines'] + sizes['ledger']) / total:,.0f} scan and ledger rows/s, "
          f"{total / (scans_base + ledger_base):.1f}x the two baselines together", flush=True)
    print(f"CPU seconds: this process {cpu + s_cpu:.1f} s{db_note}; "
          f"load average at the end: {load_average()}", flush=True)
    if args.analytics_again:
        def analytics() -> None:
            with engine.connect() as conn:
                reports = period_analytics(conn, P0, [f"MFR{i:02d}" for i in range(N_FUNDERS)], min_group_size=10,
                                           trial_weeks=8)
            assert len(reports) == N_FUNDERS

        report("(not in the total) analytics again, on demand (CLI)", meter.run(analytics)[0], sizes["lines"],
               scans_base)
    with engine.connect() as conn:
        due = conn.execute(text("SELECT SUM(funded_cents + handling_fee_cents) FROM redemptions")).scalar_one()
    billed = sum(doc.total_due_cents for doc, _created, _files in issued)
    assert billed == due, (billed, due)
    print(f"statements: {len(issued)} issued, ${billed / 100:,.2f} due = the ledger's SQL sum to the cent")
    if args.hash:
        print_hashes(engine, issued)


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def print_hashes(engine: Engine, issued: list[Any]) -> None:
    """Hashes of what the period's readers get: the stored result rows, the stored analytics
    reports, analytics computed again, and every statement's lines and totals."""
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT dimension, key, offer_id, manufacturer_id, data FROM result_rows "
                                   "ORDER BY dimension, id")).all()
        summary = conn.execute(text("SELECT summary FROM result_periods")).scalar_one()
        reports = conn.execute(text("SELECT manufacturer_id, min_group_size, trial_weeks, report FROM result_analytics "
                                    "ORDER BY manufacturer_id")).all()
        computed = compute(conn, P0)
        again = {f: r.as_dict() for f, r in period_analytics(conn, P0, None, min_group_size=10, trial_weeks=8).items()}
    as_json = [(d, k, o, m, data if isinstance(data, dict) else json.loads(data)) for d, k, o, m, data in stored]
    summary = summary if isinstance(summary, dict) else json.loads(summary)
    statements = [(doc.number, doc.total_due_cents, [dataclasses.astuple(x) for x in doc.lines]) for doc, _c, _f in issued]
    print(f"hash result rows stored: {_digest(as_json)} ({len(as_json)} rows); summary {_digest(summary)}")
    print(f"hash result rows computed: {_digest(computed)}")
    print(f"hash analytics stored: {_digest([(m, k, w, r if isinstance(r, dict) else json.loads(r)) for m, k, w, r in reports])}"
          f" ({len(reports)} funders); computed (trial 8 weeks): {_digest(again)}")
    print(f"hash statements: {_digest(statements)} ({len(statements)} statements)")


if __name__ == "__main__":
    main()
