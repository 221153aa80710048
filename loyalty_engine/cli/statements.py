"""``loyalty-engine statements``: issue (or draft) manufacturer statements, list them, show one."""
from __future__ import annotations

import json
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from ..db import session_scope
from ..money import format_money
from ..results.statement_files import issue_and_write
from ..results.statements import StatementDoc, StatementError, get_statement, list_statements
from .context import CliContext, InputError, pass_cli

DATE = click.DateTime(formats=["%Y-%m-%d"])


def _console() -> Console:
    return Console() if sys.stdout.isatty() else Console(width=160)


@click.group("statements")
def statements_group() -> None:
    """Manufacturer statements: what each funder owes for a list period (PDF and CSV)."""


@statements_group.command("issue")
@click.option("--period", "period", type=DATE, required=True, help="First day of the list period (YYYY-MM-DD).")
@click.option("--funder", default=None, help="Manufacturer id (default: every funder with redemptions in the period).")
@click.option("--draft", is_flag=True, help="Compute a draft (also for an open period); nothing is recorded.")
@click.option("--as-of", type=DATE, default=None, help="Issue date (default: today).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Folder for the PDF and CSV (default: <instance>/statements).")
@pass_cli
def issue(cli: CliContext, period: datetime, funder: str | None, draft: bool, as_of: datetime | None,
          out: Path | None) -> None:
    """Issue the statements of a closed list period and write their PDF and CSV."""
    day = as_of.date() if as_of else date.today()
    try:
        written = issue_and_write(cli.config, cli.engine, period.date(), [funder] if funder else None, as_of=day,
                                  now=datetime.now(timezone.utc), draft=draft, out_dir=out)
    except StatementError as exc:
        raise InputError(str(exc)) from None
    for doc, created, files in written:
        state = "draft" if doc.draft else ("issued" if created else "already issued (stored statement)")
        click.echo(f"{doc.number}  {doc.funder_name}  total due {format_money(doc.total_due_cents)}  {state}")
        click.echo(f"  PDF {files.pdf}")
        click.echo(f"  CSV {files.csv}")


@statements_group.command("list")
@click.option("--funder", default=None, help="Only this manufacturer's statements.")
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def list_(cli: CliContext, funder: str | None, as_json: bool) -> None:
    """The issued statements, oldest period first."""
    with session_scope(cli.engine) as session:
        rows = [(s.statement_number, s.manufacturer_id, s.funder_name, s.period_start, s.period_end, s.issued_on,
                 s.ledger_rows, s.total_due_cents, s.adjustments_due_cents) for s in list_statements(session, funder)]
    if as_json:
        click.echo(json.dumps([dict(number=r[0], funder=r[1], funder_name=r[2], period_start=r[3].isoformat(),
                                    period_end=r[4].isoformat(), issued_on=r[5].isoformat(), ledger_rows=r[6],
                                    total_due_cents=r[7], adjustments_due_cents=r[8]) for r in rows], indent=2))
        return
    if not rows:
        click.echo("no statements issued yet")
        return
    table = Table("Number", "Funder", "Period", "Issued", "Ledger rows", "Total due", "of which adjustments")
    for r in rows:
        table.add_row(r[0], f"{r[2]} ({r[1]})", f"{r[3]} to {r[4]}", str(r[5]), f"{r[6]:,}",
                      format_money(r[7]), format_money(r[8]))
    _console().print(table)


@statements_group.command("show")
@click.argument("number")
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def show(cli: CliContext, number: str, as_json: bool) -> None:
    """One issued statement: its lines, totals and reconciliation with the ledger."""
    with session_scope(cli.engine) as session:
        doc = get_statement(session, number)
    if doc is None:
        raise InputError(f"unknown statement {number!r}: see `loyalty-engine statements list`")
    if as_json:
        click.echo(json.dumps(doc_json(doc), indent=2))
        return
    console = _console()
    console.print(f"[bold]{doc.number}[/bold]  {doc.funder_name} ({doc.manufacturer_id})  period "
                  f"{doc.period.start} to {doc.period.end}  issued {doc.issued_on}  by {doc.retailer_name}")
    table = Table("Kind", "Offer", "Week of", "Share", "Redemptions", "Units", "Face value", "Funded", "Handling",
                  "Total due")
    for x in doc.lines:
        table.add_row(x.kind, f"{x.offer_code} {x.offer_name}", str(x.week_start), f"{x.funded_share_bp / 100:g}%",
                      f"{x.redemptions:,}", f"{x.units:,}", format_money(x.face_value_cents),
                      format_money(x.funded_cents), format_money(x.handling_fee_cents), format_money(x.total_due_cents))
    table.add_row("total", "", "", "", f"{doc.total('redemptions'):,}", f"{doc.total('units'):,}",
                  format_money(doc.total("face_value_cents")), format_money(doc.total("funded_cents")),
                  format_money(doc.total("handling_fee_cents")), format_money(doc.total_due_cents))
    console.print(table)
    r = doc.reconciliation
    console.print(f"Ledger to row #{r['watermark']}: {format_money(r['ledger_due_cents'])} = earlier statements "
                  f"{format_money(r['earlier_due_cents'])} + this statement {format_money(r['this_due_cents'])} + "
                  f"not yet billed {format_money(r['unbilled_due_cents'])}")


def doc_json(doc: StatementDoc) -> dict[str, object]:
    return {
        "number": doc.number, "funder": doc.manufacturer_id, "funder_name": doc.funder_name,
        "retailer": doc.retailer_name, "period_start": doc.period.start.isoformat(),
        "period_end": doc.period.end.isoformat(), "issued_on": doc.issued_on.isoformat(),
        "total_due_cents": doc.total_due_cents, "adjustments_due_cents": doc.adjustments_due_cents,
        "reconciliation": doc.reconciliation,
        "lines": [{"kind": x.kind, "list_period_start": x.list_period_start.isoformat(),
                   "week_start": x.week_start.isoformat(), "offer_code": x.offer_code, "offer_name": x.offer_name,
                   "funded_share_bp": x.funded_share_bp, "redemptions": x.redemptions, "units": x.units,
                   "face_value_cents": x.face_value_cents, "funded_cents": x.funded_cents,
                   "handling_fee_cents": x.handling_fee_cents, "total_due_cents": x.total_due_cents}
                  for x in doc.lines],
    }


commands = [statements_group]


def statements_demo_step(cli: CliContext, period_start: date) -> list[Path]:
    """The demo's last step: once the period is over, one statement PDF per funder; their paths.

    The demo's chain lives in its own calendar, so the statements are issued as of the day
    after the period ends (the grace for returns is the scheduler's business, not the demo's).
    """
    from ..results.statements import find_period

    with session_scope(cli.engine) as session:
        period = find_period(session.connection(), period_start)
    click.secho("\n== Manufacturer statements (one PDF and CSV per funder)", fg="cyan", bold=True)
    if period is None:
        click.echo(f"no lists for the period {period_start}: no statements")
        return []
    as_of = period.end + timedelta(days=1)
    click.secho(f"$ loyalty-engine statements issue --period {period_start} --as-of {as_of}", fg="bright_black")
    try:
        written = issue_and_write(cli.config, cli.engine, period_start, None, as_of=as_of,
                                  now=datetime.now(timezone.utc))
    except StatementError as exc:
        click.echo(f"no statements: {exc}")
        return []
    for doc, _created, files in written:
        click.echo(f"{doc.number}  {doc.funder_name:<32} total due {format_money(doc.total_due_cents):>12}  {files.pdf}")
    return [files.pdf for _doc, _created, files in written]


def _demo_statements(run) -> str:  # type: ignore[no-untyped-def]
    """The demo's step (named steps of cli/demo_story.py): one statement PDF per funder."""
    import contextlib
    import io

    cli = (run.cli if run.database_url == run.cli.config.database_url
           else CliContext(config=run.cli.config.with_overrides(database_url=run.database_url)))
    # one line per funder only with --verbose: the story keeps a line per step
    with contextlib.redirect_stdout(sys.stdout if run.verbose else io.StringIO()):
        paths = statements_demo_step(cli, run.period_start)
    folder = paths[0].parent if paths else "-"
    return f"{len(paths)} statement PDFs (and CSVs) in {folder}"


def _register_demo_step() -> None:
    from .demo_story import Step, add_step

    # registered before the results step, which then goes in between (the results CLI is imported later)
    add_step(Step("Manufacturer statements", _demo_statements), after="Ring up that member's basket at a lane")


_register_demo_step()
