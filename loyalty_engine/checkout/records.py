"""What one lane request works on: the member, the list, the basket and the evaluated outcome.

Plain dataclasses filled from the rows of :mod:`.queries` (or :mod:`.single_statement`), read
by the service, the ledger rows (:mod:`.ledger`) and the answers (:mod:`.answers`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from . import rules
from .returns import PlannedReversal, ReturnPlan


@dataclass(slots=True)
class MemberRow:
    """The member behind a card or a list, as the lane sees them."""

    member_key: int
    member_id: str
    first_name: str


@dataclass(slots=True)
class ListRow:
    """A shopping list's header: which list, whose, for which period, in which status."""

    list_id: int
    list_number: str
    member_key: int
    period_start: date
    period_end: date
    status: str


@dataclass(slots=True)
class LineInfo:
    """What the response shows about a list line besides the rules' terms."""

    offer_code: str
    description: str


@dataclass
class Basket:
    """The basket at its store: local time, business date and each line's product key."""

    business_date: date
    scanned_at_local: datetime
    utc_offset_minutes: int
    product_keys: list[int | None]
    basket_lines: list[rules.BasketLine]


@dataclass
class Outcome:
    """The member, the list and what the rules made of the basket (redemptions and reversals)."""

    member: MemberRow | None
    shopping_list: ListRow | None
    evaluation: rules.Evaluation
    terms: dict[int, rules.ListLineTerms]  # list_line_id -> terms
    info: dict[int, LineInfo]  # list_line_id -> display info
    reversals: list[PlannedReversal]
    returned: ReturnPlan = field(default_factory=ReturnPlan)


def transaction_id_for(store_id: str, lane_code: str, pos_transaction_id: str) -> str:
    """The recorded basket's id: readable, and unique because lane and POS ids contain no ':'."""
    return f"{store_id}:{lane_code}:{pos_transaction_id}"

