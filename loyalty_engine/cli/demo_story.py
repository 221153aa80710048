"""The demo as a story: named steps, each one short line by default, everything with --verbose.

A step is a small function ``(DemoRun) -> str`` that runs the same commands a user would type
(:meth:`DemoRun.command`) and returns its one-line summary; :data:`STEPS` is their order.
Another part of the product adds its step with :func:`add_step` (after a named step) instead of
rewriting the demo. Facts a later step or the closing block needs (the list shown, the lane
key) go in ``DemoRun.facts``.
"""
from __future__ import annotations

import contextlib
import io
import json
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Callable, Sequence

import click
from sqlalchemy import Engine, func, select

from ..db import make_engine
from ..money import format_money
from .context import CliContext

IMPORT_ORDER = ("manufacturers", "stores", "products", "members", "scans")


@dataclass
class DemoRun:
    """Everything the steps share: where things go, the dates, the database, what was found."""

    cli: CliContext
    database_url: str
    out: Path
    members: int
    weeks: int
    seed: int
    start_date: str
    port: int
    verbose: bool
    facts: dict[str, Any] = field(default_factory=dict)
    cluster_args: tuple[str, ...] = ()  # --workers / --scheduler for the model fit and list builds

    @property
    def data_dir(self) -> Path:
        return self.out / "data"

    @property
    def pdf_dir(self) -> Path:
        return self.out / "pdfs"

    @property
    def period_start(self) -> date:
        return date.fromisoformat(self.start_date) + timedelta(weeks=self.weeks)

    @property
    def second_period(self) -> date:
        return self.period_start + timedelta(days=7)

    @property
    def as_of(self) -> str:
        return self.period_start.isoformat()

    @property
    def engine(self) -> Engine:
        if "_engine" not in self.facts:
            self.facts["_engine"] = make_engine(self.database_url)
        return self.facts["_engine"]

    def command(self, *args: str) -> str:
        """Run ``loyalty-engine ARGS`` on the demo database; return its output (also printed
        with --verbose)."""
        from . import main

        if self.verbose:
            click.secho("$ loyalty-engine " + " ".join(args), fg="bright_black")
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            main.main(args=["--database-url", self.database_url, *args], prog_name="loyalty-engine",
                      standalone_mode=False)
        text = buffer.getvalue()
        if self.verbose:
            click.echo(text.rstrip("\n"))
        return text

    def scalar(self, query: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(query).scalar()


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[DemoRun], str]


def run_steps(run: DemoRun, steps: Sequence[Step]) -> None:
    """Each step as one numbered line: name, summary, seconds."""
    for number, step in enumerate(steps, 1):
        if run.verbose:
            click.secho(f"\n== {number}. {step.name}", fg="cyan", bold=True)
        started = time.perf_counter()
        summary = step.run(run)
        seconds = time.perf_counter() - started
        prefix = click.style(f"{number:>2}. {step.name}:", bold=True)
        click.echo(f"{prefix} {summary} ({seconds:.1f} s)")


# --- the steps -----------------------------------------------------------------------------


def generate_chain(run: DemoRun) -> str:
    run.command("generate", "--members", str(run.members), "--weeks", str(run.weeks), "--seed", str(run.seed),
                "--start-date", run.start_date, str(run.data_dir))
    return f"{run.members:,} members, {run.weeks} weeks of scans from {run.start_date}, in {run.data_dir}"


def create_schema(run: DemoRun) -> str:
    run.command("db", "upgrade")
    return run.database_url


def import_chain(run: DemoRun) -> str:
    from ..models import Member, Product, ScanLine, Store

    for kind in IMPORT_ORDER:
        run.command("import", kind, str(run.data_dir / f"{kind}.csv"))
    # Running the same import twice inserts nothing.
    again = run.command("import", "scans", str(run.data_dir / "scans.csv"))
    lines = run.scalar(select(func.count()).select_from(ScanLine))
    counts = [run.scalar(select(func.count()).select_from(t)) for t in (Store, Product, Member)]
    nothing_new = "inserted 0," in again
    return (f"{counts[0]} stores, {counts[1]:,} products, {counts[2]:,} members, {lines:,} scan lines; "
            f"imported again: {'nothing doubled' if nothing_new else 'CHANGED'}")


def fit_model(run: DemoRun) -> str:
    text = run.command("jobs", "run", "refresh_model", "--as-of", run.as_of, *run.cluster_args)
    counts = json.loads(text.split(": ok ", 1)[1]) if ": ok " in text else {}
    return f"purchase cycles of {counts.get('sku_pairs', 0):,} member x item pairs (the nightly job)"


def lifecycle(run: DemoRun) -> str:
    from ..model.lifecycle import VALUE_TIERS
    from ..models.model_state import MemberProfile

    run.command("jobs", "run", "lifecycle", "--as-of", run.as_of)
    run.command("members", "--as-of", run.as_of)
    with run.engine.connect() as conn:
        tiers = dict(conn.execute(select(MemberProfile.value_tier, func.count()).group_by(MemberProfile.value_tier)).all())
    return "value tiers " + ", ".join(f"{name} {tiers.get(name, 0):,}" for name in VALUE_TIERS)


def segments(run: DemoRun) -> str:
    category = busiest_category(run.engine)
    run.command("segments", category, "--as-of", run.as_of)
    return f"brand loyalty x usage tier of {category} (loyalty-engine segments {category!r})"


def offers(run: DemoRun) -> str:
    from ..models.offers import Offer

    run.command("offers", "seed-demo", "--start", run.as_of, "--weeks", "12")
    if run.verbose:
        run.command("offers", "list")
    with run.engine.connect() as conn:
        by_funder = dict(conn.execute(select(Offer.funder_kind, func.count()).where(Offer.status == "active")
                                      .group_by(Offer.funder_kind)).all())
    return (f"{by_funder.get('manufacturer', 0)} manufacturer-funded and {by_funder.get('retailer', 0)} "
            "store-funded offers (loyalty-engine offers list)")


def build_lists(run: DemoRun) -> str:
    parts, top = [], {"members": 0, "reached": 0, "tier": "", "target_cents": 0}
    for start in (run.period_start, run.second_period):
        counts = json.loads(run.command("lists", "build", "--period-start", start.isoformat(), "--as-of", run.as_of,
                                        "--json", *run.cluster_args))["counts"]
        parts.append(f"{counts['lists']:,} lists from {start}")
        targets = counts.get("face_targets", {})
        if targets:  # the top value tier's face-value target, over both cohorts
            tier, report = list(targets.items())[-1]
            top.update(tier=tier, target_cents=report["target_cents"])
            top["members"] += report["members"]
            top["reached"] += report["reached"]
    if top["members"]:
        parts.append(f"{top['tier']} lists reaching {format_money(top['target_cents'])}: "
                     f"{top['reached']} of {top['members']}")
    return "; ".join(parts)


def show_list(run: DemoRun) -> str:
    from ..models.lists import ShoppingList

    with run.engine.connect() as conn:
        row = conn.execute(
            select(ShoppingList.list_number, ShoppingList.line_count, ShoppingList.total_face_cents,
                   ShoppingList.store_id)
            .where(ShoppingList.period_start == run.period_start)
            .order_by(ShoppingList.total_face_cents.desc(), ShoppingList.list_number).limit(1)
        ).first()
    if row is None:
        raise click.ClickException("the demo built no lists: nothing to show")
    run.facts.update(list_number=row[0], store_id=row[3])
    run.command("lists", "show", row[0])
    return f"list {row[0]}: {row[1]} offers worth {format_money(row[2])} (loyalty-engine lists show {row[0]})"


def render_pdfs(run: DemoRun) -> str:
    total = 0
    for start in (run.period_start, run.second_period):
        run.command("lists", "render", "--period-start", start.isoformat(), "--out", str(run.pdf_dir / start.isoformat()))
        manifest = run.pdf_dir / start.isoformat() / "manifest.csv"
        total += max(0, sum(1 for _ in manifest.open()) - 1) if manifest.exists() else 0
    return f"{total:,} PDFs with per-store print runs in {run.pdf_dir}"


def lane_checkout(run: DemoRun) -> str:
    text = run.command("lanes", "simulate", "--list", run.facts["list_number"])
    lines = text.splitlines()
    quote = next((l for l in lines if l.startswith("member ")), "")
    due = next((l.strip() for l in lines if l.strip().startswith("total due")), "")
    retried = next((l for l in lines if l.startswith("retried complete")), "retried complete: not run")
    return f"{quote.split('  ')[-1]}, {due}; {retried}"


def lane_key(run: DemoRun) -> str:
    store = run.facts.get("store_id") or "101"
    text = run.command("lanes", "add", store, "1", "--rotate")
    run.facts["lane_key"] = text.strip().splitlines()[-1]
    run.facts["lane"] = (store, "1")
    return f"a key for lane 1 of store {store} (shown below; loyalty-engine stores list names the others)"


STEPS: list[Step] = [
    Step("Generate a synthetic chain", generate_chain),
    Step("Create the database schema", create_schema),
    Step("Import the chain", import_chain),
    Step("Fit the purchase-cycle model", fit_model),
    Step("Members by lifecycle stage and value tier", lifecycle),
    Step("A category's 3 x 3 segments", segments),
    Step("Set up the demo offers", offers),
    Step("Build the lists of both cohorts", build_lists),
    Step("One member's list", show_list),
    Step("Render the PDFs", render_pdfs),
    Step("Ring up that member's basket at a lane", lane_checkout),
    Step("Issue a lane API key", lane_key),
]


def add_step(step: Step, after: str | None = None) -> None:
    """Put ``step`` after the step named ``after`` (default: last)."""
    names = [s.name for s in STEPS]
    STEPS.insert(names.index(after) + 1 if after is not None else len(STEPS), step)


def busiest_category(engine: Engine) -> str:
    """The most scanned category that has both national and store brands (a full 3 x 3)."""
    from ..models import Product, ScanLine

    with engine.connect() as conn:
        row = conn.execute(
            select(Product.category, func.count())
            .join(ScanLine, ScanLine.product_key == Product.id)
            .where(Product.category != "")
            .group_by(Product.category)
            .having(func.count(func.distinct(Product.brand_type)) == 2)
            .order_by(func.count().desc(), Product.category)
            .limit(1)
        ).first()
    return row[0] if row else ""
