"""What is left on a shopping list: offers used at checkout, uses remaining, savings still open.

Lines count their redemptions in ``shopping_list_lines.redeemed_count`` (checkout moves it
up on a sale, down on a return or void). This module turns those counts into what a member
reads: which offers are used up, how many uses each has left, and "11 offers left, you can
still save $29.97". The member web view and the lane API's member-list answer both use it,
so they say the same thing.

Savings follow the printed list's convention: each offer counts once, at its face value (the
saving of one redemption at regular price), so before any redemption "you can still save"
equals the printed "you save"; an offer counts while it has a use left.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models.lists import ShoppingListLine
from ..money import format_money


@dataclass(frozen=True)
class LineUsage:
    line_no: int
    redemption_limit: int
    redeemed_count: int
    face_value_cents: int = 0

    @property
    def uses_left(self) -> int:
        return max(0, self.redemption_limit - self.redeemed_count)

    @property
    def used_up(self) -> bool:
        return self.uses_left == 0

    @property
    def status(self) -> str:
        """"available" (never used), "partly_used" (used, uses left) or "used" (none left)."""
        if self.used_up:
            return "used"
        return "partly_used" if self.redeemed_count > 0 else "available"

    def uses_left_text(self) -> str:
        if self.used_up:
            return "Used"
        if self.redemption_limit == 1:
            return "Not used yet"
        return f"{self.uses_left} of {self.redemption_limit} uses left"


@dataclass(frozen=True)
class ListUsage:
    lines: dict[int, LineUsage]  # by line number

    @classmethod
    def of(cls, lines: Iterable[LineUsage]) -> "ListUsage":
        return cls({line.line_no: line for line in lines})

    @property
    def offers(self) -> int:
        return len(self.lines)

    @property
    def offers_left(self) -> int:
        return sum(1 for line in self.lines.values() if not line.used_up)

    @property
    def offers_used(self) -> int:
        return self.offers - self.offers_left

    @property
    def savings_left_cents(self) -> int:
        return sum(line.face_value_cents for line in self.lines.values() if not line.used_up)

    @property
    def savings_left_text(self) -> str:
        return format_money(self.savings_left_cents)

    @property
    def any_used(self) -> bool:
        return any(line.redeemed_count > 0 for line in self.lines.values())

    def line(self, line_no: int) -> LineUsage | None:
        return self.lines.get(line_no)

    def summary_text(self) -> str:
        """"11 offers left, you can still save $29.97" (or that every offer was used)."""
        if self.offers_left == 0:
            return f"All {_offers(self.offers)} used" if self.offers else "No offers on this list"
        return f"{_offers(self.offers_left)} left, you can still save {self.savings_left_text}"


def _offers(n: int) -> str:
    return f"{n} offer{'s' if n != 1 else ''}"




def list_usage(session: Session, list_id: int) -> ListUsage:
    """The usage of every line of one list, read from ``shopping_list_lines``."""
    rows = session.execute(
        select(ShoppingListLine.line_no, ShoppingListLine.redemption_limit, ShoppingListLine.redeemed_count,
               ShoppingListLine.face_value_cents)
        .where(ShoppingListLine.list_id == list_id).order_by(ShoppingListLine.line_no)
    ).all()
    return ListUsage.of(LineUsage(*row) for row in rows)


__all__ = ["LineUsage", "ListUsage", "list_usage"]
