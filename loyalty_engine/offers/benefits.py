"""What a benefit is worth and how it reads on the list. Integer cents; basis points for percent.

Semantics (the same as checkout's redemption rules): one *application* uses ``min_quantity``
units; ``amount_off`` V takes V off them, ``percent_off`` B takes B/10000 of their price,
``fixed_price`` V makes them cost V together.
"""
from __future__ import annotations

import numpy as np

from ..money import format_money

BASIS_POINTS = 10_000


def face_value_cents(kind: str, value: int, unit_price_cents: int, min_quantity: int) -> int:
    """Saving of one application at the given unit price (never negative, never above the price)."""
    amount = max(0, unit_price_cents) * min_quantity
    if kind == "amount_off":
        return min(value, amount) if amount > 0 else value
    if kind == "percent_off":
        return (2 * amount * value + BASIS_POINTS) // (2 * BASIS_POINTS)
    if kind == "fixed_price":
        return max(0, amount - value)
    raise ValueError(f"unknown benefit kind: {kind!r}")


def face_values(kind: str, values: np.ndarray, unit_price_cents: int, min_quantity: int) -> np.ndarray:
    return np.array([face_value_cents(kind, int(v), unit_price_cents, min_quantity) for v in values], dtype=np.int64)


def _percent(bp: int) -> str:
    whole, rest = divmod(bp, 100)
    return f"{whole}%" if rest == 0 else f"{bp / 100:.2f}".rstrip("0").rstrip(".") + "%"


def benefit_text(kind: str, value: int, min_quantity: int = 1) -> str:
    """The member's benefit in words: "$1.50 off", "$1.00 off any 2", "25% off", "2 for $5.00"."""
    any_n = f" any {min_quantity}" if min_quantity > 1 else ""
    if kind == "amount_off":
        return f"{format_money(value)} off{any_n}"
    if kind == "percent_off":
        return f"{_percent(value)} off{any_n}"
    if kind == "fixed_price":
        return f"{min_quantity} for {format_money(value)}" if min_quantity > 1 else f"Only {format_money(value)}"
    raise ValueError(f"unknown benefit kind: {kind!r}")
