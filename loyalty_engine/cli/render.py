"""``loyalty-engine lists render``: a period's lists as PDFs and per-store print runs."""
from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import click

from ..db import session_scope
from .context import CliContext, InputError, pass_cli
from .lists import DATE, _date, lists_group


@lists_group.command("render")
@click.option("--period-start", type=DATE, callback=_date, required=True, help="First day of the list period.")
@click.option("--store", "store_id", default=None, help="Only this store's lists.")
@click.option("--paper", type=click.Choice(["letter", "a4"], case_sensitive=False), default="letter",
              show_default=True, help="US Letter (#10 window envelope) or A4 (DL window envelope).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output folder: lists/<store>/<list>.pdf, print-run-<period>-<store>.pdf, manifest.csv.")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Render processes (default: the number of CPUs).")
@click.option("--force", is_flag=True, help="Render every list again even if unchanged since the last run.")
@pass_cli
def render(cli: CliContext, period_start: date, store_id: str | None, paper: str, out_dir: Path,
           workers: int | None, force: bool) -> None:
    """Render the period's lists: one PDF per list, one merged print run per store (mailed lists,
    sorted by postal code) and a CSV manifest. Re-running leaves unchanged lists byte-identical."""
    from ..render.from_db import iter_period_documents
    from ..render.print_run import render_print_run
    from ..render.settings import RenderSettings

    try:
        settings = RenderSettings.from_config(cli.config)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    workers = workers or os.cpu_count() or 1
    with session_scope(cli.engine) as session:
        items = iter_period_documents(session, period_start, settings, store_id=store_id)
        summary = render_print_run(items, out_dir, period_start, paper.lower(), settings, workers=workers, force=force)
    if summary.lists == 0:
        where = f" for store {store_id}" if store_id else ""
        raise InputError(f"no lists for the period starting {period_start}{where}: build them with `lists build`")
    click.echo(
        f"{summary.lists} lists, {summary.pages} pages ({summary.rendered} rendered, {summary.unchanged} unchanged, "
        f"{summary.failed} failed) in {summary.seconds:.1f} s with {workers} worker(s)"
    )
    if settings.print_duplex:
        click.echo("  duplex: every list starts on a new sheet (blank back pages added; LOYALTY_PRINT_DUPLEX=0 for a simplex printer)")
    else:
        click.echo("  simplex: lists follow one another, no blank pages")
    for store, path in sorted(summary.print_runs.items()):
        click.echo(f"  print run {store}: {path} ({summary.print_run_pages[store]} pages)")
    click.echo(f"  lists: {out_dir / 'lists'}")
    click.echo(f"  manifest: {summary.manifest}")
    if summary.failed:
        raise click.ClickException(f"{summary.failed} lists could not be rendered: see the manifest's warnings")


commands: list[click.Command] = []  # `render` lives in the `lists` group
