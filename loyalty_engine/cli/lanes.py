"""``loyalty-engine lanes``: lane API keys, and a simulated checkout for demos.

    loyalty-engine lanes add STORE LANE [--rotate]   issue a key (printed once, stored hashed)
    loyalty-engine lanes list [--store S] [--all]
    loyalty-engine lanes revoke STORE LANE | --key KEY_ID
    loyalty-engine lanes simulate --card CARD | --list LIST_NO [--url URL --key KEY]
"""
from __future__ import annotations

import json
import random
import urllib.error
import urllib.request
from datetime import datetime, timezone
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..checkout.errors import CheckoutError
from ..checkout.lanes import issue_key, list_keys, revoke
from ..clock import FixedClock
from ..list_numbers import ListNumberError, parse_list_number
from ..models.catalog import Product
from ..models.lists import ShoppingList, ShoppingListLine
from ..models.members import Member
from ..models.offers import OfferProduct
from ..money import format_money
from .context import CliContext, InputError, pass_cli


@click.group("lanes")
def lanes_group() -> None:
    """POS lanes: API keys for the lane API, and a simulated checkout."""


@lanes_group.command("add")
@click.argument("store")
@click.argument("lane")
@click.option("--rotate", is_flag=True, help="Replace the lane's active key (the old one stops working).")
@pass_cli
def add(cli: CliContext, store: str, lane: str, rotate: bool) -> None:
    """Issue an API key for lane LANE of store STORE. The key is printed once: keep it."""
    try:
        with cli.engine.begin() as conn:
            issued = issue_key(conn, store, lane, datetime.now(timezone.utc), rotate=rotate)
    except CheckoutError as exc:
        raise InputError(exc.message) from exc
    click.echo(f"lane {issued.store_id}/{issued.lane_code}: key id {issued.key_id}")
    click.echo("API key (shown once, only a hash is stored):")
    click.echo(issued.api_key)


@lanes_group.command("list")
@click.option("--store", default=None, help="Only this store's lanes.")
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked keys.")
@pass_cli
def list_(cli: CliContext, store: str | None, include_revoked: bool) -> None:
    """List lanes and their keys (key ids only; secrets are never shown again)."""
    with cli.engine.connect() as conn:
        keys = list_keys(conn, store, include_revoked)
    if not keys:
        click.echo("no lane keys")
        return
    click.echo(f"{'store':<12} {'lane':<8} {'key id':<14} {'created (UTC)':<20} revoked")
    for key in keys:
        revoked = key.revoked_at.strftime("%Y-%m-%d %H:%M") if key.revoked_at else "-"
        click.echo(f"{key.store_id:<12} {key.lane_code:<8} {key.key_id:<14} "
                   f"{key.created_at.strftime('%Y-%m-%d %H:%M'):<20} {revoked}")


@lanes_group.command("revoke")
@click.argument("store", required=False)
@click.argument("lane", required=False)
@click.option("--key", "key_id", default=None, help="Revoke one key by its key id.")
@pass_cli
def revoke_(cli: CliContext, store: str | None, lane: str | None, key_id: str | None) -> None:
    """Revoke the active key(s) of lane LANE of STORE, or one key with --key."""
    if key_id is None and (store is None or lane is None):
        raise InputError("give STORE LANE, or --key KEY_ID")
    with cli.engine.begin() as conn:
        count = revoke(conn, datetime.now(timezone.utc), store_id=store, lane_code=lane, key_id=key_id)
    if count == 0:
        raise InputError("no active key matched")
    click.echo(f"revoked {count} key(s)")


# --- simulate -----------------------------------------------------------------------------


@lanes_group.command("simulate")
@click.option("--card", default=None, help="Member card to scan (finds the member's current list).")
@click.option("--list", "list_number", default=None, help="Shopping-list barcode to scan.")
@click.option("--store", default=None, help="Store (default: the list's store, or the member's home store).")
@click.option("--lane", default="DEMO", show_default=True)
@click.option("--url", default=None, help="Base URL of a running API (e.g. http://127.0.0.1:5000). "
                                          "Default: run the API in-process.")
@click.option("--key", "api_key", default=None, envvar="LOYALTY_LANE_KEY",
              help="Lane API key (needed with --url; in-process a key is issued for the lane).")
@click.option("--at", "scanned_at", default=None, help="Scan time, ISO 8601 (default: now; in-process, "
                                                       "a time inside the list's period).")
@click.option("--pos-transaction-id", default=None, help="POS transaction id (default: random).")
@click.option("--extra-items", default=5, show_default=True, help="Other items in the basket.")
@click.option("--seed", default=7, show_default=True, type=int)
@pass_cli
def simulate(cli: CliContext, card: str | None, list_number: str | None, store: str | None, lane: str,
             url: str | None, api_key: str | None, scanned_at: str | None, pos_transaction_id: str | None,
             extra_items: int, seed: int) -> None:
    """Ring up a basket for a member's list: quote it, complete it, retry the complete (idempotent)."""
    if (card is None) == (list_number is None):
        raise InputError("give exactly one of --card or --list")
    rng = random.Random(seed)
    with Session(cli.engine) as session:
        plan = _basket_for(session, card, list_number, extra_items, rng)
    store = store or plan["store"]
    if store is None:
        raise InputError("the member has no home store and the list none: give --store")
    at = _scan_time(scanned_at, plan, in_process=url is None)
    body: dict[str, Any] = {
        "store": store, "lane": lane,
        "pos_transaction_id": pos_transaction_id or f"SIM{rng.randrange(10**9):09d}",
        "scanned_at": at.isoformat(), "identifier": plan["identifier"], "lines": plan["lines"],
    }
    post = _remote(url, api_key) if url else _in_process(cli, store, lane, at)
    status, quote = post("/api/v1/checkout/quote", body)
    _show("QUOTE", status, quote)
    if status != 200:
        raise SystemExit(1)
    complete_body = dict(body, tender={"method": "card", "amount_cents": quote["total_due_cents"]})
    status, done = post("/api/v1/checkout/complete", complete_body)
    _show("COMPLETE", status, done)
    if status != 200:
        raise SystemExit(1)
    status, again = post("/api/v1/checkout/complete", complete_body)
    same = again == done
    click.echo(f"\nretried complete: HTTP {status}, {'same answer, nothing redeemed twice' if same else 'DIFFERENT'}")
    click.echo(f"recorded as transaction {done['transaction_id']}")


def _basket_for(conn: Session, card: str | None, list_number: str | None, extra_items: int,
                rng: random.Random) -> dict[str, Any]:
    """A basket that buys what the list offers (enough units for each) plus a few other items."""
    if list_number is not None:
        try:
            serial = parse_list_number(list_number)
        except ListNumberError as exc:
            raise InputError(f"--list: {exc}") from exc
        row = conn.execute(select(ShoppingList).where(ShoppingList.id == serial)).scalar_one_or_none()
        if row is None:
            raise InputError(f"no shopping list {list_number}")
        member = conn.execute(select(Member).where(Member.id == row.member_key)).scalar_one()
        shopping_list: ShoppingList | None = row
    else:
        member = conn.execute(select(Member).where(Member.card_number == card)).scalar_one_or_none()
        if member is None:
            raise InputError(f"no member with card {card}")
        shopping_list = conn.execute(
            select(ShoppingList).where(ShoppingList.member_key == member.id, ShoppingList.status == "active")
            .order_by(ShoppingList.period_start.desc()).limit(1)
        ).scalar_one_or_none()
    lines: list[dict[str, Any]] = []
    if shopping_list is not None:
        list_lines = conn.execute(
            select(ShoppingListLine).where(ShoppingListLine.list_id == shopping_list.id)
            .order_by(ShoppingListLine.line_no)
        ).scalars().all()
        for list_line in list_lines:
            product = conn.execute(
                select(Product).join(OfferProduct, OfferProduct.product_key == Product.id)
                .where(OfferProduct.offer_id == list_line.offer_id).order_by(Product.sku).limit(1)
            ).scalar_one_or_none()
            if product is not None:
                lines.append(_line(product, list_line.min_quantity))
    others = conn.execute(select(Product).where(Product.is_placeholder.is_(False)).order_by(Product.id).limit(400)).scalars().all()
    for product in rng.sample(list(others), min(extra_items, len(others))):
        lines.append(_line(product, 1))
    if not lines:
        raise InputError("the catalog is empty: generate or import a chain first")
    return {
        "identifier": list_number or card,
        "lines": lines,
        "store": (shopping_list.store_id if shopping_list is not None else None) or member.home_store_id,
        "period": (shopping_list.period_start, shopping_list.period_end) if shopping_list is not None else None,
    }


def _line(product: Product, quantity: int) -> dict[str, Any]:
    price = product.regular_price_cents or 299
    return {"sku": product.sku, "quantity": quantity, "unit_price_cents": price, "amount_cents": price * quantity}


def _scan_time(scanned_at: str | None, plan: dict[str, Any], *, in_process: bool) -> datetime:
    if scanned_at is not None:
        try:
            moment = datetime.fromisoformat(scanned_at)
        except ValueError as exc:
            raise InputError(f"--at: not an ISO 8601 time: {scanned_at!r}") from exc
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    now = datetime.now(timezone.utc)
    period = plan["period"]
    if in_process and period is not None and not (period[0] <= now.date() <= period[1]):
        # demo chains live in their own calendar: shop at noon on the list's first day
        return datetime(period[0].year, period[0].month, period[0].day, 18, 0, tzinfo=timezone.utc)
    return now


def _in_process(cli: CliContext, store: str, lane: str, at: datetime):  # type: ignore[no-untyped-def]
    import logging

    from ..app import create_app

    # the demo prints its own summary; request log lines would only interleave with it
    logging.getLogger("loyalty_engine.api").addHandler(logging.NullHandler())
    app = create_app(cli.config)
    app.extensions["loyalty_engine"]["clock"] = FixedClock(at)
    with cli.engine.begin() as conn:
        try:
            key = issue_key(conn, store, lane, datetime.now(timezone.utc), rotate=True).api_key
        except CheckoutError as exc:
            raise InputError(exc.message) from exc
    client = app.test_client()

    def post(path: str, body: dict[str, Any]) -> tuple[int, Any]:
        response = client.post(path, json=body, headers={"Authorization": f"Bearer {key}"})
        return response.status_code, response.get_json()

    return post


def _remote(url: str, api_key: str | None):  # type: ignore[no-untyped-def]
    if not api_key:
        raise InputError("--key (or LOYALTY_LANE_KEY) is needed with --url")

    def post(path: str, body: dict[str, Any]) -> tuple[int, Any]:
        request = urllib.request.Request(
            url.rstrip("/") + path, data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {api_key}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")
        except urllib.error.URLError as exc:
            raise InputError(f"cannot reach {url}: {exc.reason}") from exc

    return post


def _show(title: str, status: int, answer: dict[str, Any]) -> None:
    click.echo(f"\n== {title}: HTTP {status}")
    if status != 200:
        click.echo(f"{answer.get('code')}: {answer.get('message')}")
        return
    member = answer.get("member") or {}
    shopping_list = answer.get("shopping_list") or {}
    click.echo(f"member {member.get('member_id', '-')}  list {shopping_list.get('list_number', '-')}  "
               f"basket {format_money(answer['total_amount_cents'])}")
    for redemption in answer["redemptions"]:
        click.echo(f"  redeemed  line {redemption['list_line_no']:>2}  {redemption['description'][:40]:<40} "
                   f"-{format_money(redemption['discount_cents'])}  ({redemption['funded_by']} pays "
                   f"{format_money(redemption['funder_cents'])})")
    for skipped in answer["not_applied"]:
        click.echo(f"  not used  line {skipped['list_line_no']:>2}  {skipped['description'][:40]:<40} "
                   f"{skipped['reason']}")
    click.echo("  receipt:")
    for text in answer["receipt"]:
        click.echo(f"    {text}")
    click.echo(f"  total due {format_money(answer['total_due_cents'])}")


commands = [lanes_group]
