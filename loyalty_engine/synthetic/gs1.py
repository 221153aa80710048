"""GS1 numbers for the synthetic chain: UPC-A item codes, company prefixes, card numbers.

A U.S. item code (UPC-A, 12 digits) is the U.P.C. company prefix, the item reference and a
mod-10 check digit. The GS1 company prefix of that company (what a GS1 DataBar coupon,
AI 8110, carries) is the U.P.C. prefix with a leading ``0`` (its GTIN-13 form), so a
manufacturer whose UPCs start ``037000`` has GS1 company prefix ``0037000``.
"""
from __future__ import annotations

import numpy as np

# U.P.C. number-system digits a U.S. manufacturer's prefix may start with. 2 (random
# weight), 4 (in-store), 5 (coupons) and 9 are not manufacturer numbers; 3 is the drug
# (NDC) range used by health-care makers.
GROCERY_NUMBER_SYSTEMS = (0, 1, 6, 7, 8)
DRUG_NUMBER_SYSTEM = 3


def upc_check_digit(first_eleven: str) -> int:
    """Check digit of a UPC-A: 3 x the odd positions plus the even ones, to a multiple of 10."""
    if len(first_eleven) != 11 or not first_eleven.isdigit():
        raise ValueError(f"need 11 digits, got {first_eleven!r}")
    odd = sum(int(d) for d in first_eleven[0::2])
    even = sum(int(d) for d in first_eleven[1::2])
    return (10 - (3 * odd + even) % 10) % 10


def is_valid_upc(code: str) -> bool:
    return len(code) == 12 and code.isdigit() and upc_check_digit(code[:11]) == int(code[11])


def make_upc(upc_prefix: str, item_reference: int) -> str:
    """The UPC-A of ``item_reference`` under a U.P.C. company prefix (6-10 digits)."""
    ref_digits = 11 - len(upc_prefix)
    if not 6 <= len(upc_prefix) <= 10 or not upc_prefix.isdigit():
        raise ValueError(f"U.P.C. company prefix must be 6-10 digits: {upc_prefix!r}")
    if not 0 <= item_reference < 10**ref_digits:
        raise ValueError(f"item reference {item_reference} does not fit {ref_digits} digits")
    body = f"{upc_prefix}{item_reference:0{ref_digits}d}"
    return body + str(upc_check_digit(body))


def ean13_check_digits(first_twelve: np.ndarray) -> np.ndarray:
    """Vectorized EAN-13 check digits of 12-digit integers (weights 1,3,1,3... from the left)."""
    values = np.asarray(first_twelve, dtype=np.int64)
    total = np.zeros(values.shape, dtype=np.int64)
    for position in range(12):  # position 0 = rightmost of the 12 digits, weight 3
        digit = (values // 10**position) % 10
        total += digit * (3 if position % 2 == 0 else 1)
    return (10 - total % 10) % 10


def make_company_prefixes(rng: np.random.Generator, lengths: list[int], number_systems: list[int]) -> list[str]:
    """Distinct U.P.C. company prefixes, none a leading part of another (as GS1 allots them)."""
    chosen: list[str] = []
    for length, system in zip(lengths, number_systems):
        while True:
            rest = "".join(str(d) for d in rng.integers(0, 10, size=length - 1))
            candidate = f"{system}{rest}"
            # a prefix of all zeros after the system digit looks like a test code; skip it
            if rest.strip("0") == "":
                continue
            if any(candidate.startswith(p) or p.startswith(candidate) for p in chosen):
                continue
            chosen.append(candidate)
            break
    return chosen


def gs1_company_prefix(upc_prefix: str) -> str:
    """GS1 company prefix (GTIN-13 form) of a U.P.C. company prefix."""
    return "0" + upc_prefix


__all__ = [
    "DRUG_NUMBER_SYSTEM",
    "GROCERY_NUMBER_SYSTEMS",
    "ean13_check_digits",
    "gs1_company_prefix",
    "is_valid_upc",
    "make_company_prefixes",
    "make_upc",
    "upc_check_digit",
]
