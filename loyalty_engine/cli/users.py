"""``loyalty-engine users``: console and portal users.

    loyalty-engine users add NAME --role ROLE [--manufacturer MFR] [--categories C ...] [--password-stdin]
    loyalty-engine users list
    loyalty-engine users disable NAME      (revokes their sessions)
    loyalty-engine users password NAME [--password-stdin]   (a new password; revokes their sessions)
"""
from __future__ import annotations

import getpass
import sys
from datetime import datetime, timezone

import click
from sqlalchemy.orm import Session

from ..console.signin import unlock
from ..console.users import UserError, create_user, disable_user, get_user, list_users, set_password
from ..models.console import ROLES
from .context import CliContext, InputError, pass_cli


def cli_actor() -> str:
    """Who the audit log names for a change made from the command line."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@click.group("users")
def users_group() -> None:
    """Console and portal users and their roles."""


@users_group.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--manufacturer", "manufacturer_id", default=None, help="The funder a manufacturer user is bound to.")
@click.option("--categories", multiple=True,
              help="A category manager's categories (repeat the option, or separate with commas).")
@click.option("--display-name", default="", help="Name shown in the console.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@pass_cli
def add(cli: CliContext, name: str, role: str, manufacturer_id: str | None, categories: tuple[str, ...],
        display_name: str, password_stdin: bool) -> None:
    """Create user NAME. The password is asked for (twice) unless --password-stdin."""
    password = _read_password(password_stdin)
    cats = [c.strip() for value in categories for c in value.split(",") if c.strip()]
    with Session(cli.engine) as session:
        try:
            user = create_user(session, name, role, password, actor=cli_actor(), at=datetime.now(timezone.utc),
                               manufacturer_id=manufacturer_id, categories=cats, display_name=display_name)
        except UserError as exc:
            raise InputError(exc.message) from exc
        session.commit()
        click.echo(f"user {user.username} created ({user.role}"
                   + (f", manufacturer {user.manufacturer_id}" if user.manufacturer_id else "")
                   + (f", categories {', '.join(user.categories)}" if user.categories else "") + ")")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@users_group.command("list")
@pass_cli
def list_(cli: CliContext) -> None:
    """List users, their roles and whether they are active."""
    with Session(cli.engine) as session:
        users = list_users(session)
        if not users:
            click.echo("no users")
            return
        click.echo(f"{'user':<24} {'role':<17} {'status':<9} manufacturer / categories")
        for user in users:
            scope = user.manufacturer_id or ", ".join(user.categories) or "-"
            status = "active" if user.is_active else "disabled"
            click.echo(f"{user.username:<24} {user.role:<17} {status:<9} {scope}")


@users_group.command("disable")
@click.argument("name")
@pass_cli
def disable(cli: CliContext, name: str) -> None:
    """Disable user NAME and revoke every session of theirs."""
    with Session(cli.engine) as session:
        user = get_user(session, name)
        if user is None:
            raise InputError(f"no user {name!r}")
        if not user.is_active:
            raise InputError(f"user {user.username} is already disabled")
        try:
            revoked = disable_user(session, user, actor=cli_actor(), at=datetime.now(timezone.utc))
        except UserError as exc:
            raise InputError(exc.message) from exc
        session.commit()
        click.echo(f"user {user.username} disabled; {revoked} session(s) revoked")


@users_group.command("password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@pass_cli
def password(cli: CliContext, name: str, password_stdin: bool) -> None:
    """Set a new password for NAME (e.g. an admin who lost theirs); revokes their sessions and clears a lock-out."""
    new_password = _read_password(password_stdin)
    with Session(cli.engine) as session:
        user = get_user(session, name)
        if user is None:
            raise InputError(f"no user {name!r}")
        try:
            set_password(session, user, new_password, actor=cli_actor(), at=datetime.now(timezone.utc))
        except UserError as exc:
            raise InputError(exc.message) from exc
        unlock(session, user.username)
        session.commit()
        click.echo(f"password of {user.username} changed; their sessions were revoked")


def demo_step(run) -> str:  # type: ignore[no-untyped-def]
    """The demo's step: an admin, a category manager, an approver and a manufacturer, passwords shown once."""
    from ..console.demo import create_demo_users, demo_user_lines
    from .demo_story import busiest_category

    users = create_demo_users(run.engine, busiest_category(run.engine), datetime.now(timezone.utc))
    run.facts["console_users"] = demo_user_lines(users, f"http://127.0.0.1:{run.port}/console/")
    return f"{', '.join(u.username for u in users)} (passwords below, shown once)"


commands = [users_group]
