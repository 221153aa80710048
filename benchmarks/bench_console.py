"""Console page speed: p95 server time of every console page on a chain of 100k members and
500 offers, on PostgreSQL (target: under 300 ms each).

Builds, in a schema of its own on ``--database-url``:

* the synthetic chain's catalog, stores and ``--members`` members (``loyalty-engine generate``
  and the importers);
* what the console's pages read, at the size a year of the chain gives: one member profile per
  member (the lifecycle job's table), 98 nightly runs of the 3 x 3 grid per category and of the moves between its
  cells (what the store keeps),
  ``--offers`` offers created through the offer service (active, draft, submitted, paused)
  with their live counters, a forecast each and an audit trail, a year of redemptions per
  day and offer (``redemption_days``), a year of redemption ledger rows, the live list builds,
  list content, and 2,000 audit entries per day of the last month;
* NOT the year of scan lines (tens of millions of rows, hours to generate and import here):
  no page reads them. The run checks that: every statement the pages send is recorded and
  the run fails if one reads ``scan_lines``.

Then it signs in as the role each page is for and requests every page ``--requests`` times
(after 3 warm-up requests), timing the server's work per request (Flask's before/after
request hooks), and prints p50/p95 per page, the p95 against the 300 ms target, and against
the cheapest signed-in page (the password form) measured in the same run.

    python benchmarks/bench_console.py [--members 100000] [--offers 500] [--requests 40]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from loyalty_engine.clock import FixedClock  # noqa: E402
from loyalty_engine.config import Config  # noqa: E402
from loyalty_engine.db import make_engine, session_scope  # noqa: E402
from loyalty_engine.shopping_lists.bulk import bulk_insert_columns  # noqa: E402

TODAY = date(2027, 3, 10)
NOW = datetime(2027, 3, 10, 15, 0, tzinfo=timezone.utc)
TARGET_MS = 300.0
PASSWORD = "bench password 123"
CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


def _schema_url(url: str, schema: str) -> str:
    parsed = make_url(url)
    return parsed.set(query={**parsed.query, "options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


def _cli(config: Config, *args: str) -> None:
    from click.testing import CliRunner

    from loyalty_engine.cli import main

    env = {"LOYALTY_DATABASE_URL": config.database_url, "LOYALTY_INSTANCE_PATH": str(config.instance_path),
           "LOYALTY_SECRET_KEY": config.secret_key}
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    if result.exit_code != 0:
        raise SystemExit(f"loyalty-engine {' '.join(args)} failed:\n{result.output}")


def load_chain(config: Config, members: int, work: Path) -> None:
    started = time.perf_counter()
    _cli(config, "generate", "--members", str(members), "--weeks", "1", "--seed", "7",
         "--start-date", (TODAY - timedelta(days=7)).isoformat(), str(work))
    _cli(config, "db", "upgrade")
    for kind in ("manufacturers", "stores", "products", "members"):
        _cli(config, "import", kind, str(work / f"{kind}.csv"))
    print(f"chain: catalog and {members:,} members imported in {time.perf_counter() - started:.1f} s", flush=True)


def fill_profiles(engine, rng: np.random.Generator) -> int:  # type: ignore[no-untyped-def]
    from loyalty_engine.models.members import Member
    from loyalty_engine.models.model_state import MemberProfile

    with session_scope(engine) as s:
        keys = np.array(s.execute(select(Member.id).order_by(Member.id)).scalars().all(), dtype=np.int64)
        n = keys.shape[0]
        stages = np.array(["new", "developing", "established", "declining", "lapsed"])[
            rng.choice(5, n, p=[0.08, 0.17, 0.55, 0.12, 0.08])]
        tiers = np.array(["bronze", "silver", "gold"])[rng.choice(3, n, p=[0.5, 0.3, 0.2])]
        trips = rng.gamma(2.0, 0.6, n)
        columns = {
            "member_key": keys.tolist(), "as_of": [TODAY] * n, "lifecycle_stage": stages.tolist(),
            "value_tier": tiers.tolist(), "weekly_spend_cents": rng.integers(500, 25_000, n).tolist(),
            "clv_cents": rng.integers(1_000, 900_000, n).tolist(), "trips_per_week": np.round(trips, 3).tolist(),
            "norm_trips_per_week": np.round(trips * rng.uniform(0.8, 2.5, n), 3).tolist(),
            "repeat_rate": np.round(rng.uniform(0, 1, n), 3).tolist(),
            "top_category_share": np.round(rng.uniform(0.1, 0.9, n), 3).tolist(),
            "p_alive": np.round(rng.beta(5, 1.5, n), 3).tolist(), "trips": rng.integers(1, 200, n).tolist(),
            "days_since_last_trip": rng.integers(0, 120, n).tolist(),
        }
        return bulk_insert_columns(s, MemberProfile.__table__, columns)  # type: ignore[arg-type]


def fill_segment_cells(engine, members: int, rng: np.random.Generator) -> int:  # type: ignore[no-untyped-def]
    from loyalty_engine.analytics.segment_cells import CELL_NAMES
    from loyalty_engine.analytics.segment_moves import MOVE_CELLS
    from loyalty_engine.models.analytics import SegmentCell, SegmentMove
    from loyalty_engine.models.catalog import Product

    with session_scope(engine) as s:
        categories = list(s.execute(select(Product.category).distinct()).scalars())
        rows: dict[str, list[Any]] = {k: [] for k in ("as_of", "category", "brand_loyalty", "usage_tier", "members",
                                                       "spend_cents", "units", "interval_days")}
        for run in range(98):  # the nightly runs the store keeps (KEEP_DAYS)
            as_of = TODAY - timedelta(days=run)
            for category in categories:
                buyers = rng.multinomial(int(members * rng.uniform(0.05, 0.6)), np.full(10, 0.1))
                for cell, count in zip(CELL_NAMES, buyers):
                    loyalty, _, tier = cell.partition(":")
                    rows["as_of"].append(as_of)
                    rows["category"].append(category)
                    rows["brand_loyalty"].append(loyalty)
                    rows["usage_tier"].append(tier or "unsegmented")
                    rows["members"].append(int(count))
                    rows["spend_cents"].append(int(count) * int(rng.integers(500, 20_000)))
                    rows["units"].append(int(count) * int(rng.integers(2, 40)))
                    rows["interval_days"].append(float(rng.uniform(7, 60)))
        written = bulk_insert_columns(s, SegmentCell.__table__, rows)  # type: ignore[arg-type]
        # the moves between cells of each run against the run two weeks before
        moves: dict[str, list[Any]] = {k: [] for k in ("as_of", "since", "category", "from_cell", "to_cell", "members")}
        for run in range(98):
            as_of = TODAY - timedelta(days=run)
            for category in categories:
                counts = rng.poisson(30, (len(MOVE_CELLS), len(MOVE_CELLS)))
                for i, j in zip(*np.nonzero(counts)):
                    moves["as_of"].append(as_of)
                    moves["since"].append(as_of - timedelta(days=14))
                    moves["category"].append(category)
                    moves["from_cell"].append(MOVE_CELLS[i])
                    moves["to_cell"].append(MOVE_CELLS[j])
                    moves["members"].append(int(counts[i, j]))
        return written + bulk_insert_columns(s, SegmentMove.__table__, moves)  # type: ignore[arg-type]


def create_offers(engine, n_offers: int, rng: np.random.Generator) -> list[int]:  # type: ignore[no-untyped-def]
    """Offers through the offer service (scope resolution, the catalog's rules), then workflow states."""
    from loyalty_engine.models.catalog import Product
    from loyalty_engine.models.offers import Offer
    from loyalty_engine.offers.definition import OfferDefinition
    from loyalty_engine.offers.service import save_offer

    started = time.perf_counter()
    with session_scope(engine) as s:
        brands = s.execute(
            select(Product.brand, Product.category, Product.manufacturer_id, func.min(Product.regular_price_cents))
            .where(Product.brand_type == "national").group_by(Product.brand, Product.category, Product.manufacturer_id)
            .having(func.min(Product.regular_price_cents) > 150).order_by(Product.category, Product.brand)).all()
        ids = []
        for i in range(n_offers):
            brand, category, maker, _price = brands[i % len(brands)]
            status = "active" if i % 10 < 8 else "draft"
            definition = OfferDefinition.model_validate({
                "slug": f"bench-{i:04d}", "name": f"{brand} {category} offer {i}", "funder": "manufacturer",
                "manufacturer": maker, "scope": {"brand": [brand], "within_category": category},
                "targeting": {"cells": ["national", "switcher:high"]} if i % 3 == 0 else {},
                "benefit": {"kind": "amount_off", "low": "0.25", "medium": "0.50", "high": "0.75"},
                "funding": {"share": 100, "handling_fee": "0.08", "budget": str(int(rng.integers(500, 20_000)))},
                "validity": {"from": (TODAY - timedelta(days=30)).isoformat(), "to": (TODAY + timedelta(days=60)).isoformat()},
                "holdout_share": 0.05, "status": status,
            })
            offer, _ = save_offer(s, definition, TODAY)
            ids.append(offer.id)
        offers = s.execute(select(Offer).where(Offer.id.in_(ids))).scalars().all()
        for i, offer in enumerate(offers):
            if offer.status == "draft" and i % 20 == 8:
                offer.status, offer.submitted_by, offer.submitted_at = "submitted", "bench-manager", NOW
            elif offer.status == "active" and i % 25 == 0:
                offer.status = "paused"
            if offer.status in ("active", "paused"):
                offer.funded_spent_cents = int(rng.integers(0, offer.budget_cents or 1))
                offer.discount_given_cents = offer.funded_spent_cents
                offer.redeemed_count = offer.funded_spent_cents // 50
    print(f"offers: {n_offers} created through the offer service in {time.perf_counter() - started:.1f} s", flush=True)
    return ids


def fill_offer_history(engine, offer_ids: list[int], rng: np.random.Generator) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """A year of redemptions per day, the ledger, forecasts, audit entries, live builds, content."""
    from loyalty_engine.models.analytics import OfferForecastRecord, RedemptionDay
    from loyalty_engine.models.console import AuditEntry
    from loyalty_engine.models.lists import ListBuild
    from loyalty_engine.models.offers import ContentItem
    from loyalty_engine.offers.forecast import CELLS
    from loyalty_engine.offers.workflow import definition_digest
    from loyalty_engine.models.offers import Offer

    counts: dict[str, int] = {}
    days = [TODAY - timedelta(days=d) for d in range(1, 366)]
    with session_scope(engine) as s:
        n = len(days) * len(offer_ids)
        apps = rng.poisson(3, n)
        counts["redemption_days"] = bulk_insert_columns(s, RedemptionDay.__table__, {  # type: ignore[arg-type]
            "business_date": [d for d in days for _ in offer_ids], "offer_id": offer_ids * len(days),
            "applications": apps.tolist(), "discount_cents": (apps * 60).tolist(), "funded_cents": (apps * 60).tolist(),
            "handling_fee_cents": (apps * 8).tolist()})
        for offer in s.execute(select(Offer)).scalars():
            cells = [{"cell": c, "targeted": 100, "members": 90, "held_out": 5, "expected_redemptions": 9.5,
                      "expected_face_cents": 700, "expected_funder_cost_cents": 780, "expected_retailer_cost_cents": 0,
                      "expected_handling_fee_cents": 80} for c in CELLS]
            s.add(OfferForecastRecord(offer_id=offer.id, period_start=TODAY, definition_sha256=definition_digest(offer),
                                      computed_at=NOW, computed_by="bench-manager",
                                      body={"offer_id": offer.id, "slug": offer.slug, "period_start": TODAY.isoformat(),
                                            "period_end": (TODAY + timedelta(days=13)).isoformat(), "budget_limited": False,
                                            "remaining_budget_cents": None, "cells": cells, "total": cells[0], "notes": []}))
        counts["offer_forecasts"] = len(offer_ids)
        audit_n = 2_000 * 30
        audit_offers = rng.choice(offer_ids, audit_n)
        counts["audit_log"] = bulk_insert_columns(s, AuditEntry.__table__, {  # type: ignore[arg-type]
            "at": [NOW - timedelta(minutes=int(m)) for m in rng.integers(0, 30 * 24 * 60, audit_n)],
            "actor_user_id": [None] * audit_n, "actor_name": ["bench-manager"] * audit_n,
            "action": ["offer.edit"] * audit_n, "object_type": ["offer"] * audit_n,
            "object_id": [str(i) for i in audit_offers.tolist()],
            # JSON as text: the bulk writer COPYs on PostgreSQL
            "before": [json.dumps({"status": "draft"})] * audit_n,
            "after": [json.dumps({"status": "draft", "name": "x"})] * audit_n})
        for start, cohort in ((TODAY - timedelta(days=9), "A"), (TODAY - timedelta(days=2), "B")):
            s.add(ListBuild(period_start=start, period_end=start + timedelta(days=13), cohort=cohort, as_of=start,
                            status="complete", holdout_seed=1, params={}, counts={}, eligible_members=50_000,
                            holdout_members=2_500, lists_built=47_500, lines_built=475_000, total_face_cents=0,
                            started_at=NOW, finished_at=NOW))
        for i in range(100):
            s.add(ContentItem(slug=f"bench-content-{i}", kind=("recipe", "tip", "perk")[i % 3], title=f"Content {i}",
                              body="Something useful to read on the list.", category=None, priority=i % 5))
    counts["redemptions (ledger)"] = fill_ledger(engine, offer_ids, days, rng)
    return counts


def fill_ledger(engine, offer_ids: list[int], days: list[date], rng: np.random.Generator) -> int:  # type: ignore[no-untyped-def]
    """A year of ledger rows by COPY, with foreign-key triggers off (no checkouts or list lines
    behind them: the pages read the ledger by offer and day only)."""
    n = 400_000
    offer = rng.choice(offer_ids, n)
    day = np.array(days + [TODAY])[rng.integers(0, len(days) + 1, n)]
    columns = ("event", "checkout_id", "transaction_id", "list_id", "list_line_id", "list_line_no", "offer_id",
               "member_key", "store_id", "lane_code", "api_key_id", "business_date", "applications", "units",
               "discount_cents", "funded_cents", "handling_fee_cents", "funder_kind", "request_id", "created_at")
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cur:
            cur.execute("SET session_replication_role = replica")
            with cur.copy(f"COPY redemptions ({', '.join(columns)}) FROM STDIN") as copy:
                for i in range(n):
                    copy.write_row(("redeemed", i + 1, f"S1:1:{i}", i + 1, i + 1, 1, int(offer[i]), 1, "S1", "1", 1,
                                    day[i], 1, 1, 60, 60, 8, "manufacturer", f"r{i}", NOW))
            cur.execute("SET session_replication_role = origin")
        raw.commit()
    finally:
        raw.close()
    return n


def add_users(engine, manager_categories: list[str]) -> None:  # type: ignore[no-untyped-def]
    from loyalty_engine.console.users import create_user

    with session_scope(engine) as s:
        for name, role, kwargs in (("bench-analyst", "analyst", {}), ("bench-approver", "approver", {}),
                                   ("bench-manager", "category_manager", {"categories": manager_categories})):
            create_user(s, name, role, PASSWORD, actor="bench", at=NOW, **kwargs)


def signed_in(app, username: str):  # type: ignore[no-untyped-def]
    client = app.test_client()
    page = client.get("/console/sign-in").get_data(as_text=True)
    token = CSRF.search(page).group(1)  # type: ignore[union-attr]
    answer = client.post("/console/sign-in", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert answer.status_code == 302, answer.status_code
    return client


def measure(app, engine, pages: list[tuple[str, str, str, dict[str, str] | None]], requests: int) -> list[tuple[str, float, float]]:  # type: ignore[no-untyped-def]
    timings: list[float] = []
    statements: list[str] = []

    @app.before_request
    def _start() -> None:
        from flask import g
        g.bench_started = time.perf_counter()

    @app.after_request
    def _stop(response):  # type: ignore[no-untyped-def]
        from flask import g
        if "bench_started" in g:
            timings.append((time.perf_counter() - g.bench_started) * 1000)
        return response

    app_engine = app.extensions["loyalty_engine"]["engine"]

    @event.listens_for(app_engine, "before_cursor_execute")
    def _record(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    clients: dict[str, Any] = {}
    results = []
    for label, user, path, form in pages:
        client = clients.setdefault(user, signed_in(app, user))
        token = None
        if form is not None:
            token = CSRF.search(client.get(path).get_data(as_text=True)).group(1)  # type: ignore[union-attr]
        for i in range(3 + requests):
            if i == 3:
                timings.clear()
            answer = client.post(path, data={**form, "csrf_token": token}) if form is not None else client.get(path)
            if answer.status_code != 200:
                raise SystemExit(f"{label}: {path} answered {answer.status_code}")
        results.append((label, float(np.percentile(timings, 50)), float(np.percentile(timings, 95))))
    read_scans = [s for s in statements if re.search(r"\bscan_lines\b", s)]
    if read_scans:
        raise SystemExit(f"a console page read scan lines: {read_scans[0][:200]}")
    print(f"{len(statements):,} statements sent by the pages; none reads scan_lines", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--offers", type=int, default=500)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--database-url", default=os.environ.get(
        "LOYALTY_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args()
    if make_url(args.database_url).get_backend_name() != "postgresql":
        raise SystemExit("the console's target is on PostgreSQL: give a postgresql+psycopg:// URL")
    from loyalty_engine.app import create_app, dispose_engines

    schema = f"bench_console_{uuid.uuid4().hex[:8]}"
    admin = make_engine(args.database_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = _schema_url(args.database_url, schema)
    rng = np.random.default_rng(12)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = Config(database_url=url, instance_path=Path(tmp) / "instance", secret_key="bench-" + uuid.uuid4().hex).resolved()
            load_chain(config, args.members, Path(tmp) / "chain")
            engine = make_engine(url)
            started = time.perf_counter()
            profiles = fill_profiles(engine, rng)
            cells = fill_segment_cells(engine, args.members, rng)
            print(f"aggregates: {profiles:,} member profiles, {cells:,} segment cells and moves in "
                  f"{time.perf_counter() - started:.1f} s", flush=True)
            offer_ids = create_offers(engine, args.offers, rng)
            started = time.perf_counter()
            counts = fill_offer_history(engine, offer_ids, rng)
            print("history: " + ", ".join(f"{v:,} {k}" for k, v in counts.items())
                  + f" in {time.perf_counter() - started:.1f} s", flush=True)
            with engine.begin() as conn:
                conn.execute(text("ANALYZE"))
            from loyalty_engine.models.offers import Offer

            with session_scope(engine) as s:
                offer = s.execute(select(Offer).where(Offer.status == "active").order_by(Offer.id)).scalars().first()
                submitted = s.execute(select(Offer.id).where(Offer.status == "submitted")).scalars().first()
                draft = s.execute(select(Offer).where(Offer.status == "draft").order_by(Offer.id)).scalars().first()
                draft_id = draft.id
                categories = sorted({offer.segment_category, draft.segment_category})
                top_category = s.execute(text(
                    "SELECT category FROM segment_cells GROUP BY category ORDER BY sum(members) DESC LIMIT 1")).scalar_one()
            add_users(engine, categories)
            app = create_app(config)
            app.extensions["loyalty_engine"]["clock"] = FixedClock(NOW)
            pages: list[tuple[str, str, str, dict[str, str] | None]] = [
                ("password form (floor)", "bench-analyst", "/console/account/password", None),
                ("dashboard", "bench-analyst", "/console/dashboard", None),
                ("offers list (all)", "bench-analyst", "/console/offers", None),
                ("offers list, active", "bench-analyst", "/console/offers?status=active", None),
                ("offer page", "bench-analyst", f"/console/offers/{offer.id}", None),
                ("offer page, submitted", "bench-approver", f"/console/offers/{submitted}", None),
                ("approval queue", "bench-approver", "/console/approvals", None),
                ("wizard", "bench-manager", "/console/offers/new", None),
                ("wizard: scope search", "bench-manager", "/console/offers/new",
                 {"action": "search", "search_kind": "brand", "search": "a", "segment_category": top_category}),
                ("edit an offer", "bench-manager", f"/console/offers/{draft_id}/edit", None),
                ("segments", "bench-analyst", f"/console/segments?category={top_category}", None),
                ("members at risk", "bench-analyst", "/console/members-at-risk", None),
                ("content", "bench-analyst", "/console/content", None),
            ]
            results = measure(app, engine, pages, args.requests)
            dispose_engines(app)
            engine.dispose()
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    floor = results[0][2]
    print(f"\nconsole pages, {args.members:,} members, {args.offers} offers, PostgreSQL; "
          f"{args.requests} requests per page (server time, ms)")
    print(f"{'page':28} {'p50':>8} {'p95':>8} {'p95/300ms':>10} {'p95/floor':>10}")
    for label, p50, p95 in results:
        print(f"{label:28} {p50:8.1f} {p95:8.1f} {p95 / TARGET_MS:10.2f} {p95 / floor:10.1f}")
    worst = max(results, key=lambda r: r[2])
    print(f"\nslowest p95: {worst[0]} {worst[2]:.1f} ms: {'within' if worst[2] < TARGET_MS else 'OVER'} the 300 ms target")


if __name__ == "__main__":
    main()
