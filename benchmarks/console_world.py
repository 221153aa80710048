"""The chain the console benchmark measures: 100k members, a year of scans, 500 offers,
a list period built, redeemed, with its results, analytics and statements stored, and every
aggregate the console's pages read. PostgreSQL only (COPY and ``generate_series``).

Reuses ``bench_results.build_chain`` (stores, funders, products, 500 offers, one list per
member, hold-outs, the period's ledger, 12 weeks of baskets), adds the rest of the year of
baskets in SQL, then ``results.store.compute_period`` and ``statement_files.issue_and_write``
(the real readers and writers), and the console's nightly aggregates at the size a year of
the chain gives (member profiles, 98 nightly segment grids and moves, a year of redemptions
per day and of ledger rows, forecasts, 60,000 audit entries, content, lanes and users).
"""
from __future__ import annotations

import json
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench_results  # noqa: E402
from bench_results import P0, P1  # noqa: E402
from loyalty_engine import migrate  # noqa: E402
from loyalty_engine.config import Config  # noqa: E402
from loyalty_engine.db import session_scope  # noqa: E402
from loyalty_engine.shopping_lists.bulk import bulk_insert_columns  # noqa: E402

# The period bench_results builds (2027-03-01..14) is over, its statements are issued, and the
# next two cohorts' lists are live: "today" is in the week after.
TODAY = date(2027, 3, 24)
NOW = datetime(2027, 3, 24, 15, 0, tzinfo=timezone.utc)
PASSWORD = "bench password 123"
MANAGER_CATEGORIES = 5
# tables bench_results fills with explicit ids: their sequences move past them so later rows fit
EXPLICIT_IDS = ("offers", "list_builds", "shopping_lists", "shopping_list_lines", "redemptions", "lanes",
                "lane_api_keys", "checkouts", "members", "products")


def timed(label: str, fn, *args: Any) -> Any:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    out = fn(*args)
    print(f"  {label}: {time.perf_counter() - started:.1f} s" + (f" ({out})" if out is not None else ""), flush=True)
    return out


def build_world(engine: Engine, config: Config, members: int, scan_weeks: int, rng: np.random.Generator) -> dict[str, Any]:
    """Everything, in order; returns the objects the pages are requested with."""
    migrate.upgrade(engine)
    sizes = timed("chain (bench_results.build_chain)", bench_results.build_chain, engine, members, 10, 7)
    _move_sequences(engine)
    timed("the rest of the year of baskets", add_year_of_scans, engine, scan_weeks)
    _analyze(engine)
    from loyalty_engine.results.statement_files import issue_and_write
    from loyalty_engine.results.store import compute_period

    timed("results and analytics of the period (compute_period)", lambda: len(compute_period(
        engine, P0, now=NOW - timedelta(days=9), min_group_size=config.min_group_size,
        trial_weeks=config.trial_weeks)))
    timed("statements, every funder, PDF + CSV", lambda: len(issue_and_write(
        config, engine, P0, None, as_of=P1 + timedelta(days=1), now=NOW - timedelta(days=8))))
    timed("offers' workflow states (drafts through the offer service)", shape_offers, engine, rng)
    timed("member profiles", fill_profiles, engine, rng)
    timed("segment cells and moves", fill_segment_cells, engine, members, rng)
    offer_ids = [int(i) for i in range(1, bench_results.N_OFFERS + 1)]
    timed("offer history", fill_offer_history, engine, offer_ids, rng)
    timed("offers' live counters from the ledger", set_counters, engine)
    world = timed("users, lanes, content", add_people, engine)
    _analyze(engine)
    return {**world, "sizes": sizes}


def _move_sequences(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in EXPLICIT_IDS:
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                              f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)"))


def _analyze(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))


def add_year_of_scans(engine: Engine, weeks: int) -> str:
    """One basket of 6 lines per member per week from ``weeks`` weeks back up to where
    bench_results' 8 weeks before the period begin: a year of scans with its 12 weeks."""
    if weeks <= 8:
        return "none"
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO transactions (transaction_id, store_id, member_key, scanned_at_local, utc_offset_minutes, "
            "business_date, source) "
            "SELECT 'Y' || w || ':' || m.id, m.home_store_id, m.id, d + time '12:00', 0, d, 'import' "
            "FROM members m CROSS JOIN generate_series(9, :weeks) AS w "
            "CROSS JOIN LATERAL (SELECT CAST(:p0 AS date) - w * 7 + CAST(m.id % 7 AS integer) AS d) AS x"),
            {"weeks": weeks, "p0": P0})
        lines = conn.execute(text(
            "INSERT INTO scan_lines (transaction_id, line_no, product_key, member_key, business_date, quantity, "
            "amount_cents, discount_cents) "
            "SELECT t.transaction_id, l, 1 + floor(random() * :products)::int, t.member_key, t.business_date, "
            "q, q * (199 + floor(random() * 800)::int), 0 "
            "FROM transactions t CROSS JOIN generate_series(1, 6) AS l "
            "CROSS JOIN LATERAL (SELECT 1 + floor(random() * 2)::int AS q) AS r "
            "WHERE t.transaction_id LIKE 'Y%'"),
            {"products": bench_results.N_CATS * 20}).rowcount
    return f"{lines:,} scan lines"


def _definition(offer_id: int, maker: str) -> Any:
    """A real offer definition of bench_results' offer ``offer_id`` (its brand, category, funder)."""
    from loyalty_engine.offers.definition import OfferDefinition

    cat, brand = (offer_id - 1) % bench_results.N_CATS, ((offer_id - 1) // bench_results.N_CATS) % 4
    return OfferDefinition.model_validate({
        "slug": f"offer-{offer_id}", "name": f"Offer {offer_id}", "funder": "manufacturer", "manufacturer": maker,
        "scope": {"brand": [f"B{cat:02d}-{brand}"], "within_category": f"C{cat:02d}"},
        "targeting": {"cells": ["national", "switcher:high"]} if offer_id % 3 == 0 else {},
        "benefit": {"kind": "amount_off", "low": "0.25", "medium": "0.50", "high": "0.75"},
        "funding": {"share": 100, "handling_fee": "0.08", "budget": "5000"},
        "validity": {"from": TODAY.isoformat(), "to": (TODAY + timedelta(days=60)).isoformat()},
        "holdout_share": 0.05, "status": "draft"})


def shape_offers(engine: Engine, rng: np.random.Generator) -> str:
    """A program's mix: 2 in 10 offers are new drafts for the next period (their definitions
    saved through the offer service), half of those submitted for approval, 1 in 25 paused;
    the rest stay active with their windows running past today."""
    from loyalty_engine.models.offers import Offer
    from loyalty_engine.offers.service import save_offer

    with session_scope(engine) as s:
        s.execute(text("UPDATE offers SET valid_to = :to, budget_cents = 2000000"), {"to": TODAY + timedelta(days=30)})
        offers = s.execute(select(Offer).order_by(Offer.id)).scalars().all()
        for i, offer in enumerate(offers):
            if i % 10 >= 8:
                offer.status = "draft"
                s.flush()
                save_offer(s, _definition(offer.id, offer.manufacturer_id or ""), TODAY)
                if i % 40 in (8, 19, 28, 39):
                    offer.status, offer.submitted_by, offer.submitted_at = "submitted", "bench-manager", NOW
            elif i % 25 == 0:
                offer.status = "paused"
        counts = dict(s.execute(select(Offer.status, func.count()).group_by(Offer.status)).all())
    return ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))


def set_counters(engine: Engine) -> None:
    """The live counters checkout keeps on offers, equal to their ledger."""
    with engine.begin() as conn:
        conn.execute(text(
            "UPDATE offers o SET redeemed_count = GREATEST(l.apps, 0), funded_spent_cents = GREATEST(l.funded, 0), "
            "discount_given_cents = GREATEST(l.discount, 0), budget_cents = GREATEST(l.funded, 0) * 2 + 100000 "
            "FROM (SELECT offer_id, SUM(applications) AS apps, SUM(funded_cents) AS funded, "
            "SUM(discount_cents) AS discount FROM redemptions GROUP BY offer_id) AS l "
            "WHERE l.offer_id = o.id AND o.status IN ('active', 'paused')"))


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
    with engine.connect() as conn:
        makers = dict(conn.execute(text("SELECT id, manufacturer_id FROM offers")).all())
    offer = rng.choice(offer_ids, n)
    day = np.array(days + [TODAY])[rng.integers(0, len(days) + 1, n)]
    columns = ("event", "checkout_id", "transaction_id", "list_id", "list_line_id", "list_line_no", "offer_id",
               "member_key", "store_id", "lane_code", "api_key_id", "business_date", "applications", "units",
               "discount_cents", "funded_cents", "handling_fee_cents", "funder_kind", "manufacturer_id", "request_id",
               "created_at")
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cur:
            cur.execute("SET session_replication_role = replica")
            with cur.copy(f"COPY redemptions ({', '.join(columns)}) FROM STDIN") as copy:
                for i in range(n):
                    copy.write_row(("redeemed", i + 1, f"S1:1:{i}", i + 1, i + 1, 1, int(offer[i]), 1, "S1", "1", 1,
                                    day[i], 1, 1, 60, 60, 8, "manufacturer", makers[int(offer[i])], f"r{i}", NOW))
            cur.execute("SET session_replication_role = origin")
        raw.commit()
    finally:
        raw.close()
    return n


def add_people(engine: Engine) -> dict[str, Any]:
    """One user per role (the manager with five categories that hold drafts), 30 more staff, a
    manufacturer bound to MFR00, 4 lane keys per store, a content item of the manager's."""
    from loyalty_engine.checkout.lanes import issue_key
    from loyalty_engine.console.users import create_user
    from loyalty_engine.models.offers import ContentItem, Offer

    with session_scope(engine) as s:
        drafts = s.execute(select(Offer).where(Offer.status.in_(("draft", "submitted"))).order_by(Offer.id)).scalars().all()
        categories = sorted({o.segment_category for o in drafts if o.segment_category})[:MANAGER_CATEGORIES]
        users = (("bench-admin", "admin", {}), ("bench-analyst", "analyst", {}), ("bench-approver", "approver", {}),
                 ("bench-manager", "category_manager", {"categories": categories}),
                 ("bench-maker", "manufacturer", {"manufacturer_id": "MFR00"}),
                 *((f"staff-{i:02d}", ("analyst", "approver", "category_manager")[i % 3],
                    {"categories": categories[:1]} if i % 3 == 2 else {}) for i in range(30)))
        for name, role, kwargs in users:
            create_user(s, name, role, PASSWORD, actor="bench", at=NOW, **kwargs)
        stores = [sid for (sid,) in s.execute(text("SELECT id FROM stores ORDER BY id"))]
        for store in stores:
            for lane in range(1, 5):
                issue_key(s.connection(), store, f"{lane:02d}", NOW)
        item = ContentItem(slug="bench-manager-tip", kind="tip", title="A tip of the manager's", body="Read me.",
                           category=categories[0], priority=1)
        s.add(item)
    return world_objects(engine)


def world_objects(engine: Engine) -> dict[str, Any]:
    """The objects the pages are requested with (from a built chain; ``--reuse-schema`` too)."""
    from loyalty_engine.console.users import get_user
    from loyalty_engine.models.offers import ContentItem, Offer
    from loyalty_engine.models.statements import Statement

    with session_scope(engine) as s:
        manager = get_user(s, "bench-manager")
        categories = sorted(manager.categories)  # type: ignore[union-attr]
        drafts = s.execute(select(Offer).where(Offer.status.in_(("draft", "submitted"))).order_by(Offer.id)).scalars().all()
        editable = next(o for o in drafts if o.segment_category in categories and o.status == "draft")
        submitted = next(o for o in drafts if o.status == "submitted")
        statement = s.execute(select(Statement.statement_number).where(Statement.manufacturer_id == "MFR00")
                              .order_by(Statement.statement_number)).scalars().first()
        busiest = s.execute(text("SELECT offer_id FROM redemptions r JOIN offers o ON o.id = r.offer_id "
                                 "WHERE o.manufacturer_id = 'MFR00' AND o.status = 'active' "
                                 "GROUP BY offer_id ORDER BY COUNT(*) DESC LIMIT 1")).scalar_one()
        paused = s.execute(select(Offer.id).where(Offer.status == "paused").order_by(Offer.id)).scalars().first()
        top_category = s.execute(text(
            "SELECT category FROM segment_cells GROUP BY category ORDER BY sum(members) DESC LIMIT 1")).scalar_one()
        item = s.execute(select(ContentItem.id).where(ContentItem.slug == "bench-manager-tip")).scalar_one()
        return {"categories": categories, "item_id": item, "draft_id": editable.id, "submitted_id": submitted.id,
                "active_id": int(busiest), "paused_id": paused, "statement": statement,
                "store_id": s.execute(text("SELECT id FROM stores ORDER BY id LIMIT 1")).scalar_one(),
                "key_id": s.execute(text("SELECT key_id FROM lane_api_keys WHERE revoked_at IS NULL ORDER BY id "
                                         "LIMIT 1")).scalar_one(), "top_category": top_category}
