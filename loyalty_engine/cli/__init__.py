"""The one ``loyalty-engine`` command line. Each concept keeps its commands in its own module."""
from __future__ import annotations

import click

from .context import CliContext
from . import backtest, db, demo, generate, imports, lanes, lists, model, offers, render, scheduler, serve, stores
from . import users
from . import analytics, statements
from . import results

COMMAND_MODULES = (db, imports, generate, model, backtest, offers, lists, render, stores, lanes, scheduler, serve,
                   users, demo, statements, analytics, results)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--database-url",
    envvar="LOYALTY_DATABASE_URL",
    default=None,
    help="SQLAlchemy URL (default: SQLite file in the instance folder). Env: LOYALTY_DATABASE_URL.",
)
@click.pass_context
def main(ctx: click.Context, database_url: str | None) -> None:
    """Personalized loyalty and coupon engine for grocery chains."""
    ctx.obj = CliContext.from_env(database_url=database_url)


for _module in COMMAND_MODULES:
    for _command in getattr(_module, "commands", ()):
        main.add_command(_command)
