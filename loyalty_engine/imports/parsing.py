"""Vectorized parsing of text cells into typed values, with a reason for every bad cell.

Every parser takes a pyarrow string array (already trimmed of surrounding whitespace) and
returns numpy values plus a boolean mask of the cells it could not read. Nothing here loops
over rows in Python except for the rare cells that need a second look (e.g. ``1e3``).

Money rule (the same as :func:`loyalty_engine.money.to_cents`): the cell's exact decimal value
is rounded half-up (ties away from zero) to whole cents. Text is never read as a float; Parquet
floats are first written as their shortest round-trip decimal (``0.1 + 0.2`` ->
``0.30000000000000004`` -> 30 cents; ``2.675`` -> 268 cents), Parquet decimals exactly.
"""
from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, fields, replace
from decimal import Decimal, InvalidOperation
from functools import lru_cache, wraps
from typing import Callable, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..money import MoneyError, to_cents

# Cents must fit PostgreSQL BIGINT with room for sums; 13 integer digits = < 10 trillion dollars.
MAX_MONEY_INT_DIGITS = 13
INT32_MAX = 2**31 - 1

_MONEY_RE = r"^(?P<sign>[+-]?)\$?(?P<int>\d*)(?:\.(?P<frac>\d*))?$"
_INTEGER_RE = r"^(?P<sign>[+-]?)(?P<int>\d+)(?:\.(?P<frac>0*))?$"
_DATE_RE = r"^(?P<date>\d{4}-\d{2}-\d{2})(?:[T ].*)?$"
_DATETIME_RE = (
    r"^(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[T ](?P<hh>\d{2}):(?P<mi>\d{2})(?::(?P<ss>\d{2})(?:[.,](?P<frac>\d{1,9}))?)?)?"
    r" ?(?P<tz>Z|z|[+-]\d{2}(?::?\d{2})?)?$"
)
_TRUE = ("true", "t", "yes", "y", "1")
_FALSE = ("false", "f", "no", "n", "0")


R = TypeVar("R")


def per_distinct_value(parse: Callable[[pa.Array], R]) -> Callable[[pa.Array], R]:
    """Parse each distinct cell once and spread the results back over the rows.

    POS columns repeat a lot (a chunk of 200,000 lines has a few thousand distinct amounts and
    one time per basket), so this divides the parsing work several times over.
    """
    @wraps(parse)
    def wrapper(values: pa.Array) -> R:
        values = as_string_array(values)
        encoded = pc.dictionary_encode(values, null_encoding="encode")
        distinct = encoded.dictionary
        if len(distinct) * 2 > len(values):
            return parse(values)
        result = parse(distinct)
        codes = np.asarray(pc.fill_null(encoded.indices, 0), dtype=np.int64)
        spread = {}
        for f in fields(result):  # type: ignore[arg-type]
            column = getattr(result, f.name)
            spread[f.name] = column.take(pa.array(codes)) if isinstance(column, pa.Array) else column[codes]
        return replace(result, **spread)  # type: ignore[type-var]
    return wrapper


def as_string_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous string array (chunked arrays are combined once)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if values.type != pa.string():
        values = values.cast(pa.string())
    return values


def is_empty(values: pa.Array) -> np.ndarray:
    # Byte length, read from the offsets: utf8_length decodes every character to say the same.
    return np.asarray(pc.fill_null(pc.equal(pc.binary_length(values), 0), True), dtype=bool)


def _fill(values: pa.Array, text: str) -> pa.Array:
    return pc.fill_null(values, text)


def _digits_to_int(values: pa.Array) -> np.ndarray:
    """Cast digit strings to int64; empty strings count as 0."""
    nonempty = pc.if_else(pc.equal(values, ""), "0", values)
    return np.asarray(pc.cast(nonempty, pa.int64()), dtype=np.int64)


@dataclass
class MoneyResult:
    cents: np.ndarray  # int64; 0 where bad or empty
    bad: np.ndarray  # bool: not a money amount or out of range
    rounded: np.ndarray  # bool: had non-zero digits below a cent and was rounded


@per_distinct_value
def parse_money(values: pa.Array) -> MoneyResult:
    """Text (``-12.345``, ``$3.10``, ``.5``) -> exact integer cents, rounded half-up.

    Empty cells give 0 and are *not* flagged; callers decide whether empty is allowed.
    """
    values = as_string_array(values)
    n = len(values)
    parts = pc.extract_regex(values, _MONEY_RE)
    matched = np.asarray(pc.fill_null(pc.is_valid(parts), False), dtype=bool)
    int_part = _fill(pc.struct_field(parts, "int"), "")
    frac = _fill(pc.struct_field(parts, "frac"), "")
    sign = _fill(pc.struct_field(parts, "sign"), "")
    int_len = np.asarray(pc.binary_length(int_part), dtype=np.int64)  # ASCII digits: bytes = characters
    frac_len = np.asarray(pc.binary_length(frac), dtype=np.int64)
    empty = is_empty(values)
    # "+", "$" or "." alone match the pattern but carry no digits.
    ok = matched & ((int_len + frac_len) > 0) & (int_len <= MAX_MONEY_INT_DIGITS)
    bad = ~ok & ~empty
    int_part = pc.if_else(pa.array(ok), int_part, "")
    frac = pc.if_else(pa.array(ok), frac, "")
    whole = _digits_to_int(int_part)
    cents2 = _digits_to_int(pc.utf8_rpad(pc.utf8_slice_codeunits(frac, 0, 2), 2, "0"))
    # Half-up at the exact decimal: the remainder is >= half a cent iff the third digit >= 5.
    third = np.asarray(pc.fill_null(pc.greater_equal(pc.utf8_slice_codeunits(frac, 2, 3), "5"), False), dtype=bool)
    below = pc.utf8_slice_codeunits(frac, 2, 64)
    rounded = np.asarray(pc.fill_null(pc.match_substring_regex(below, "[1-9]"), False), dtype=bool)
    negative = np.asarray(pc.equal(sign, "-"), dtype=bool)
    cents = whole * 100 + cents2 + third.astype(np.int64)
    cents = np.where(negative, -cents, cents)
    cents = np.where(ok, cents, 0)
    result = MoneyResult(cents=cents, bad=bad, rounded=rounded & ok)
    _second_look_money(values, result)
    assert len(result.cents) == n
    return result


def _second_look_money(values: pa.Array, result: MoneyResult) -> None:
    """Exponent forms (``1e3``, ``1.5E-2``, as some exports write floats) go through Decimal."""
    suspects = np.flatnonzero(result.bad)
    if len(suspects) == 0:
        return
    texts = values.take(pa.array(suspects)).to_pylist()
    for i, text in zip(suspects, texts):
        if text is None or not any(ch in text for ch in "eE"):
            continue
        try:
            amount = Decimal(text)
        except InvalidOperation:
            continue
        if not amount.is_finite() or abs(amount) >= Decimal(10) ** MAX_MONEY_INT_DIGITS:
            continue
        try:
            cents = to_cents(amount)
        except MoneyError:  # pragma: no cover - Decimal already validated
            continue
        result.cents[i] = cents
        result.bad[i] = False
        result.rounded[i] = amount != Decimal(cents) / 100


@dataclass
class IntegerResult:
    values: np.ndarray  # int64
    bad: np.ndarray  # not a whole number, or outside 32-bit range


@per_distinct_value
def parse_integer(values: pa.Array) -> IntegerResult:
    """Whole numbers; ``2.0`` is accepted (float exports), ``2.5`` is not. Empty -> 0, not flagged."""
    values = as_string_array(values)
    parts = pc.extract_regex(values, _INTEGER_RE)
    matched = np.asarray(pc.fill_null(pc.is_valid(parts), False), dtype=bool)
    digits = _fill(pc.struct_field(parts, "int"), "")
    ok = matched & (np.asarray(pc.binary_length(digits), dtype=np.int64) <= 10)  # ASCII digits
    digits = pc.if_else(pa.array(ok), digits, "")
    number = _digits_to_int(digits)
    negative = np.asarray(pc.equal(_fill(pc.struct_field(parts, "sign"), ""), "-"), dtype=bool)
    number = np.where(negative, -number, number)
    ok &= np.abs(number) <= INT32_MAX
    empty = is_empty(values)
    return IntegerResult(values=np.where(ok, number, 0), bad=~ok & ~empty)


@dataclass
class BooleanResult:
    values: np.ndarray
    bad: np.ndarray


@per_distinct_value
def parse_boolean(values: pa.Array) -> BooleanResult:
    """true/false, t/f, yes/no, y/n, 1/0 in any case. Empty -> False, not flagged."""
    lowered = pc.utf8_lower(as_string_array(values))
    truthy = np.asarray(pc.fill_null(pc.is_in(lowered, pa.array(_TRUE)), False), dtype=bool)
    falsy = np.asarray(pc.fill_null(pc.is_in(lowered, pa.array(_FALSE)), False), dtype=bool)
    empty = is_empty(values)
    return BooleanResult(values=truthy, bad=~(truthy | falsy | empty))


@dataclass
class DateResult:
    values: pa.Array  # date32 (null where bad or empty)
    bad: np.ndarray


@per_distinct_value
def parse_date(values: pa.Array) -> DateResult:
    """ISO dates ``YYYY-MM-DD`` (a time part, if any, is ignored). Impossible dates are bad."""
    values = as_string_array(values)
    text = pc.struct_field(pc.extract_regex(values, _DATE_RE), "date")
    stamps = pc.strptime(text, format="%Y-%m-%d", unit="s", error_is_null=True)
    # strptime is lenient (2017-02-30 -> March 2); the round trip catches that.
    back = pc.strftime(stamps, format="%Y-%m-%d")
    ok = np.asarray(pc.fill_null(pc.equal(back, text), False), dtype=bool)
    empty = is_empty(values)
    dates = pc.cast(stamps, pa.date32())
    dates = pc.if_else(pa.array(ok), dates, pa.scalar(None, pa.date32()))
    return DateResult(values=dates, bad=~ok & ~empty)


@dataclass
class DateTimeResult:
    naive: np.ndarray  # datetime64[us]: the clock reading as written (NaT where bad)
    offset_minutes: np.ndarray  # int64 offset written in the cell (Z = 0)
    has_offset: np.ndarray  # bool: the cell carried Z or +hh:mm
    bad: np.ndarray


@per_distinct_value
def parse_datetime(values: pa.Array) -> DateTimeResult:
    """ISO 8601 date-times: ``2017-01-01T11:53:26``, ``2017-01-01 11:53``, ``...26.5Z``,
    ``...26-05:00``. A date alone means midnight. Empty cells are bad (a scan needs a time)."""
    values = as_string_array(values)
    n = len(values)
    fast = _plain_datetimes(values)
    if fast is not None:
        return fast
    parts = pc.extract_regex(values, _DATETIME_RE)
    matched = np.asarray(pc.fill_null(pc.is_valid(parts), False), dtype=bool)
    field = lambda name: _fill(pc.struct_field(parts, name), "")  # noqa: E731
    date_text = field("date")
    stamps = pc.strptime(pc.if_else(pa.array(matched), date_text, "1970-01-01"), format="%Y-%m-%d",
                         unit="s", error_is_null=True)
    date_ok = np.asarray(pc.fill_null(pc.equal(pc.strftime(stamps, format="%Y-%m-%d"), date_text), False), dtype=bool)
    hh, mi, ss = (_digits_to_int(field(k)) for k in ("hh", "mi", "ss"))
    frac = field("frac")
    micros = _digits_to_int(pc.utf8_rpad(pc.utf8_slice_codeunits(frac, 0, 6), 6, "0"))
    micros = np.where(np.asarray(pc.binary_length(frac)) > 0, micros, 0)
    time_ok = (hh <= 23) & (mi <= 59) & (ss <= 59)
    tz = field("tz")
    has_offset = np.asarray(pc.binary_length(tz), dtype=np.int64) > 0
    offset = _parse_offsets(tz)
    offset_ok = np.abs(offset) <= 18 * 60
    ok = matched & date_ok & time_ok & offset_ok
    days = np.asarray(pc.cast(pc.fill_null(stamps, 0), pa.int64()), dtype=np.int64)  # seconds
    micro_total = (days + hh * 3600 + mi * 60 + ss) * 1_000_000 + micros
    naive = micro_total.astype("datetime64[us]")
    naive = np.where(ok, naive, np.datetime64("NaT", "us"))
    assert len(naive) == n
    return DateTimeResult(naive=naive, offset_minutes=np.where(ok, offset, 0), has_offset=has_offset & ok, bad=~ok)


def _plain_datetimes(values: pa.Array) -> DateTimeResult | None:
    """The common case in one C++ pass: every cell exactly ``YYYY-MM-DDTHH:MM:SS`` (or a space
    for the ``T``), no offset, and a real calendar time (Arrow's ISO parser refuses 24:00, :60
    and February 30th, as the general path does). None when any cell is otherwise: the general
    path then reads the whole array and says which cells are bad."""
    if len(values) == 0 or values.null_count:
        return None
    shaped = pc.and_(pc.equal(pc.utf8_length(values), 19),
                     pc.and_(pc.is_in(pc.utf8_slice_codeunits(values, 10, 11), pa.array(["T", " "])),
                             pc.equal(pc.binary_join_element_wise(pc.utf8_slice_codeunits(values, 13, 14),
                                                                  pc.utf8_slice_codeunits(values, 16, 17), ""),
                                      "::")))
    if not pc.all(shaped).as_py():
        return None
    try:
        naive = np.asarray(pc.cast(values, pa.timestamp("us")), dtype="datetime64[us]")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    n = len(values)
    return DateTimeResult(naive=naive, offset_minutes=np.zeros(n, dtype=np.int64),
                          has_offset=np.zeros(n, dtype=bool), bad=np.zeros(n, dtype=bool))


def _parse_offsets(tz: pa.Array) -> np.ndarray:
    """'Z' -> 0, '+05:30' / '+0530' / '+05' -> minutes."""
    upper = pc.utf8_upper(tz)
    stripped = pc.replace_substring(upper, ":", "")
    sign = np.where(np.asarray(pc.starts_with(stripped, "-"), dtype=bool), -1, 1)
    hours = _digits_to_int(pc.utf8_slice_codeunits(stripped, 1, 3))
    minutes = _digits_to_int(pc.utf8_slice_codeunits(stripped, 3, 5))
    is_z = np.asarray(pc.equal(upper, "Z"), dtype=bool)
    return np.where(is_z, 0, sign * (hours * 60 + minutes))


def too_long(values: pa.Array, max_length: int) -> np.ndarray:
    """Values of more than ``max_length`` characters. No more bytes than that means no more
    characters: characters are only counted (every one decoded) when some value has more bytes."""
    if not pc.any(pc.greater(pc.binary_length(values), max_length)).as_py():
        return np.zeros(len(values), dtype=bool)
    return np.asarray(pc.fill_null(pc.greater(pc.utf8_length(values), max_length), False), dtype=bool)


def has_control_nul(values: pa.Array) -> np.ndarray:
    """PostgreSQL text cannot hold NUL characters. Cells are searched one by one only when the
    column's character buffer holds a zero byte at all (one vectorized pass over the bytes)."""
    data = values.buffers()[2] if values.type == pa.string() else None
    if data is not None and not (np.frombuffer(data, dtype=np.uint8) == 0).any():
        return np.zeros(len(values), dtype=bool)
    return np.asarray(pc.fill_null(pc.match_substring(values, "\x00"), False), dtype=bool)


@lru_cache(maxsize=1)
def known_timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def valid_timezone(name: str) -> bool:
    return name in known_timezones()
