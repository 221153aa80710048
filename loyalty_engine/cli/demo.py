"""``loyalty-engine demo``: the whole product on a synthetic chain, end to end.

Each step is the same command a user would type (printed before it runs), so the demo
doubles as a walkthrough of the CLI: generate a chain, import it, fit the model, set up
offers, build the biweekly lists, show one, render the PDFs, ring up a checkout at a
lane, and serve the API.
"""
from __future__ import annotations

import csv
import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Sequence

import click
from sqlalchemy import select

from ..clock import SystemClock
from .context import CliContext, pass_cli
from .statements import statements_demo_step

IMPORT_ORDER = ("manufacturers", "stores", "products", "members", "scans")


@click.command("demo")
@click.option("--members", default=2000, show_default=True, help="Members in the demo chain.")
@click.option("--weeks", default=26, show_default=True, help="Weeks of scan history.")
@click.option("--seed", default=42, show_default=True)
@click.option("--start-date", default=None,
              help="First day of the scan history (default: WEEKS before this week's Monday, so the lists are current).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where data, PDFs and exports go (default: <instance>/demo).")
@click.option("--fresh/--reuse", default=True, show_default=True,
              help="Start from an empty SQLite database (only the default instance database is ever removed).")
@click.option("--serve/--no-serve", default=True, show_default=True, help="Serve the API at the end.")
@click.option("--port", default=5000, show_default=True)
@pass_cli
def demo(cli: CliContext, members: int, weeks: int, seed: int, start_date: str | None, out_dir: Path | None,
         fresh: bool, serve: bool, port: int) -> None:
    """Run the demo chain end to end on the configured database (SQLite by default)."""
    out = out_dir or Path(cli.config.instance_path) / "demo"
    data_dir, pdf_dir = out / "data", out / "pdfs"
    if fresh:
        _reset(cli, out)
    if start_date is None:
        this_monday = SystemClock().today() - timedelta(days=SystemClock().today().weekday())
        start_date = (this_monday - timedelta(weeks=weeks)).isoformat()
    period_start = date.fromisoformat(start_date) + timedelta(weeks=weeks)
    second_period = period_start + timedelta(days=7)

    _step("Generate a synthetic chain", ["generate", "--members", str(members), "--weeks", str(weeks),
                                         "--seed", str(seed), "--start-date", start_date, str(data_dir)], cli)
    _step("Create the database schema", ["db", "upgrade"], cli)
    for kind in IMPORT_ORDER:
        _step(f"Import {kind}", ["import", kind, str(data_dir / f"{kind}.csv")], cli)
    # Running the same import twice inserts nothing: show it once.
    _step("Re-import the scans (idempotent: nothing new)", ["import", "scans", str(data_dir / "scans.csv")], cli)

    as_of = period_start.isoformat()
    # The nightly jobs, run now: fit the model once (the commands below reuse the saved state)
    # and store every member's lifecycle stage and value tier.
    _step("Fit the purchase-cycle model (the nightly job)", ["jobs", "run", "refresh_model", "--as-of", as_of], cli)
    _step("Recompute lifecycle stages (the nightly job)", ["jobs", "run", "lifecycle", "--as-of", as_of], cli)
    _step("Members by lifecycle stage and value tier", ["members", "--as-of", as_of], cli)
    _step("A category's 3 x 3 segments", ["segments", _busiest_category(cli), "--as-of", as_of], cli)
    _step("Set up the demo offers (manufacturer- and store-funded)",
          ["offers", "seed-demo", "--start", as_of, "--weeks", "12"], cli)
    _step("Offers", ["offers", "list"], cli)
    # Both cohorts are built from the same data cut-off, as the weekly job builds a cohort a
    # week ahead of its period.
    for start in (period_start, second_period):
        _step(f"Build the lists of the cohort starting {start}",
              ["lists", "build", "--period-start", start.isoformat(), "--as-of", as_of], cli)
    list_number = _richest_list(cli, period_start)
    if list_number is None:
        raise click.ClickException("the demo built no lists: nothing to show")
    _step("One member's list", ["lists", "show", list_number], cli)
    for start in (period_start, second_period):
        _step(f"Render the PDFs of {start}", ["lists", "render", "--period-start", start.isoformat(),
                                              "--out", str(pdf_dir / start.isoformat())], cli)
    _step("Ring up that member's basket at a lane (quote, complete, retry)",
          ["lanes", "simulate", "--list", list_number], cli)

    _results_step(cli, period_start, out / "results")
    statements_demo_step(cli, period_start)
    _summary(cli, pdf_dir, list_number, period_start, port)
    if serve:
        _step("Serve the lane API and member pages", ["serve", "--port", str(port)], cli)


def _step(title: str, args: Sequence[str], cli: CliContext) -> None:
    from . import main

    click.secho(f"\n== {title}", fg="cyan", bold=True)
    click.secho("$ loyalty-engine " + " ".join(args), fg="bright_black")
    base = ["--database-url", cli.config.database_url]
    main.main(args=[*base, *args], prog_name="loyalty-engine", standalone_mode=False)


def _results_step(cli: CliContext, period_start: date, out: Path) -> None:
    """Members respond to the period's lists at the lanes; the lift of each offer against its hold-out."""
    from ..results.demo import demo_results

    click.secho("\n== Members respond to their lists; lift against the hold-out", fg="cyan", bold=True)
    click.secho(f"$ loyalty-engine simulate --period {period_start} && loyalty-engine results --period {period_start}",
                fg="bright_black")
    shown = demo_results(cli.engine, period_start, out)
    click.echo("\n".join([*shown.lines, f"planted truth: {shown.truth_path}"]))


def _reset(cli: CliContext, out: Path) -> None:
    default_db = Path(cli.config.instance_path) / "loyalty.db"
    url = cli.config.database_url
    if url == f"sqlite:///{default_db}":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{default_db}{suffix}").unlink(missing_ok=True)
    else:
        click.echo(f"--fresh leaves {cli.engine.url.render_as_string(hide_password=True)} as it is (not the default SQLite file)")
    shutil.rmtree(out, ignore_errors=True)


def _busiest_category(cli: CliContext) -> str:
    """The most scanned category that has both national and store brands (a full 3 x 3)."""
    from sqlalchemy import func

    from ..models import Product, ScanLine

    with cli.engine.connect() as conn:
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


def _richest_list(cli: CliContext, period_start: date) -> str | None:
    from ..models.lists import ShoppingList

    with cli.engine.connect() as conn:
        return conn.execute(
            select(ShoppingList.list_number)
            .where(ShoppingList.period_start == period_start)
            .order_by(ShoppingList.total_face_cents.desc(), ShoppingList.list_number)
            .limit(1)
        ).scalar()


def _summary(cli: CliContext, pdf_dir: Path, list_number: str, period_start: date, port: int) -> None:
    from ..models.lists import ShoppingList
    from ..render.links import token_for_list
    from ..db import session_scope

    click.secho("\n== Where things are", fg="cyan", bold=True)
    manifests = sorted(pdf_dir.glob("*/manifest.csv"))
    for manifest in manifests:
        with manifest.open(newline="") as fh:
            rows = sum(1 for _ in csv.DictReader(fh))
        click.echo(f"PDFs: {manifest.parent}  ({rows} lists; manifest {manifest.name})")
    with session_scope(cli.engine) as session:
        shopping_list = session.execute(
            select(ShoppingList).where(ShoppingList.list_number == list_number)
        ).scalar_one()
        link = f"http://127.0.0.1:{port}/m/{token_for_list(cli.config.secret_key, shopping_list)}"
    click.echo(f"Member web view of list {list_number}: {link}")
    click.echo(f"Lane API: http://127.0.0.1:{port}/api/v1/openapi.json  (issue a key: loyalty-engine lanes add STORE LANE)")


commands = [demo]
