"""The GS1 North American coupon data string, AI (8110): build and parse.

Field layout (North American Coupon Application Guideline using GS1 DataBar Expanded
symbols; checked the way the GS1 Syntax Dictionary's ``couponcode`` linter checks it):

Required, in this order:

====================================  =======================================================
field                                  encoding
====================================  =======================================================
company prefix VLI + prefix            VLI 0-6, prefix length = VLI + 6 (6-12 digits)
offer code                             6 digits
save value VLI + save value            VLI 1-5 = number of digits that follow
primary purchase requirement           VLI 1-5 + that many digits
primary purchase requirement code      1 digit: 0-4 or 9 (see :class:`RequirementCode`)
primary purchase family code           3 digits
====================================  =======================================================

Optional data fields, each introduced by its indicator digit, in ascending order:

- ``1`` second purchase: additional purchase rules code (0-3), requirement VLI (1-5) +
  value, requirement code (0-4, 9), family code (3), company prefix VLI (0-6 -> 6-12
  digits, or 9 = same prefix as the primary purchase, no digits follow)
- ``2`` third purchase: requirement VLI + value, requirement code, family code, prefix VLI
  (as above)
- ``3`` expiration date, YYMMDD
- ``4`` start date, YYMMDD (not after the expiration date)
- ``5`` serial number: VLI 0-9, serial length = VLI + 6 (6-15 digits)
- ``6`` retailer GS1 company prefix or GLN: VLI 1-7, length = VLI + 6 (7-13 digits)
- ``9`` miscellaneous: save value code (0, 1, 2, 5, 6), save value applies to item (0-2),
  store coupon flag (1 digit), don't multiply flag (0 or 1)

The whole element string is digits only and at most 70 characters long. Dates are
2000-2099 (YY + 2000).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import IntEnum

AI = "8110"
MAX_LENGTH = 70


class RequirementCode(IntEnum):
    """What a purchase requirement value counts."""

    UNITS = 0  # number of qualifying items
    CASH_VALUE = 1  # cents spent on qualifying items
    TRANSACTION_CASH_VALUE = 2  # cents spent on the whole transaction
    POUNDS = 3  # weight of qualifying items
    KILOGRAMS = 4
    CASHIER_INTERVENTION = 9


class SaveValueCode(IntEnum):
    """How the save value is applied (optional field 9; absent means cents off)."""

    CENTS_OFF = 0
    FREE_ITEM = 1
    MULTIPLE_FREE_ITEMS = 2
    PERCENT_OFF = 5
    CENTS_OFF_FINAL_TRANSACTION = 6


REQUIREMENT_CODES = frozenset(int(c) for c in RequirementCode)
SAVE_VALUE_CODES = frozenset(int(c) for c in SaveValueCode)


class CouponDataError(ValueError):
    """A coupon field that breaks the (8110) rules; ``field`` names it, ``position`` is its offset."""

    def __init__(self, field_name: str, reason: str, position: int | None = None) -> None:
        where = f" at position {position}" if position is not None else ""
        super().__init__(f"{field_name}: {reason}{where}")
        self.field = field_name
        self.reason = reason
        self.position = position


@dataclass(frozen=True)
class PurchaseRequirement:
    """A purchase the coupon needs: ``value`` counted as ``code`` on products of ``family_code``.

    ``company_prefix`` is only used for the second and third purchase; ``None`` there means
    the primary purchase's company prefix (VLI 9).
    """

    value: int
    code: RequirementCode = RequirementCode.UNITS
    family_code: str = "000"
    company_prefix: str | None = None


@dataclass(frozen=True)
class Miscellaneous:
    """Optional field 9."""

    save_value_code: SaveValueCode = SaveValueCode.CENTS_OFF
    applies_to_item: int = 0  # 0 = first qualifying item, 1 = second, 2 = third
    store_coupon: int = 0
    dont_multiply: bool = False


@dataclass(frozen=True)
class CouponData:
    """The content of one AI (8110) coupon. Money values are integer cents (or percent)."""

    company_prefix: str
    offer_code: str
    save_value: int
    primary: PurchaseRequirement
    additional_rules_code: int | None = None
    second: PurchaseRequirement | None = None
    third: PurchaseRequirement | None = None
    expiration: date | None = None
    start: date | None = None
    serial_number: str | None = None
    retailer_id: str | None = None
    misc: Miscellaneous | None = field(default=None)

    def element_string(self) -> str:
        """Human-readable element string, e.g. ``(8110)1061414165432135001...``."""
        return f"({AI}){build(self)}"


# --------------------------------------------------------------------------- build


def build(coupon: CouponData) -> str:
    """The (8110) data digits for ``coupon``; raises :class:`CouponDataError` on any bad field."""
    parts: list[str] = [
        _prefix_with_vli("company prefix", coupon.company_prefix),
        _fixed_digits("offer code", coupon.offer_code, 6),
        _value_with_vli("save value", coupon.save_value),
        _requirement("primary purchase", coupon.primary, with_prefix=False),
    ]
    if coupon.second is not None:
        rules = coupon.additional_rules_code
        if rules is None or rules not in (0, 1, 2, 3):
            raise CouponDataError("additional purchase rules code", "must be 0-3 with a second purchase")
        parts.append("1" + str(rules) + _requirement("second purchase", coupon.second, with_prefix=True))
    elif coupon.additional_rules_code is not None:
        raise CouponDataError("additional purchase rules code", "only allowed with a second purchase")
    if coupon.third is not None:
        parts.append("2" + _requirement("third purchase", coupon.third, with_prefix=True))
    if coupon.expiration is not None:
        parts.append("3" + _yymmdd("expiration date", coupon.expiration))
    if coupon.start is not None:
        if coupon.expiration is not None and coupon.start > coupon.expiration:
            raise CouponDataError("start date", "after the expiration date")
        parts.append("4" + _yymmdd("start date", coupon.start))
    if coupon.serial_number is not None:
        parts.append("5" + _vli_digits("serial number", coupon.serial_number, 6, 15, vli_offset=6))
    if coupon.retailer_id is not None:
        parts.append("6" + _vli_digits("retailer id", coupon.retailer_id, 7, 13, vli_offset=6))
    if coupon.misc is not None:
        parts.append("9" + _misc(coupon.misc))
    data = "".join(parts)
    if len(data) > MAX_LENGTH:
        raise CouponDataError("coupon", f"{len(data)} digits, more than the {MAX_LENGTH} AI (8110) allows")
    return data


def _digits(name: str, value: str) -> str:
    if not isinstance(value, str) or not value.isascii() or not value.isdigit():
        raise CouponDataError(name, f"must be digits, got {value!r}")
    return value


def _fixed_digits(name: str, value: str, length: int) -> str:
    _digits(name, value)
    if len(value) != length:
        raise CouponDataError(name, f"must be exactly {length} digits, got {len(value)}")
    return value


def _vli_digits(name: str, value: str, shortest: int, longest: int, vli_offset: int) -> str:
    _digits(name, value)
    if not shortest <= len(value) <= longest:
        raise CouponDataError(name, f"must be {shortest}-{longest} digits, got {len(value)}")
    return str(len(value) - vli_offset) + value


def _prefix_with_vli(name: str, prefix: str) -> str:
    return _vli_digits(name, prefix, 6, 12, vli_offset=6)


def _value_with_vli(name: str, value: int) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        raise CouponDataError(name, f"must be an integer, got {value!r}")
    if not 0 <= value <= 99_999:
        raise CouponDataError(name, f"must be 0-99999 (1-5 digits), got {value}")
    digits = str(value)
    return str(len(digits)) + digits


def _requirement(name: str, req: PurchaseRequirement, with_prefix: bool) -> str:
    code = int(req.code)
    if code not in REQUIREMENT_CODES:
        raise CouponDataError(f"{name} requirement code", f"must be 0-4 or 9, got {code}")
    out = _value_with_vli(f"{name} requirement", req.value) + str(code)
    out += _fixed_digits(f"{name} family code", req.family_code, 3)
    if with_prefix:
        out += "9" if req.company_prefix is None else _prefix_with_vli(f"{name} company prefix", req.company_prefix)
    elif req.company_prefix is not None:
        raise CouponDataError(f"{name} company prefix", "the primary purchase uses the coupon's company prefix")
    return out


def _yymmdd(name: str, day: date) -> str:
    if not 2000 <= day.year <= 2099:
        raise CouponDataError(name, f"year must be 2000-2099, got {day.year}")
    return day.strftime("%y%m%d")


def _misc(misc: Miscellaneous) -> str:
    if int(misc.save_value_code) not in SAVE_VALUE_CODES:
        raise CouponDataError("save value code", f"must be 0, 1, 2, 5 or 6, got {int(misc.save_value_code)}")
    if misc.applies_to_item not in (0, 1, 2):
        raise CouponDataError("save value applies to item", f"must be 0-2, got {misc.applies_to_item}")
    if not 0 <= misc.store_coupon <= 9:
        raise CouponDataError("store coupon flag", f"must be one digit, got {misc.store_coupon}")
    return f"{int(misc.save_value_code)}{misc.applies_to_item}{misc.store_coupon}{int(bool(misc.dont_multiply))}"


# --------------------------------------------------------------------------- parse


def parse(text: str) -> CouponData:
    """Parse (8110) data (digits, optionally led by ``(8110)`` or ``8110`` from a scanner)."""
    data = strip_ai(text)
    reader = _Reader(data)
    if not data:
        raise CouponDataError("company prefix VLI", "missing", 0)
    if not data.isascii() or not data.isdigit():
        bad = next(i for i, ch in enumerate(data) if not ("0" <= ch <= "9"))
        raise CouponDataError("coupon", "non-digit character", bad)
    if len(data) > MAX_LENGTH:
        raise CouponDataError("coupon", f"{len(data)} digits, more than {MAX_LENGTH}")

    company_prefix = reader.prefix("company prefix", allow_same=False)
    assert company_prefix is not None
    offer_code = reader.take("offer code", 6)
    save_value = reader.value("save value")
    primary = reader.requirement("primary purchase", with_prefix=False)

    rules: int | None = None
    second = third = None
    expiration = start = None
    serial = retailer = None
    misc = None
    if reader.at("1"):
        rules = reader.digit("additional purchase rules code", allowed=range(0, 4))
        second = reader.requirement("second purchase", with_prefix=True)
    if reader.at("2"):
        third = reader.requirement("third purchase", with_prefix=True)
    if reader.at("3"):
        expiration = reader.yymmdd("expiration date")
    if reader.at("4"):
        start = reader.yymmdd("start date")
        if expiration is not None and start > expiration:
            raise CouponDataError("start date", "after the expiration date", reader.pos - 6)
    if reader.at("5"):
        vli = reader.digit("serial number VLI", allowed=range(0, 10))
        serial = reader.take("serial number", vli + 6)
    if reader.at("6"):
        vli = reader.digit("retailer id VLI", allowed=range(1, 8))
        retailer = reader.take("retailer id", vli + 6)
    if reader.at("9"):
        code = reader.digit("save value code", allowed=SAVE_VALUE_CODES)
        applies = reader.digit("save value applies to item", allowed=range(0, 3))
        store_flag = reader.digit("store coupon flag", allowed=range(0, 10))
        dont_multiply = reader.digit("don't multiply flag", allowed=range(0, 2))
        misc = Miscellaneous(SaveValueCode(code), applies, store_flag, bool(dont_multiply))
    if reader.pos != len(data):
        raise CouponDataError("coupon", f"unexpected data {data[reader.pos:]!r} (fields out of order or unknown)", reader.pos)
    return CouponData(
        company_prefix=company_prefix,
        offer_code=offer_code,
        save_value=save_value,
        primary=primary,
        additional_rules_code=rules,
        second=second,
        third=third,
        expiration=expiration,
        start=start,
        serial_number=serial,
        retailer_id=retailer,
        misc=misc,
    )


def strip_ai(text: str) -> str:
    """The data after a leading ``(8110)`` / ``8110``; bare data never starts with 8 (VLI 0-6)."""
    text = text.strip()
    for lead in (f"({AI})", AI):
        if text.startswith(lead):
            return text[len(lead):]
    if text.startswith("("):
        raise CouponDataError("application identifier", f"not an AI ({AI}) coupon: {text[:12]!r}")
    return text


def is_valid(text: str) -> bool:
    try:
        parse(text)
    except CouponDataError:
        return False
    return True


class _Reader:
    def __init__(self, data: str) -> None:
        self.data = data
        self.pos = 0

    def at(self, indicator: str) -> bool:
        if self.pos < len(self.data) and self.data[self.pos] == indicator:
            self.pos += 1
            return True
        return False

    def take(self, name: str, length: int) -> str:
        if len(self.data) - self.pos < length:
            raise CouponDataError(name, f"truncated: needs {length} digits", self.pos)
        out = self.data[self.pos:self.pos + length]
        self.pos += length
        return out

    def digit(self, name: str, allowed: range | frozenset[int]) -> int:
        if self.pos >= len(self.data):
            raise CouponDataError(name, "missing", self.pos)
        value = int(self.data[self.pos])
        if value not in allowed:
            raise CouponDataError(name, f"invalid value {value}", self.pos)
        self.pos += 1
        return value

    def value(self, name: str) -> int:
        vli = self.digit(f"{name} VLI", allowed=range(1, 6))
        return int(self.take(name, vli))

    def prefix(self, name: str, allow_same: bool) -> str | None:
        allowed = frozenset(range(0, 7)) | ({9} if allow_same else set())
        vli = self.digit(f"{name} VLI", allowed=allowed)
        if vli == 9:
            return None
        return self.take(name, vli + 6)

    def requirement(self, name: str, with_prefix: bool) -> PurchaseRequirement:
        value = self.value(f"{name} requirement")
        code = self.digit(f"{name} requirement code", allowed=REQUIREMENT_CODES)
        family = self.take(f"{name} family code", 3)
        prefix = self.prefix(f"{name} company prefix", allow_same=True) if with_prefix else None
        return PurchaseRequirement(value, RequirementCode(code), family, prefix)

    def yymmdd(self, name: str) -> date:
        raw = self.take(name, 6)
        try:
            return date(2000 + int(raw[:2]), int(raw[2:4]), int(raw[4:6]))
        except ValueError as exc:
            raise CouponDataError(name, f"not a valid YYMMDD date: {raw}", self.pos - 6) from exc
