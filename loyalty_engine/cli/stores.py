"""``loyalty-engine stores list``: the chain's stores (the ids ``lanes add`` and the API take)."""
from __future__ import annotations

import json

import click
from sqlalchemy import func, select

from ..models.catalog import Store
from ..models.checkout import Lane, LaneApiKey
from ..models.members import Member
from .context import CliContext, pass_cli


@click.group("stores")
def stores_group() -> None:
    """The chain's stores."""


@stores_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_cli
def list_stores(cli: CliContext, as_json: bool) -> None:
    """List stores: id, name, town, time zone, home-store members and lanes with an active key."""
    members = select(Member.home_store_id, func.count().label("n")).group_by(Member.home_store_id).subquery()
    lanes = (select(Lane.store_id, func.count(func.distinct(Lane.id)).label("n"))
             .join(LaneApiKey, LaneApiKey.lane_id == Lane.id).where(LaneApiKey.revoked_at.is_(None))
             .group_by(Lane.store_id).subquery())
    with cli.engine.connect() as conn:
        rows = conn.execute(
            select(Store.id, Store.name, Store.city, Store.region, Store.timezone, Store.is_placeholder,
                   func.coalesce(members.c.n, 0), func.coalesce(lanes.c.n, 0))
            .outerjoin(members, members.c.home_store_id == Store.id)
            .outerjoin(lanes, lanes.c.store_id == Store.id)
            .order_by(Store.id)
        ).all()
    if as_json:
        click.echo(json.dumps([{"store_id": r[0], "name": r[1], "city": r[2], "region": r[3], "timezone": r[4],
                                "is_placeholder": bool(r[5]), "members": int(r[6]), "lanes_with_keys": int(r[7])}
                               for r in rows], indent=2))
        return
    if not rows:
        click.echo("no stores yet: import them (loyalty-engine import stores FILE) or run loyalty-engine demo")
        return
    click.echo(f"{'store':<10} {'name':<36} {'town':<24} {'time zone':<20} {'members':>7} {'lanes':>5}")
    for store_id, name, city, region, tz, placeholder, n_members, n_lanes in rows:
        town = f"{city}, {region}" if city and region else (city or region)
        label = f"{name} (placeholder)" if placeholder else name
        click.echo(f"{store_id:<10} {label[:36]:<36} {town[:24]:<24} {tz:<20} {n_members:>7} {n_lanes:>5}")


commands = [stores_group]
