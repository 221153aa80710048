"""``loyalty-engine analytics``: a funder's anonymized offer analytics for a list period (CSV or JSON)."""
from __future__ import annotations

import json
from datetime import datetime

import click

from ..db import session_scope
from ..results.analytics import AnalyticsError, funder_analytics, report_csv
from .context import CliContext, InputError, pass_cli

DATE = click.DateTime(formats=["%Y-%m-%d"])



@click.command("analytics")
@click.option("--funder", required=True, help="Manufacturer id.")
@click.option("--period", "period", type=DATE, required=True, help="First day of the list period (YYYY-MM-DD).")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.option("--min-group-size", type=click.IntRange(min=2), default=None,
              help="Suppress groups of fewer members (default: LOYALTY_MIN_GROUP_SIZE, 10).")
@pass_cli
def analytics(cli: CliContext, funder: str, period: datetime, fmt: str, min_group_size: int | None) -> None:
    """Trial, repeat, source of volume, penetration, units per buyer and lift of a funder's offers.

    Anonymized: counts and sums of groups only; groups under the minimum size are suppressed.
    """
    k = min_group_size or cli.config.min_group_size
    try:
        with session_scope(cli.engine) as session:
            report = funder_analytics(session.connection(), funder, period.date(), min_group_size=k,
                                      trial_weeks=cli.config.trial_weeks)
    except AnalyticsError as exc:
        raise InputError(str(exc)) from None
    if fmt == "json":
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        click.echo(report_csv(report), nl=False)


commands = [analytics]
