"""``loyalty-engine scheduler`` and ``loyalty-engine jobs {history,run}``."""
from __future__ import annotations

import json
import logging
import signal
import sys
from datetime import date
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from ..config import Config
from .context import CliContext, InputError, pass_cli


@click.command("scheduler")
@click.option("--holder", default=None, help="Name of this scheduler in the lease (default host:pid).")
@click.option("--run-for", type=float, default=None, help="Stop after this many seconds (default: run until stopped).")
@click.option("--show", is_flag=True, help="Print the configured jobs and their next run, then exit.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Worker processes for the model fit's and list build's member shards (default: LOYALTY_WORKERS).")
@click.option("--scheduler", "dask_scheduler", default=None,
              help="Dask scheduler address for the model fit and list build, tcp://host:8786 "
                   "(default: LOYALTY_DASK_SCHEDULER).")
@pass_cli
def scheduler(cli: CliContext, holder: str | None, run_for: float | None, show: bool, workers: int | None,
              dask_scheduler: str | None) -> None:
    """Run the job scheduler: weekly lists, nightly model and lifecycle, daily expiry.

    Only one scheduler runs jobs at a time (a database lease); another one started
    elsewhere waits and takes over if the first stops.
    """
    from jobs.schedule import ScheduleError, SchedulerService, SchedulerSettings

    try:
        settings = SchedulerSettings.from_config(cli.config)
    except ScheduleError as exc:
        raise InputError(str(exc)) from None
    service = SchedulerService(cli.engine, _with_cluster(cli.config, workers, dask_scheduler), settings, holder=holder)
    if show:
        for job_id, spec, next_time in service.planned():
            click.echo(f"{job_id:<14} {spec:<12} next {next_time.isoformat() if next_time else '-'}")
        holder_now, expires = service.lease.current_holder()
        click.echo(f"lease: {holder_now or 'free'}" + (f" until {expires}" if holder_now else ""))
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, lambda *_: service.stop())
    click.echo(f"scheduler {service.holder} starting (timezone {settings.timezone}); "
               + ", ".join(f"{j} {s}" for j, s in settings.schedules.items()))
    try:
        service.run(run_for=run_for)
    except KeyboardInterrupt:
        service.stop()
    click.echo(f"scheduler {service.holder} stopped")


@click.group("jobs")
def jobs_group() -> None:
    """Scheduled job runs: history, and running one job now."""


@jobs_group.command("history")
@click.option("--limit", default=30, show_default=True)
@click.option("--job", "job_id", default=None, help="Only this job.")
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def history(cli: CliContext, limit: int, job_id: str | None, as_json: bool) -> None:
    """List recent job runs with status, counts and duration."""
    from jobs.runtime import run_history

    runs = run_history(cli.engine, limit, job_id)
    if as_json:
        click.echo(json.dumps([{
            "id": r.id, "job_id": r.job_id, "scheduled_for": r.scheduled_for.isoformat(),
            "as_of": r.as_of.isoformat() if r.as_of else None, "holder": r.holder, "status": r.status,
            "started_at": r.started_at.isoformat(), "duration_ms": r.duration_ms, "counts": r.counts,
            "message": r.message,
        } for r in runs], indent=2))
        return
    if not runs:
        click.echo("no job runs yet")
        return
    _console().print(_history_table(runs))


def _console() -> Console:
    """The terminal's own width: a table wider than the terminal is wrapped by the terminal
    itself, which cut a duration such as "32.06s" into "3" and "2.06s" on two lines."""
    return Console() if sys.stdout.isatty() else Console(width=160)


def _history_table(runs: list[Any]) -> Table:
    table = Table(title="Job runs (newest first)")
    for col in ("id", "job", "scheduled for", "as of", "status", "duration"):
        table.add_column(col, no_wrap=True)  # short values are never folded or cut
    table.add_column("holder", overflow="fold")
    table.add_column("counts", overflow="fold")
    for r in runs:
        counts = ", ".join(f"{k}={v}" for k, v in (r.counts or {}).items() if not isinstance(v, (dict, list)))
        duration = f"{r.duration_ms / 1000:.2f}s" if r.duration_ms is not None else "running"
        table.add_row(str(r.id), r.job_id, f"{r.scheduled_for:%Y-%m-%d %H:%M:%S}", str(r.as_of or ""),
                      r.status, duration, r.holder, counts[:120] or (r.message or "")[:120])
    return table


@jobs_group.command("run")
@click.argument("job_id")
@click.option("--as-of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Business date the job runs for (default: today).")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Worker processes for the model fit's and list build's member shards (default: LOYALTY_WORKERS).")
@click.option("--scheduler", "dask_scheduler", default=None,
              help="Dask scheduler address for the model fit and list build, tcp://host:8786 "
                   "(default: LOYALTY_DASK_SCHEDULER).")
@pass_cli
def run(cli: CliContext, job_id: str, as_of: object, workers: int | None, dask_scheduler: str | None) -> None:
    """Run one job now (weekly_lists, refresh_model, expire, lifecycle), logged in the history."""
    from jobs.runtime import RunContext
    from jobs.schedule import ScheduleError, SchedulerSettings, default_holder, run_now

    settings = SchedulerSettings.from_config(cli.config)
    day = as_of.date() if as_of else date.today()  # type: ignore[attr-defined]
    context = RunContext(cli.engine, _with_cluster(cli.config, workers, dask_scheduler),
                         holder=f"manual {default_holder()}", timezone=settings.timezone)
    try:
        outcome = run_now(context, job_id, day)
    except ScheduleError as exc:
        raise InputError(str(exc)) from None
    click.echo(f"{job_id} as of {day}: {outcome.status} {json.dumps(outcome.counts, default=str)}")
    if outcome.status == "failed":
        raise SystemExit(1)


def _with_cluster(config: Config, workers: int | None, dask_scheduler: str | None) -> Config:
    """The config with the command line's list-build cluster options, where given."""
    return config.with_overrides(workers=workers or config.workers,
                                 dask_scheduler=dask_scheduler or config.dask_scheduler)


commands: list[click.Command] = [scheduler, jobs_group]
