"""``loyalty-engine db``: schema migrations."""
from __future__ import annotations

import click

from .. import migrate
from .context import CliContext, pass_cli


@click.group("db")
def db_group() -> None:
    """Database schema (Alembic migrations)."""


@db_group.command("upgrade")
@click.argument("revision", default="head")
@pass_cli
def upgrade(cli: CliContext, revision: str) -> None:
    """Apply migrations up to REVISION (default: head)."""
    migrate.upgrade(cli.engine, revision)
    click.echo(f"database at revision {migrate.current_revision(cli.engine)} ({cli.engine.url.render_as_string(hide_password=True)})")


@db_group.command("downgrade")
@click.argument("revision")
@pass_cli
def downgrade(cli: CliContext, revision: str) -> None:
    """Revert migrations down to REVISION."""
    migrate.downgrade(cli.engine, revision)
    click.echo(f"database at revision {migrate.current_revision(cli.engine)}")


@db_group.command("current")
@pass_cli
def current(cli: CliContext) -> None:
    """Print the current schema revision."""
    click.echo(migrate.current_revision(cli.engine) or "empty")


commands = [db_group]
