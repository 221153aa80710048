"""``loyalty-engine demo``: the whole product on a synthetic chain, end to end, as a short story.

The steps (:mod:`.demo_story`) are the same commands a user would type: generate a chain,
import it, fit the model, set up offers, build the biweekly lists, show one, render the PDFs,
ring up a checkout at a lane, issue a lane key, and serve the API. By default each step is
one line and the run ends with what to open; ``--verbose`` shows every command and its output.

The demo has its own SQLite file (``<out>/demo.db``, removed and made again on every run), so
it never touches the instance database. Given a database explicitly (``--database-url`` or
``LOYALTY_DATABASE_URL``), it uses that one as it is and never deletes it; only ``<out>`` is
emptied.
"""
from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import click

from ..clock import SystemClock
from .context import CliContext, pass_cli
from .demo_story import STEPS, DemoRun, Step, add_step, run_steps
from .users import demo_step as console_users_step

add_step(Step("Create the console's users", console_users_step))


@click.command("demo")
@click.option("--members", default=2000, show_default=True, help="Members in the demo chain.")
@click.option("--weeks", default=26, show_default=True, help="Weeks of scan history.")
@click.option("--seed", default=42, show_default=True)
@click.option("--start-date", default=None,
              help="First day of the scan history (default: WEEKS before this week's Monday, so the lists are current).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the demo database, data, PDFs and exports go (default: <instance>/demo; emptied first).")
@click.option("--serve/--no-serve", default=True, show_default=True, help="Serve the API at the end.")
@click.option("--port", default=5000, show_default=True)
@click.option("--verbose", "-v", is_flag=True, help="Show every command and its whole output.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Worker processes for the model fit and the list build (default: LOYALTY_WORKERS, "
                   "else this process for a chain this small).")
@click.option("--scheduler", "dask_scheduler", default=None,
              help="A running Dask scheduler for the model fit and the list build, tcp://host:8786.")
@pass_cli
def demo(cli: CliContext, members: int, weeks: int, seed: int, start_date: str | None, out_dir: Path | None,
         serve: bool, port: int, verbose: bool, workers: int | None, dask_scheduler: str | None) -> None:
    """Run the demo chain end to end in its own SQLite database (<out>/demo.db)."""
    out = out_dir or Path(cli.config.instance_path) / "demo"
    given_url = click.get_current_context().find_root().params.get("database_url")
    shutil.rmtree(out, ignore_errors=True)  # the demo's own folder (and database): made again below
    out.mkdir(parents=True, exist_ok=True)
    url = given_url or f"sqlite:///{out.resolve() / 'demo.db'}"
    if start_date is None:
        this_monday = SystemClock().today() - timedelta(days=SystemClock().today().weekday())
        start_date = (this_monday - timedelta(weeks=weeks)).isoformat()
    run = DemoRun(cli=cli, database_url=url, out=out, members=members, weeks=weeks, seed=seed,
                  start_date=start_date, port=port, verbose=verbose,
                  cluster_args=(*(("--workers", str(workers)) if workers else ()),
                                *(("--scheduler", dask_scheduler) if dask_scheduler else ())))
    _intro(run, given=bool(given_url))
    run_steps(run, STEPS)
    _closing(run)
    run.engine.dispose()
    if serve:
        click.secho(f"\nServing the lane API and member pages on http://127.0.0.1:{port} (Ctrl-C stops)", bold=True)
        _serve(run)


def _intro(run: DemoRun, given: bool) -> None:
    click.secho(f"Loyalty engine demo: a synthetic chain of {run.members:,} members, {run.weeks} weeks, end to end.",
                bold=True)
    if given:
        click.echo(f"Database: {_safe(run.database_url)} (given explicitly: used as it is, never deleted)")
    else:
        click.echo(f"Database: {_safe(run.database_url)} (the demo's own, made fresh each run; "
                   "your instance database is not touched)")
    click.echo("Every command and its whole output: loyalty-engine demo --verbose")


def _closing(run: DemoRun) -> None:
    """What to open, last: the addresses, the lane key and the member link (those the steps made)."""
    base = f"http://127.0.0.1:{run.port}"
    click.secho("\nOpen these", fg="cyan", bold=True)
    click.echo(f"PDFs:            {run.pdf_dir}")
    click.echo(f"Keep exploring:  export LOYALTY_DATABASE_URL={run.database_url}")
    for line in run.facts.get("console_users", ()):
        click.echo(line)
    click.echo(f"Lane API:        {base}/api/v1/openapi.json")
    if "lane_key" in run.facts:
        store, lane = run.facts["lane"]
        click.echo(f"Lane key:        {run.facts['lane_key']}  (store {store}, lane {lane})")
    if "list_number" in run.facts:
        click.echo(f"Member web view: {base}{_member_path(run)}")


def _member_path(run: DemoRun) -> str:
    from sqlalchemy import select

    from ..db import session_scope
    from ..models.lists import ShoppingList
    from ..render.links import token_for_list

    with session_scope(run.engine) as session:
        shopping_list = session.execute(
            select(ShoppingList).where(ShoppingList.list_number == run.facts["list_number"])).scalar_one()
        return f"/m/{token_for_list(run.cli.config.secret_key, shopping_list)}"


def _serve(run: DemoRun) -> None:
    """Serve without capturing: the server's own lines go straight to the terminal."""
    from . import main

    main.main(args=["--database-url", run.database_url, "serve", "--port", str(run.port)],
              prog_name="loyalty-engine", standalone_mode=False)


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


commands = [demo]
