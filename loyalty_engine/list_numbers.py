"""Shopping-list numbers: company-internal EAN-13 codes that a POS scanner reads.

A list number is ``04`` + a 10-digit serial + the EAN-13 check digit. GS1 prefix 04 is
reserved for in-store numbering (US and EU scanners pass it through); the 02/2x range is
random-weight and must be avoided.
"""
from __future__ import annotations

PREFIX = "04"
SERIAL_DIGITS = 10
MAX_SERIAL = 10**SERIAL_DIGITS - 1


class ListNumberError(ValueError):
    """Raised for a code that is not a valid list number; ``reason`` says why."""

    def __init__(self, reason: str, code: str) -> None:
        super().__init__(f"{reason}: {code!r}")
        self.reason = reason
        self.code = code


def ean13_check_digit(first_twelve: str) -> int:
    if len(first_twelve) != 12 or not first_twelve.isdigit():
        raise ValueError(f"need 12 digits, got {first_twelve!r}")
    # Weights alternate 1, 3 from the left across the first 12 digits.
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(first_twelve))
    return (10 - total % 10) % 10


def make_list_number(serial: int) -> str:
    if not 0 < serial <= MAX_SERIAL:
        raise ValueError(f"list serial out of range: {serial}")
    body = f"{PREFIX}{serial:0{SERIAL_DIGITS}d}"
    return body + str(ean13_check_digit(body))


def parse_list_number(code: str) -> int:
    """Return the serial of a scanned list number, or raise :class:`ListNumberError`."""
    code = code.strip()
    if len(code) != 13 or not code.isdigit():
        raise ListNumberError("not a 13-digit list barcode", code)
    if not code.startswith(PREFIX):
        raise ListNumberError("not a shopping-list barcode (prefix is not 04)", code)
    if ean13_check_digit(code[:12]) != int(code[12]):
        raise ListNumberError("bad check digit", code)
    return int(code[2:12])


def is_list_number(code: str) -> bool:
    try:
        parse_list_number(code)
    except ListNumberError:
        return False
    return True
