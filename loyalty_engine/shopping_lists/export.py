"""Reading built lists back: one list for display, and a period's lists for export.

Export formats (``lists export``):

- ``json``: an array of lists, each ``{member_id, list_number, period_start, period_end,
  cohort, kind, store_id, total_face_cents, lines: [...], content: [...]}``; a line is
  ``{line_no, offer_id, offer_code, description, skus, benefit_kind, benefit_value,
  benefit_text, min_quantity, redemption_limit, face_value_cents, valid_from, valid_to,
  probability, expected_value_cents, cell, funder}``.
- ``csv``: one row per line with the list's columns repeated; ``skus`` space-separated.
"""
from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any, Iterator, TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..list_numbers import ListNumberError, parse_list_number
from ..models.catalog import Manufacturer, Product, Store
from ..models.lists import ShoppingList, ShoppingListContent, ShoppingListLine
from ..models.members import Member
from ..models.offers import Offer, OfferProduct

CSV_COLUMNS = [
    "member_id", "list_number", "period_start", "period_end", "cohort", "kind", "store_id", "line_no",
    "offer_id", "offer_code", "description", "skus", "benefit_kind", "benefit_value", "benefit_text",
    "min_quantity", "redemption_limit", "face_value_cents", "valid_to", "probability", "expected_value_cents",
    "cell", "funder",
]


class ListNotFound(LookupError):
    pass


@dataclass
class ListView:
    shopping_list: ShoppingList
    member: Member
    store: Store | None
    lines: list[ShoppingListLine]
    offers: dict[int, Offer]
    funders: dict[int, str]
    content: list[ShoppingListContent]


def find_list(session: Session, list_number: str) -> ListView:
    try:
        serial = parse_list_number(list_number)
    except ListNumberError as exc:
        raise ListNotFound(str(exc)) from None
    lst = session.get(ShoppingList, serial)
    if lst is None:
        raise ListNotFound(f"no shopping list {list_number}")
    member = session.get(Member, lst.member_key)
    store = session.get(Store, lst.store_id) if lst.store_id else None
    lines = list(lst.lines)
    offers = {o.id: o for o in session.execute(
        select(Offer).where(Offer.id.in_({line.offer_id for line in lines}))).scalars()}
    makers = {m.id: m.name for m in session.execute(select(Manufacturer).where(
        Manufacturer.id.in_({o.manufacturer_id for o in offers.values() if o.manufacturer_id}))).scalars()}
    funders = {oid: (makers.get(o.manufacturer_id or "", o.manufacturer_id or "") if o.funder_kind == "manufacturer"
                     else "store") for oid, o in offers.items()}
    return ListView(lst, member, store, lines, offers, funders, list(lst.content))  # type: ignore[arg-type]


def _skus_by_offer(session: Session, offer_ids: set[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = defaultdict(list)
    ids = sorted(offer_ids)
    for start in range(0, len(ids), 500):
        for oid, sku in session.execute(
            select(OfferProduct.offer_id, Product.sku).join(Product, Product.id == OfferProduct.product_key)
            .where(OfferProduct.offer_id.in_(ids[start:start + 500])).order_by(OfferProduct.offer_id, Product.sku)
        ).all():
            out[int(oid)].append(sku)
    return out


def _cell(line_loyalty: str, line_tier: str) -> str:
    return f"{line_loyalty}:{line_tier}" if line_loyalty and line_tier else "unsegmented"


def iter_period_lists(
    session: Session, period_start: date, cohort: str | None = None, chunk: int = 2000
) -> Iterator[dict[str, Any]]:
    """Every non-replaced list of the period as a dict (lines and content included), by list number."""
    query = (
        select(ShoppingList, Member.member_id)
        .join(Member, Member.id == ShoppingList.member_key)
        .where(ShoppingList.period_start == period_start, ShoppingList.status != "replaced")
        .order_by(ShoppingList.id)
    )
    if cohort:
        query = query.where(ShoppingList.cohort == cohort)
    offers = {o.id: o for o in session.execute(select(Offer)).scalars()}
    skus = _skus_by_offer(session, set(offers))
    funders = {oid: (o.manufacturer_id or "" if o.funder_kind == "manufacturer" else "store") for oid, o in offers.items()}
    rows = session.execute(query).all()
    for start in range(0, len(rows), chunk):
        part = rows[start:start + chunk]
        ids = [lst.id for lst, _ in part]
        lines: dict[int, list[ShoppingListLine]] = defaultdict(list)
        for line in session.execute(
            select(ShoppingListLine).where(ShoppingListLine.list_id.in_(ids))
            .order_by(ShoppingListLine.list_id, ShoppingListLine.line_no)
        ).scalars():
            lines[line.list_id].append(line)
        content: dict[int, list[ShoppingListContent]] = defaultdict(list)
        for item in session.execute(
            select(ShoppingListContent).where(ShoppingListContent.list_id.in_(ids))
            .order_by(ShoppingListContent.list_id, ShoppingListContent.position)
        ).scalars():
            content[item.list_id].append(item)
        for lst, member_id in part:
            yield {
                "member_id": member_id, "list_number": lst.list_number,
                "period_start": lst.period_start.isoformat(), "period_end": lst.period_end.isoformat(),
                "cohort": lst.cohort, "kind": lst.kind, "status": lst.status, "store_id": lst.store_id,
                "total_face_cents": lst.total_face_cents,
                "lines": [{
                    "line_no": line.line_no, "offer_id": line.offer_id,
                    "offer_code": offers[line.offer_id].offer_code, "description": line.description,
                    "skus": skus.get(line.offer_id, []), "benefit_kind": line.benefit_kind,
                    "benefit_value": line.benefit_value, "benefit_text": line.benefit_text,
                    "min_quantity": line.min_quantity, "redemption_limit": line.redemption_limit,
                    "face_value_cents": line.face_value_cents, "valid_from": line.valid_from.isoformat(),
                    "valid_to": line.valid_to.isoformat(), "probability": round(line.probability, 4),
                    "expected_value_cents": line.expected_value_cents,
                    "cell": _cell(line.brand_loyalty, line.usage_tier), "funder": funders[line.offer_id],
                } for line in lines[lst.id]],
                "content": [{"kind": c.kind, "title": c.title, "body": c.body} for c in content[lst.id]],
            }


def write_export(lists: Iterator[dict[str, Any]], out: TextIO, fmt: str) -> int:
    """Write lists as JSON or CSV; returns the number of lists written."""
    count = 0
    if fmt == "json":
        out.write("[")
        for i, item in enumerate(lists):
            out.write(("," if i else "") + "\n  " + json.dumps(item, ensure_ascii=False))
            count += 1
        out.write("\n]\n" if count else "]\n")
        return count
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for item in lists:
            count += 1
            for line in item["lines"]:
                writer.writerow({
                    **{k: item[k] for k in ("member_id", "list_number", "period_start", "period_end", "cohort",
                                            "kind", "store_id")},
                    **{k: line[k] for k in CSV_COLUMNS if k in line and k != "skus"},
                    "skus": " ".join(line["skus"]),
                })
        return count
    raise ValueError(f"unknown export format {fmt!r}: use json or csv")


def export_text(session: Session, period_start: date, fmt: str, cohort: str | None = None) -> str:
    buffer = io.StringIO()
    write_export(iter_period_lists(session, period_start, cohort), buffer, fmt)
    return buffer.getvalue()
