"""What a printed or web shopping list shows: plain data, no database, no Flask, no PDF.

A :class:`ListDocument` is built from the database by :mod:`loyalty_engine.render.from_db`
(or directly, in tests and tools) and drawn by :mod:`loyalty_engine.render.pdf` and the
member web view. Money is integer cents.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import date

from ..list_numbers import parse_list_number
from ..money import format_money
from .coupon_8110 import CouponData

MAX_LINES = 24  # what the two-page layout is proven to hold (tests render this many)
MAX_CONTENT_BOXES = 4
CONTENT_KIND_LABELS = {"recipe": "Recipe", "tip": "Tip", "perk": "Member perk"}


@dataclass(frozen=True)
class MailingAddress:
    """Name and postal lines as they go through the envelope window."""

    name: str
    street: str = ""
    city: str = ""
    region: str = ""
    postal_code: str = ""

    def lines(self) -> list[str]:
        city_line = " ".join(p for p in (f"{self.city}," if self.city else "", self.region, self.postal_code) if p)
        return [line for line in (self.name, self.street, city_line.strip().rstrip(",")) if line]


@dataclass(frozen=True)
class StoreInfo:
    store_id: str
    name: str
    address_line: str = ""
    city: str = ""
    region: str = ""
    postal_code: str = ""

    def one_line(self) -> str:
        place = ", ".join(p for p in (self.address_line, self.city) if p)
        return f"{self.name} – {place}" if place else self.name


@dataclass(frozen=True)
class OfferLine:
    """One offer on the list, as the member reads it."""

    line_no: int
    department: str
    description: str
    benefit_text: str  # "$1.50 off any 2"
    expires: date  # inclusive: valid through this day
    limit: int = 1  # redemptions allowed on this list
    min_quantity: int = 1
    funder_name: str = ""  # "Kraft Heinz"; empty for the store's own offers
    funded_by_manufacturer: bool = False
    face_value_cents: int = 0
    offer_code: str = ""
    coupon: CouponData | None = None  # AI (8110) content for lanes clearing coupons one by one

    @property
    def coupon_element_string(self) -> str | None:
        return self.coupon.element_string() if self.coupon is not None else None

    def terms_text(self) -> str:
        parts = []
        if self.min_quantity > 1:
            parts.append(f"Buy {self.min_quantity}")
        parts.append(f"Limit {self.limit}")
        parts.append(f"Expires {self.expires:%a %m/%d/%Y}")
        return " · ".join(parts)

    def funder_text(self) -> str:
        return f"Offer from {self.funder_name}" if self.funded_by_manufacturer and self.funder_name else "Store offer"


@dataclass(frozen=True)
class ContentBox:
    """Non-price content: a recipe, a usage tip, an express-lane or delivery perk."""

    kind: str
    title: str
    body: str

    @property
    def label(self) -> str:
        return CONTENT_KIND_LABELS.get(self.kind, self.kind.title())


@dataclass(frozen=True)
class ListDocument:
    """One member's shopping list for one period, ready to print or show."""

    chain_name: str
    list_number: str
    member_id: str
    first_name: str
    last_name: str
    address: MailingAddress
    store: StoreInfo | None
    valid_from: date
    valid_to: date  # inclusive
    issued_on: date  # the list's build date: the PDF creation date, so re-renders are identical
    lines: tuple[OfferLine, ...] = ()
    content: tuple[ContentBox, ...] = ()
    kind: str = "regular"  # or "winback"
    total_savings_cents: int | None = None  # default: the sum of the lines' face values
    mail_opt_in: bool = True

    def __post_init__(self) -> None:
        parse_list_number(self.list_number)  # raises ListNumberError for a bad number
        if self.valid_to < self.valid_from:
            raise ValueError(f"list {self.list_number}: valid_to before valid_from")
        if len(self.lines) > MAX_LINES:
            raise ValueError(f"list {self.list_number}: {len(self.lines)} lines, at most {MAX_LINES} print")
        if len(self.content) > MAX_CONTENT_BOXES:
            raise ValueError(f"list {self.list_number}: at most {MAX_CONTENT_BOXES} content boxes print")

    @property
    def member_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() or f"Member {self.member_id}"

    @property
    def greeting_name(self) -> str:
        return self.first_name.strip() or "there"

    @property
    def savings_cents(self) -> int:
        if self.total_savings_cents is not None:
            return self.total_savings_cents
        return sum(line.face_value_cents for line in self.lines)

    @property
    def savings_text(self) -> str:
        return format_money(self.savings_cents)

    @property
    def postal_sort_key(self) -> tuple[str, str]:
        return (self.address.postal_code.strip().upper(), self.list_number)

    def departments(self) -> list[tuple[str, list[OfferLine]]]:
        """Lines grouped by department, departments in order of their first line."""
        groups: dict[str, list[OfferLine]] = {}
        for line in sorted(self.lines, key=lambda l: l.line_no):
            groups.setdefault(line.department or "More offers", []).append(line)
        return list(groups.items())

    def fingerprint(self) -> str:
        """Hash of everything that is printed: equal fingerprints give identical PDFs."""
        payload = json.dumps(asdict(self), sort_keys=True, default=str, ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()

    def period_text(self) -> str:
        return period_text(self.valid_from, self.valid_to)


def period_text(start: date, end: date) -> str:
    if start.year == end.year:
        return f"{start:%a %b} {start.day} – {end:%a %b} {end.day}, {end.year}"
    return f"{start:%a %b} {start.day}, {start.year} – {end:%a %b} {end.day}, {end.year}"


__all__ = [
    "ContentBox",
    "ListDocument",
    "MailingAddress",
    "MAX_LINES",
    "OfferLine",
    "StoreInfo",
    "period_text",
]
