"""``loyalty-engine offers``: create, list, show, activate, pause, forecast, expire, seed-demo."""
from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from ..db import session_scope
from ..models.offers import OFFER_STATUSES, Offer, OfferProduct
from ..models.catalog import Product
from ..money import format_money
from ..offers.definition import DefinitionError, load_definition_file
from ..offers.service import (
    OfferError,
    expire_offers,
    find_offer,
    offer_benefit_texts,
    pause_offer,
    remaining_budget_cents,
    save_definitions,
)
from .context import CliContext, InputError, pass_cli


def _console() -> Console:
    """Rich console; wide enough for tables when output is a pipe or a file."""
    return Console() if sys.stdout.isatty() else Console(width=160)


def _today(value: date | None) -> date:
    return value or date.today()


def _date_option(name: str, help: str) -> click.Option:  # type: ignore[type-arg]
    return click.option(name, type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help=help,
                        callback=lambda _c, _p, v: v.date() if v else None)


def _input_errors(exc: Exception) -> InputError:
    if isinstance(exc, DefinitionError):
        lines = "\n".join(f"  - {p}" for p in exc.problems)
        return InputError(f"{exc.source}: refused:\n{lines}")
    return InputError(str(exc))


@click.group("offers")
def offers_group() -> None:
    """Manufacturer-funded and store offers: create from a file, activate, pause, forecast."""


@offers_group.command("create")
@click.argument("file", type=click.Path(path_type=Path))
@_date_option("--today", "Date the offers are created on (default: today); activation checks the window against it.")
@pass_cli
def create(cli: CliContext, file: Path, today: date | None) -> None:
    """Create or update offers (and list content) from FILE (.toml, .yaml, .json).

    An offer whose slug exists as a draft or paused offer is updated; all or nothing.
    """
    from ..console.settings import maker_checker

    try:
        definitions = load_definition_file(file)
        with session_scope(cli.engine) as session:
            at_once = [d.slug for d in definitions.offers if d.status == "active"]
            if at_once and maker_checker(session, cli.config):
                # maker-checker: a file cannot activate an offer past its approver
                raise InputError(f"maker-checker is on: {', '.join(at_once)} cannot be activated from a file; "
                                 "give them status = \"draft\" and run loyalty-engine offers activate SLUG "
                                 "--approved-by USER")
            counts = save_definitions(session, definitions, _today(today))
            rows = [(o.slug, session.execute(select(Offer).where(Offer.slug == o.slug)).scalar_one())
                    for o in definitions.offers]
            summary = [(slug, offer.id, offer.offer_code, offer.status,
                        session.execute(select(func.count()).select_from(OfferProduct)
                                        .where(OfferProduct.offer_id == offer.id)).scalar_one())
                       for slug, offer in rows]
    except (DefinitionError, OfferError) as exc:
        raise _input_errors(exc) from None
    for slug, offer_id, code, status, n_products in summary:
        click.echo(f"offer {offer_id} ({slug}) code {code}: {status}, {n_products} products in scope")
    click.echo(
        f"{counts['offers_created']} offers created, {counts['offers_updated']} updated; "
        f"{counts['content_created']} content items created, {counts['content_updated']} updated"
    )


@offers_group.command("list")
@click.option("--status", type=click.Choice(OFFER_STATUSES), default=None, help="Only offers in this status.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_cli
def list_offers(cli: CliContext, status: str | None, as_json: bool) -> None:
    """List offers with their benefit, window, budget and redemptions."""
    with session_scope(cli.engine) as session:
        query = select(Offer).order_by(Offer.id)
        if status:
            query = query.where(Offer.status == status)
        offers = session.execute(query).scalars().all()
        if as_json:
            click.echo(json.dumps([_offer_dict(o) for o in offers], indent=2))
            return
        table = Table(title=f"Offers{' (' + status + ')' if status else ''}", show_lines=False)
        for col in ("id", "code", "slug", "funder", "status", "valid", "benefit low/med/high", "budget used", "redeemed"):
            table.add_column(col)
        for o in offers:
            texts = offer_benefit_texts(o)
            benefit = texts["low"] if len(set(texts.values())) == 1 else " / ".join(texts.values())
            budget = (f"{format_money(o.funded_spent_cents)} of {format_money(o.budget_cents)}"
                      if o.budget_cents is not None else f"{format_money(o.funded_spent_cents)} (no cap)")
            redeemed = f"{o.redeemed_count}" + (f" of {o.max_redemptions}" if o.max_redemptions else "")
            table.add_row(str(o.id), o.offer_code, o.slug, o.manufacturer_id or "store", o.status,
                          f"{o.valid_from}..{o.valid_to}", benefit, budget, redeemed)
        _console().print(table)
        if not offers:
            click.echo("no offers")


def _offer_dict(o: Offer) -> dict[str, object]:
    return {
        "id": o.id, "offer_code": o.offer_code, "slug": o.slug, "name": o.name, "description": o.description,
        "status": o.status, "funder_kind": o.funder_kind, "manufacturer_id": o.manufacturer_id,
        "scope": {"kind": o.scope_kind, "values": o.scope_values, "brand_type": o.scope_brand_type,
                  "within_category": o.scope_category},
        "segment_category": o.segment_category, "match_on": o.match_on, "target_cells": o.target_cells,
        "target_stages": o.target_stages, "min_probability": o.min_probability,
        "benefit_kind": o.benefit_kind, "benefit": {"low": o.benefit_low, "medium": o.benefit_medium, "high": o.benefit_high},
        "benefit_text": offer_benefit_texts(o), "min_quantity": o.min_quantity,
        "redemption_limit": o.redemption_limit, "stackable": o.stackable,
        "funded_share_bp": o.funded_share_bp, "handling_fee_cents": o.handling_fee_cents,
        "budget_cents": o.budget_cents, "max_redemptions": o.max_redemptions,
        "valid_from": o.valid_from.isoformat(), "valid_to": o.valid_to.isoformat(),
        "holdout_share": o.holdout_share, "exclusion_group": o.exclusion_group,
        "exclusion_side": o.exclusion_side, "redeemed_count": o.redeemed_count,
        "funded_spent_cents": o.funded_spent_cents, "discount_given_cents": o.discount_given_cents,
    }


def _exclusion_text(offer: Offer) -> str:
    if offer.exclusion_group is None:
        return "Exclusion group: none (shares a list with any offer)"
    other = "national" if offer.exclusion_side == "store" else "store"
    return (f"Exclusion group {offer.exclusion_group!r} ({offer.exclusion_side} brands): never on a list "
            f"with a {other}-brand offer of the group")


@offers_group.command("show")
@click.argument("offer_ref")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_cli
def show(cli: CliContext, offer_ref: str, as_json: bool) -> None:
    """Show one offer (by id, slug or offer code) with its resolved scope."""
    with session_scope(cli.engine) as session:
        try:
            offer = find_offer(session, offer_ref)
        except OfferError as exc:
            raise InputError(str(exc)) from None
        products = session.execute(
            select(Product.sku, Product.name, Product.brand, Product.regular_price_cents)
            .join(OfferProduct, OfferProduct.product_key == Product.id)
            .where(OfferProduct.offer_id == offer.id).order_by(Product.sku)
        ).all()
        data = _offer_dict(offer)
        data["skus"] = [p.sku for p in products]
        if as_json:
            click.echo(json.dumps(data, indent=2))
            return
        console = _console()
        console.print(f"[bold]Offer {offer.id}[/bold] {offer.slug}  code {offer.offer_code}  [{offer.status}]")
        console.print(f"{offer.name}: {offer.description}")
        funder = f"manufacturer {offer.manufacturer_id}" if offer.funder_kind == "manufacturer" else "the store"
        console.print(f"Funded by {funder}: {offer.funded_share_bp / 100:g}% of the face value, "
                      f"handling fee {format_money(offer.handling_fee_cents)} per redemption")
        budget = format_money(offer.budget_cents) if offer.budget_cents is not None else "none"
        left = remaining_budget_cents(offer)
        console.print(f"Budget {budget}" + (f" ({format_money(left)} left)" if left is not None else "")
                      + f"; max redemptions {offer.max_redemptions or 'none'}; redeemed {offer.redeemed_count}, "
                      f"funded so far {format_money(offer.funded_spent_cents)}")
        console.print(f"Valid {offer.valid_from} to {offer.valid_to}; limit {offer.redemption_limit} per list; "
                      f"min quantity {offer.min_quantity}; {'stackable' if offer.stackable else 'not stackable'}; "
                      f"hold-out {offer.holdout_share:.0%}")
        console.print(_exclusion_text(offer), markup=False)
        texts = offer_benefit_texts(offer)
        console.print("Benefit by usage tier: " + ", ".join(f"{t} {v}" for t, v in texts.items()))
        console.print(f"Targeting: cells {', '.join(offer.target_cells) if offer.target_cells else 'all'} "
                      f"of {offer.segment_category!r}; stages {', '.join(offer.target_stages) if offer.target_stages else 'all'}; "
                      f"min probability {offer.min_probability:g}; probability measured on {offer.match_on}")
        scope = f"{offer.scope_kind} {', '.join(offer.scope_values)}"
        if offer.scope_brand_type:
            scope += f" ({offer.scope_brand_type} brand)"
        console.print(f"Scope: {scope}: {len(products)} products")
        table = Table()
        for col in ("sku", "name", "brand", "price"):
            table.add_column(col)
        for p in products[:25]:
            table.add_row(p.sku, p.name, p.brand, format_money(p.regular_price_cents) if p.regular_price_cents else "")
        console.print(table)
        if len(products) > 25:
            console.print(f"... and {len(products) - 25} more")


@offers_group.command("activate")
@click.argument("offer_ref")
@click.option("--approved-by", "approved_by", default=None, metavar="USER",
              help="The approver who signed the offer off (needed while maker-checker is on): an enabled "
                   "console user with the approver role who did not create or submit the offer.")
@_date_option("--today", "Today's date (default: the system date).")
@pass_cli
def activate(cli: CliContext, offer_ref: str, approved_by: str | None, today: date | None) -> None:
    """Activate a draft, submitted or paused offer (its scope is resolved again), audited.

    Maker-checker (on by default, switched in the console's settings) holds here as in the
    console: the offer is activated only with --approved-by naming another person, an approver."""
    from datetime import datetime, timezone

    from ..console.audit import record_change
    from ..console.settings import maker_checker
    from ..console.users import get_user
    from ..offers.workflow import operator_activate
    from .users import cli_actor

    operator = cli_actor()
    # the audit log's time: today's date at the current time of day when --today is given
    now = datetime.now(timezone.utc)
    if today is not None:
        now = datetime.combine(today, now.time(), tzinfo=timezone.utc)
    try:
        with session_scope(cli.engine) as session:
            offer = find_offer(session, offer_ref)
            if offer.status == "active":
                click.echo(f"offer {offer.id} ({offer.slug}) is already active")
                return
            approver = get_user(session, approved_by) if approved_by else None
            if approved_by and approver is None:
                raise InputError(f"no console user {approved_by!r} (loyalty-engine users list)")
            step = operator_activate(session, offer, operator=operator, approver=approver, now=now,
                                     approval_required=maker_checker(session, cli.config))
            record_change(session, operator, f"offer.{step.action}", "offer", offer.id, step.before, step.after, at=now)
            by = f", approved by {approver.username}" if approver is not None else ""
            click.echo(f"offer {offer.id} ({offer.slug}) is active{by}")
    except (DefinitionError, OfferError) as exc:
        raise _input_errors(exc) from None


@offers_group.command("pause")
@click.argument("offer_ref")
@pass_cli
def pause(cli: CliContext, offer_ref: str) -> None:
    """Pause an offer: no new lists carry it and checkout stops redeeming it."""
    try:
        with session_scope(cli.engine) as session:
            offer = pause_offer(session, find_offer(session, offer_ref))
            click.echo(f"offer {offer.id} ({offer.slug}) is paused")
    except OfferError as exc:
        raise InputError(str(exc)) from None


@offers_group.command("expire")
@_date_option("--as-of", "End offers whose window closed before this date (default: today).")
@pass_cli
def expire(cli: CliContext, as_of: date | None) -> None:
    """End offers whose validity window is over."""
    with session_scope(cli.engine) as session:
        n = expire_offers(session, _today(as_of))
    click.echo(f"{n} offers ended")


@offers_group.command("forecast")
@click.argument("offer_ref")
@_date_option("--period-start", "First day of the list period to forecast (default: next Monday).")
@_date_option("--as-of", "Data cut-off for the model (default: the period start).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_cli
def forecast(cli: CliContext, offer_ref: str, period_start: date | None, as_of: date | None, as_json: bool) -> None:
    """Forecast members, redemptions and cost by cell for the next list period."""
    from ..offers.forecast import forecast_offer
    from ..shopping_lists.cadence import next_period_start
    from ..shopping_lists.model_source import ModelUnavailable, model_provider
    from ..shopping_lists.settings import ListSettings

    settings = ListSettings.from_config(cli.config)
    start = period_start or next_period_start(date.today())
    with session_scope(cli.engine) as session:
        try:
            offer = find_offer(session, offer_ref)
            result = forecast_offer(session, offer, start, model_provider(cli.engine, cli.config), settings, as_of)
        except (OfferError, ModelUnavailable) as exc:
            raise InputError(str(exc)) from None
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    console = _console()
    table = Table(title=f"Forecast for offer {result.offer_id} ({result.slug}), lists of {result.period_start}..{result.period_end}")
    for col in ("cell", "targeted", "members", "held out", "exp. redemptions", "exp. face", "funder cost",
                "retailer cost", "handling fees"):
        table.add_column(col, justify="right" if col != "cell" else "left")
    for c in [*result.cells, result.total]:
        if c.cell != "total" and not (c.targeted or c.members):
            continue
        table.add_row(c.cell, str(c.targeted), str(c.members), str(c.held_out), f"{c.expected_redemptions:.1f}",
                      format_money(round(c.face_cents)), format_money(round(c.funder_cents)),
                      format_money(round(c.retailer_cents)), format_money(round(c.handling_fee_cents)),
                      style="bold" if c.cell == "total" else None)
    console.print(table)
    if result.remaining_budget_cents is not None:
        console.print(f"remaining budget {format_money(round(result.remaining_budget_cents))}"
                      + ("; budget pacing limits the offer" if result.budget_limited else ""))
    for note in result.notes:
        console.print(f"note: {note}")


@offers_group.command("seed-demo")
@_date_option("--start", "First day of the demo offers' window (default: today).")
@click.option("--weeks", default=12, show_default=True, help="Length of the demo offers' window.")
@pass_cli
def seed_demo(cli: CliContext, start: date | None, weeks: int) -> None:
    """Create and activate the demo offer set for the synthetic chain (idempotent)."""
    from ..offers.demo import DemoError, seed_demo_offers

    try:
        with session_scope(cli.engine) as session:
            counts = seed_demo_offers(session, _today(start), weeks)
    except (DemoError, DefinitionError, OfferError) as exc:
        raise _input_errors(exc) from None
    click.echo(
        f"demo offers: {counts['offers_created']} created, {counts['offers_updated']} updated, "
        f"{counts.get('offers_active', 0)} active; content: {counts['content_created']} created, "
        f"{counts['content_updated']} updated"
    )


commands: list[click.Command] = [offers_group]
