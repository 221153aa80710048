"""Money is integer cents in storage and arithmetic, Decimal at the edges. Never float."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")


class MoneyError(ValueError):
    pass


def to_cents(value: str | int | Decimal) -> int:
    """Parse a money amount ("2.49", Decimal, or int dollars) to integer cents, rounding half up."""
    if isinstance(value, float):  # pragma: no cover - guard against float money creeping in
        raise MoneyError("money must not be a float")
    try:
        amount = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except InvalidOperation as exc:
        raise MoneyError(f"not a money amount: {value!r}") from exc
    if not amount.is_finite():
        raise MoneyError(f"not a money amount: {value!r}")
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def from_cents(cents: int) -> Decimal:
    return (Decimal(int(cents)) / 100).quantize(CENT)


def format_money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}${from_cents(abs(cents)):,}"
