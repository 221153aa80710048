"""Console and portal speed: p95 server time of every page (every GET route of the console and
portal blueprints, from ``app.url_map``) on a chain of 100k members with a year of scans and
500 offers, on PostgreSQL. Target: under 300 ms each at the 95th percentile.

The chain (``console_world.build_world``, in a schema of its own on ``--database-url``):
``bench_results.build_chain``'s stores, funders, catalog, 500 offers, one list per member with
hold-outs and the period's redemption ledger, its 12 weeks of baskets and the rest of a year
of them (one basket a week per member); the period's results and analytics stored by
``compute_period`` and every funder's statement issued (PDF + CSV); offers in every workflow
state; the console's nightly aggregates (member profiles, 98 runs of segment grids and moves,
a year of redemptions per day and 400,000 more ledger rows, forecasts, 60,000 audit entries);
users of every role, lane keys and content.

Every GET route is requested (URL arguments filled with real objects: the busiest offer, a
paused, a submitted and a draft one, a statement of the funder, a store, a lane key, a user,
a content item; query strings for each results dimension, filters and pages) by a user whose
role the route is for, ``--requests`` times after 3 warm-ups, timing the server's work per
request (Flask's before/after request hooks). A route added later is requested too; one whose
URL argument the benchmark cannot fill stops the run. Also the wizard's scope search (a
POST). Every page must answer 200 (redirecting routes 302), and the run fails if any statement
a page sends reads ``scan_lines``. Baselines measured in the same run: a bare ``SELECT 1``
round trip through the app's engine, and the cheapest signed-in page (the password form).

    python benchmarks/bench_console.py [--members 100000] [--scan-weeks 52] [--requests 40]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test] [--keep-schema | --reuse-schema S]

The build takes about 11 minutes at 100k members on the shared 2-core machine; ``--keep-schema``
keeps it and ``--reuse-schema bench_console_xxxxxxxx`` measures it again (drop it when done).
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from sqlalchemy import event, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from console_world import NOW, P0, PASSWORD, build_world, world_objects  # noqa: E402
from loyalty_engine.clock import FixedClock  # noqa: E402
from loyalty_engine.config import Config  # noqa: E402
from loyalty_engine.console.access import ROUTE_ACTIONS  # noqa: E402
from loyalty_engine.console.results_view import DIMENSIONS  # noqa: E402
from loyalty_engine.db import make_engine  # noqa: E402

TARGET_MS = 300.0
CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
USERS = {"analyst": "bench-analyst", "admin": "bench-admin", "category_manager": "bench-manager",
         "approver": "bench-approver", "manufacturer": "bench-maker"}
# the role a page is requested as, when several may open it: the read-only one first
PREFERENCE = ("analyst", "admin", "category_manager", "approver", "manufacturer")
REDIRECTS = frozenset({"console.index", "portal.index", "home.root", "home.login"})


@dataclass
class Page:
    label: str
    user: str | None  # None: signed out (the sign-in page)
    path: str
    form: dict[str, str] | None = None
    timings: list[float] = field(default_factory=list)


def _role_user(app, endpoint: str) -> str | None:  # type: ignore[no-untyped-def]
    view = app.view_functions[endpoint]
    if getattr(view, "_console_public", False):
        return None
    roles = ROUTE_ACTIONS[view._console_action]
    return USERS[next(r for r in PREFERENCE if r in roles)]


def _arguments(world: dict[str, Any]) -> dict[str, dict[str, list[tuple[str, object, str | None]]]]:
    """Per endpoint (``*``: any), URL argument -> (label, value, role override) to request it with."""
    offers = [("busiest active", world["active_id"], None), ("paused", world["paused_id"], None),
              ("submitted, as approver", world["submitted_id"], "approver"), ("draft", world["draft_id"], None)]
    return {
        "console.offer": {"offer_id": offers},
        "console.offer_edit": {"offer_id": [("the manager's draft", world["draft_id"], None)]},
        "portal.offer": {"offer_id": [("own, busiest", world["active_id"], None)]},
        "*": {"username": [("a category manager", "bench-manager", None)],
              "store_id": [(world["store_id"], world["store_id"], None)],
              "key_id": [("a lane key", world["key_id"], None)],
              "item_id": [("the manager's tip", world["item_id"], None)],
              "number": [(world["statement"], world["statement"], None)]},
    }


def _queries(world: dict[str, Any]) -> dict[str, list[tuple[str, dict[str, object]]]]:
    """Query strings a page is requested with besides its bare URL (filters, pages, periods)."""
    period = {"period": P0.isoformat()}
    by = [(f"by {d}", {**period, "by": d}) for d in DIMENSIONS]
    return {
        "console.offers": [("", {}), ("active", {"status": "active"}), ("search", {"q": "Offer 1"}),
                           ("page 5", {"page": 5})],
        "console.results": by, "console.results_csv": by,
        "console.segments": [("busiest category", {"category": world["top_category"]})],
        "console.members_at_risk": [("", {}), ("lapsed", {"stage": "lapsed"})],
        "console.audit_log": [("", {}), ("an offer's trail", {"object_type": "offer", "object_id": world["active_id"]}),
                              ("by one user", {"actor": "bench-manager"}), ("page 1000", {"page": 1000})],
        "console.lanes": [("", {}), ("with revoked", {"all": "1"})],
        "console.content": [("", {}), ("recipes", {"kind": "recipe"})],
        "portal.lift": [("", {}), ("period", period)], "portal.lift_csv": [("period", period)],
        "portal.analytics": [("newest period (not computed yet)", {}), ("computed period", period)],
        "portal.analytics_csv": [("computed period", period)],
    }


def enumerate_pages(app, world: dict[str, Any]) -> Iterator[Page]:  # type: ignore[no-untyped-def]
    """Every GET route of the console and portal blueprints (and the app's redirects to them)."""
    arguments, queries = _arguments(world), _queries(world)
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.endpoint, r.rule)):
        if rule.endpoint.split(".")[0] not in ("console", "portal", "home") or "GET" not in (rule.methods or ()):
            continue
        user = _role_user(app, rule.endpoint) if rule.endpoint.split(".")[0] != "home" else USERS["analyst"]
        # a route with defaults is the argument-less twin of another (/admin/stores/new)
        variants: list[tuple[str, dict[str, object], str | None]] = [("new" if rule.defaults else "", {}, user)]
        for name in sorted(rule.arguments - set(rule.defaults or {})):
            given = arguments.get(rule.endpoint, {}).get(name) or arguments["*"].get(name)
            if not given:
                raise SystemExit(f"{rule.rule}: the benchmark has no object for <{name}>; add one to _arguments")
            variants = [(f"{label} {glabel}".strip(), {**values, name: value},
                         USERS[role] if role else vuser)
                        for label, values, vuser in variants for glabel, value, role in given]
        for label, values, vuser in variants:
            path = rule.build(values, append_unknown=False)[1]  # type: ignore[index]
            for qlabel, query in queries.get(rule.endpoint, [("", {})]):
                qs = "&".join(f"{k}={v}" for k, v in query.items())
                name = " ".join(x for x in (rule.endpoint, label, qlabel) if x)
                yield Page(name, vuser, path + (f"?{qs}" if qs else ""))


def signed_in(app, username: str):  # type: ignore[no-untyped-def]
    client = app.test_client()
    page = client.get("/console/sign-in").get_data(as_text=True)
    token = CSRF.search(page).group(1)  # type: ignore[union-attr]
    answer = client.post("/console/sign-in", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert answer.status_code == 302, answer.status_code
    return client


def _measure_page(client, page: Page, requests: int, timings: list[float]) -> None:  # type: ignore[no-untyped-def]
    token = None
    if page.form is not None:
        token = CSRF.search(client.get(page.path).get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    endpoint = page.label.split(" ")[0]
    for i in range(3 + requests):
        if i == 3:
            timings.clear()
        answer = (client.post(page.path, data={**page.form, "csrf_token": token}) if page.form is not None
                  else client.get(page.path))
        wanted = (200, 302) if endpoint in REDIRECTS else (200,)
        if answer.status_code not in wanted:
            raise SystemExit(f"{page.label}: {page.path} answered {answer.status_code} to {page.user}")
    page.timings = list(timings)


def measure(app, pages: list[Page], requests: int) -> int:  # type: ignore[no-untyped-def]
    """Request every page; returns how many statements the pages sent (none may read scan lines)."""
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

    @event.listens_for(app.extensions["loyalty_engine"]["engine"], "before_cursor_execute")
    def _record(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    clients: dict[str | None, Any] = {}
    for page in pages:
        if page.user not in clients:
            clients[page.user] = signed_in(app, page.user) if page.user else app.test_client()
        _measure_page(clients[page.user], page, requests, timings)
    read_scans = [s for s in statements if re.search(r"\bscan_lines\b", s)]
    if read_scans:
        raise SystemExit(f"a console page read scan lines: {read_scans[0][:200]}")
    return len(statements)


def select_one(app, requests: int) -> list[float]:  # type: ignore[no-untyped-def]
    """The floor of any page that reads the database: a pooled connection's ``SELECT 1`` round trip."""
    engine = app.extensions["loyalty_engine"]["engine"]
    out = []
    for i in range(3 + requests):
        started = time.perf_counter()
        with engine.connect() as conn:
            conn.execute(text("SELECT 1")).scalar_one()
        if i >= 3:
            out.append((time.perf_counter() - started) * 1000)
    return out


def _schema_url(url: str, schema: str) -> str:
    parsed = make_url(url)
    return parsed.set(query={**parsed.query, "options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


def run(args: argparse.Namespace, url: str) -> tuple[list[Page], list[float], int]:
    from loyalty_engine.app import create_app, dispose_engines

    rng = np.random.default_rng(12)
    with tempfile.TemporaryDirectory() as tmp:
        config = Config(database_url=url, instance_path=Path(tmp) / "instance",
                        secret_key="bench-" + uuid.uuid4().hex).resolved()
        engine = make_engine(url)
        started = time.perf_counter()
        if args.reuse_schema:
            from loyalty_engine import migrate

            migrate.upgrade(engine)  # a chain built by an earlier revision takes the newer migrations
            print(f"migrated in {time.perf_counter() - started:.1f} s", flush=True)
            world = world_objects(engine)
        else:
            print(f"building the chain ({args.members:,} members, {args.scan_weeks} weeks of scans):", flush=True)
            world = build_world(engine, config, args.members, args.scan_weeks, rng)
            print(f"built in {time.perf_counter() - started:.0f} s; load average {os.getloadavg()[0]:.1f}", flush=True)
        engine.dispose()
        app = create_app(config)
        app.extensions["loyalty_engine"]["clock"] = FixedClock(NOW)
        pages = list(enumerate_pages(app, world))
        pages.append(Page("console.offer_new scope search (POST, brands matching 'B0')", "bench-manager",
                          "/console/offers/new", {"action": "search", "search_kind": "brand", "search": "B0",
                                                  "segment_category": world["categories"][0]}))
        baseline = select_one(app, args.requests * 5)
        statements = measure(app, pages, args.requests)
        dispose_engines(app)
    return pages, baseline, statements


def report(args: argparse.Namespace, pages: list[Page], baseline: list[float], statements: int,
           load: tuple[float, float]) -> None:
    floor = next(p for p in pages if p.label == "console.password")
    floor95 = float(np.percentile(floor.timings, 95))
    print(f"\n{len(pages)} pages of {len({p.label.split(' ')[0] for p in pages})} routes, {args.members:,} members, "
          f"PostgreSQL; {args.requests} requests per page (server time, ms); load average {load[0]:.1f} at the "
          f"start, {load[1]:.1f} at the end; {statements:,} statements sent, none reads scan_lines")
    b50, b95 = float(np.percentile(baseline, 50)), float(np.percentile(baseline, 95))
    print(f"baseline: SELECT 1 round trip p50 {b50:.2f} ms, p95 {b95:.2f} ms; password form p95 {floor95:.1f} ms")
    print(f"{'page':78} {'role':>16} {'p50':>7} {'p95':>7} {'p95/300':>8} {'p95/floor':>9}")
    for page in pages:
        p50, p95 = float(np.percentile(page.timings, 50)), float(np.percentile(page.timings, 95))
        role = next((r for r, u in USERS.items() if u == page.user), "signed out")
        print(f"{page.label[:78]:78} {role:>16} {p50:7.1f} {p95:7.1f} {p95 / TARGET_MS:8.2f} {p95 / floor95:9.1f}")
    worst = max(pages, key=lambda p: float(np.percentile(p.timings, 95)))
    w95 = float(np.percentile(worst.timings, 95))
    print(f"\nslowest p95: {worst.label} {w95:.1f} ms ({w95 / floor95:.1f}x the password form, {w95 / b95:.0f}x "
          f"SELECT 1): {'within' if w95 < TARGET_MS else 'OVER'} the 300 ms target")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--scan-weeks", type=int, default=52)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--keep-schema", action="store_true", help="leave the schema (its name is printed)")
    parser.add_argument("--reuse-schema", default="", metavar="SCHEMA",
                        help="measure a chain a --keep-schema run built (and keep it)")
    parser.add_argument("--database-url", default=os.environ.get(
        "LOYALTY_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args()
    if make_url(args.database_url).get_backend_name() != "postgresql":
        raise SystemExit("the console's target is on PostgreSQL: give a postgresql+psycopg:// URL")
    schema = args.reuse_schema or f"bench_console_{uuid.uuid4().hex[:8]}"
    args.keep_schema = args.keep_schema or bool(args.reuse_schema)
    admin = make_engine(args.database_url)
    if not args.reuse_schema:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    import loyalty_engine

    print(f"schema {schema}; code {Path(loyalty_engine.__file__).parent}; load average {os.getloadavg()[0]:.1f}",
          flush=True)
    start_load = os.getloadavg()[0]
    try:
        pages, baseline, statements = run(args, _schema_url(args.database_url, schema))
    finally:
        if not args.keep_schema:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    report(args, pages, baseline, statements, (start_load, os.getloadavg()[0]))


if __name__ == "__main__":
    main()
