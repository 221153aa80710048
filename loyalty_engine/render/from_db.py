"""Shopping lists from the database as :class:`ListDocument` s, streamed in print order.

Lists come out store by store, sorted by the member's postal code (then list number) so a
print run is already in mail-sort order; lines and content are read in chunks, so memory
stays flat however many lists a period has.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any, Iterator, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..list_numbers import ListNumberError, parse_list_number
from ..models.catalog import Manufacturer, Store
from ..models.lists import ShoppingList, ShoppingListContent, ShoppingListLine
from ..models.members import Member
from ..models.offers import Offer
from .coupon_8110 import CouponDataError
from .document import MAX_LINES, ContentBox, ListDocument, MailingAddress, OfferLine, StoreInfo
from .offer_coupons import DEFAULT_FAMILY_CODE, coupon_for_line
from .settings import RenderSettings

NO_STORE = "_none"  # print-run key for lists without a store


@dataclass(frozen=True)
class PrintItem:
    """A list document with what the print run needs to know about it."""

    document: ListDocument
    store_key: str
    mailed: bool  # member opted in to mail: goes into the store's print run
    warnings: tuple[str, ...] = ()


class _Catalog:
    """Offers, funders and stores, read once per run (a few thousand rows at most)."""

    def __init__(self, session: Session) -> None:
        self.offers = {o.id: o for o in session.execute(select(Offer)).scalars()}
        self.makers = {m.id: m for m in session.execute(select(Manufacturer)).scalars()}
        self.stores = {s.id: s for s in session.execute(select(Store)).scalars()}


def iter_period_documents(
    session: Session,
    period_start: date,
    settings: RenderSettings,
    store_id: str | None = None,
    chunk: int = 500,
) -> Iterator[PrintItem]:
    """Every list of the period that was not replaced, by store, postal code and list number."""
    catalog = _Catalog(session)
    query = (
        select(ShoppingList, Member)
        .join(Member, Member.id == ShoppingList.member_key)
        .where(ShoppingList.period_start == period_start, ShoppingList.status != "replaced")
        .order_by(ShoppingList.store_id, Member.postal_code, ShoppingList.id)
    )
    if store_id is not None:
        query = query.where(ShoppingList.store_id == store_id)
    result = session.execute(query.execution_options(yield_per=chunk))
    for part in result.partitions():
        ids = [lst.id for lst, _ in part]
        lines, content = _lines_and_content(session, ids)
        for lst, member in part:
            yield _item(lst, member, lines[lst.id], content[lst.id], catalog, settings)
        # Keep the identity map from growing over a long run. Object by object: expunge_all()
        # would swap the identity map under the still-streaming result, which then fails.
        for obj in {id(o): o for o in _loaded(part, lines, content)}.values():
            session.expunge(obj)


def _loaded(part: Sequence[Any], lines: dict[int, list[ShoppingListLine]],
            content: dict[int, list[ShoppingListContent]]) -> Iterator[Any]:
    for lst, member in part:
        yield lst
        if member is not None:
            yield member
    for group in (*lines.values(), *content.values()):
        yield from group


def document_for_list(session: Session, list_id: int, settings: RenderSettings) -> ListDocument | None:
    """One list by its serial (``shopping_lists.id``), or None."""
    row = session.execute(
        select(ShoppingList, Member).join(Member, Member.id == ShoppingList.member_key).where(ShoppingList.id == list_id)
    ).first()
    if row is None:
        return None
    lst, member = row
    lines, content = _lines_and_content(session, [lst.id])
    return _item(lst, member, lines[lst.id], content[lst.id], _Catalog(session), settings).document


def document_for_number(session: Session, list_number: str, settings: RenderSettings) -> ListDocument | None:
    try:
        serial = parse_list_number(list_number)
    except ListNumberError:
        return None
    return document_for_list(session, serial, settings)


def _lines_and_content(
    session: Session, ids: list[int]
) -> tuple[dict[int, list[ShoppingListLine]], dict[int, list[ShoppingListContent]]]:
    lines: dict[int, list[ShoppingListLine]] = defaultdict(list)
    content: dict[int, list[ShoppingListContent]] = defaultdict(list)
    if not ids:
        return lines, content
    for line in session.execute(
        select(ShoppingListLine).where(ShoppingListLine.list_id.in_(ids))
        .order_by(ShoppingListLine.list_id, ShoppingListLine.line_no)
    ).scalars():
        lines[line.list_id].append(line)
    for item in session.execute(
        select(ShoppingListContent).where(ShoppingListContent.list_id.in_(ids))
        .order_by(ShoppingListContent.list_id, ShoppingListContent.position)
    ).scalars():
        content[item.list_id].append(item)
    return lines, content


def _item(
    lst: ShoppingList,
    member: Member,
    lines: list[ShoppingListLine],
    content: list[ShoppingListContent],
    catalog: _Catalog,
    settings: RenderSettings,
) -> PrintItem:
    warnings: list[str] = []
    offer_lines = []
    for line in lines[:MAX_LINES]:
        offer = catalog.offers.get(line.offer_id)
        maker = catalog.makers.get(offer.manufacturer_id or "") if offer is not None else None
        by_maker = offer is not None and offer.funder_kind == "manufacturer"
        coupon = None
        if by_maker and offer is not None and maker is not None:
            family = str((offer.definition or {}).get("gs1_family_code") or DEFAULT_FAMILY_CODE)
            try:
                coupon = coupon_for_line(
                    company_prefix=maker.gs1_company_prefix, offer_code=offer.offer_code,
                    benefit_kind=line.benefit_kind, benefit_value=line.benefit_value,
                    min_quantity=line.min_quantity, expires=line.valid_to, list_serial=lst.id,
                    line_no=line.line_no, retailer_id=settings.retailer_gs1_prefix, family_code=family,
                    dont_multiply=settings.coupon_dont_multiply,
                )
            except (CouponDataError, ValueError) as exc:  # bad prefix/offer code, or a line number out of range
                warnings.append(f"line {line.line_no}: no coupon barcode ({exc})")
        offer_lines.append(OfferLine(
            line_no=line.line_no,
            department=_title(line.department),
            description=line.description,
            benefit_text=line.benefit_text,
            expires=line.valid_to,
            limit=line.redemption_limit,
            min_quantity=line.min_quantity,
            funder_name=(maker.name or maker.id) if (by_maker and maker is not None) else "",
            funded_by_manufacturer=by_maker,
            face_value_cents=line.face_value_cents,
            offer_code=offer.offer_code if offer is not None else "",
            coupon=coupon,
        ))
    if len(lines) > MAX_LINES:
        warnings.append(f"{len(lines) - MAX_LINES} lines beyond {MAX_LINES} not printed")
    store = catalog.stores.get(lst.store_id or "")
    doc = ListDocument(
        chain_name=settings.chain_name,
        list_number=lst.list_number,
        member_id=member.member_id,
        first_name=member.first_name,
        last_name=member.last_name,
        address=MailingAddress(
            name=member.display_name, street=member.address_line, city=member.city,
            region=member.region, postal_code=member.postal_code,
        ),
        store=StoreInfo(store.id, store.name or store.id, store.address_line, store.city, store.region,
                        store.postal_code) if store is not None else None,
        valid_from=lst.period_start,
        valid_to=lst.period_end,
        issued_on=(lst.created_at.date() if lst.created_at else lst.period_start),
        lines=tuple(offer_lines),
        content=tuple(ContentBox(c.kind, c.title, c.body) for c in content[:4]),
        kind=lst.kind,
        total_savings_cents=lst.total_face_cents or None,
        mail_opt_in=bool(member.mail_opt_in),
    )
    return PrintItem(doc, lst.store_id or NO_STORE, bool(member.mail_opt_in), tuple(warnings))


def _title(department: str) -> str:
    """Catalog departments are often upper case ("DRUG GM"); print them in title case."""
    text = department.strip()
    if text.isupper():
        return " ".join(w if len(w) <= 2 else w.capitalize() for w in text.split())
    return text
