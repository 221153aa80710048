"""Vectorized row validation: typed column values plus the reasons a row is rejected.

Each check adds a mask of offending rows and a message (text, or a function that builds one
message per offending row from the raw values). Messages are only built for rejected rows.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import parsing
from .formats import BRAND_TYPE_SYNONYMS, EMPTY_ALLOWED, MEMBER_STATUSES, Column, FileFormat, ValueType

Message = str | Callable[[np.ndarray], list[str]]
_EMAIL_RE = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
_GS1_RE = r"^\d{6,12}$"


class RowProblems:
    """Reasons rows of one chunk are rejected."""

    def __init__(self, n: int) -> None:
        self.n = n
        self._items: list[tuple[np.ndarray, Message]] = []

    def add(self, mask: np.ndarray, message: Message) -> None:
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            self._items.append((mask, message))

    @property
    def bad(self) -> np.ndarray:
        out = np.zeros(self.n, dtype=bool)
        for mask, _ in self._items:
            out |= mask
        return out

    def window(self, start: int, stop: int) -> "RowProblems":
        """The problems of rows ``start:stop``, numbered from 0 (messages read the whole chunk)."""
        out = RowProblems(stop - start)
        for mask, message in self._items:
            out.add(mask[start:stop], message if isinstance(message, str) else _shifted(message, start))
        return out

    def reasons(self, rows: np.ndarray) -> list[str]:
        """'; '-joined reasons for each of ``rows`` (indices into the chunk)."""
        parts: list[list[str]] = [[] for _ in rows]
        for mask, message in self._items:
            hit = mask[rows]
            if not hit.any():
                continue
            where = np.flatnonzero(hit)
            texts = [message] * len(where) if isinstance(message, str) else message(rows[where])
            for k, text in zip(where, texts):
                # Two checks that reach the same verdict on a cell say it once.
                if text not in parts[k]:
                    parts[k].append(text)
        return ["; ".join(p) for p in parts]


def _shifted(message: Callable[[np.ndarray], list[str]], start: int) -> Callable[[np.ndarray], list[str]]:
    return lambda rows: message(rows + start)


def quoted_values(values: pa.Array, template: str) -> Callable[[np.ndarray], list[str]]:
    """A message per row with the raw value: template uses ``{value}``."""
    def build(rows: np.ndarray) -> list[str]:
        return [template.format(value=repr(v)) for v in values.take(pa.array(rows)).to_pylist()]
    return build


def trimmed(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return pc.utf8_trim_whitespace(parsing.as_string_array(values))


@dataclass
class Parsed:
    """One canonical column's values, ready for the database, and which cells were empty."""

    values: Any  # pa.Array (text/date) or np.ndarray (numbers, booleans)
    empty: np.ndarray


def parse_column(fmt: FileFormat, column: Column, raw: pa.Array, problems: RowProblems,
                 rounded_counter: list[int] | None = None) -> Parsed:
    """Parse one column; adds problems for bad cells (and for empty cells of required columns)."""
    values = trimmed(raw)
    empty = parsing.is_empty(values)
    name = column.name
    if column.required and (fmt.kind, name) not in EMPTY_ALLOWED:
        problems.add(empty, f"missing {name}")
    kind = column.type
    result: Any = values
    if kind in (ValueType.TEXT, ValueType.EMAIL, ValueType.TIMEZONE, ValueType.GS1_PREFIX):
        problems.add(parsing.has_control_nul(values), f"{name} contains a NUL character")
        if kind is ValueType.EMAIL:
            ok = np.asarray(pc.fill_null(pc.match_substring_regex(values, _EMAIL_RE), False), dtype=bool)
            problems.add(~ok & ~empty, quoted_values(values, f"{name} {{value}} is not an e-mail address"))
        elif kind is ValueType.TIMEZONE:
            known = pa.array(sorted(parsing.known_timezones()))
            ok = np.asarray(pc.fill_null(pc.is_in(values, known), False), dtype=bool)
            problems.add(~ok & ~empty, quoted_values(values, f"{name} {{value}} is not an IANA time zone (e.g. America/Chicago)"))
        elif kind is ValueType.GS1_PREFIX:
            ok = np.asarray(pc.fill_null(pc.match_substring_regex(values, _GS1_RE), False), dtype=bool)
            problems.add(~ok & ~empty, quoted_values(values, f"{name} {{value}} is not 6 to 12 digits"))
    elif kind is ValueType.MONEY:
        money = parsing.parse_money(values)
        problems.add(money.bad, quoted_values(values, f"{name} {{value}} is not a money amount"))
        if rounded_counter is not None:
            rounded_counter[0] += int(money.rounded.sum())
        result = money.cents
    elif kind is ValueType.INTEGER:
        number = parsing.parse_integer(values)
        problems.add(number.bad, quoted_values(values, f"{name} {{value}} is not a whole number"))
        result = number.values
    elif kind is ValueType.BOOLEAN:
        flag = parsing.parse_boolean(values)
        problems.add(flag.bad, quoted_values(values, f"{name} {{value}} is not yes/no (true/false, 1/0)"))
        result = flag.values
    elif kind is ValueType.DATE:
        date = parsing.parse_date(values)
        problems.add(date.bad, quoted_values(values, f"{name} {{value}} is not a date (YYYY-MM-DD)"))
        result = pc.strftime(date.values, format="%Y-%m-%d")
    elif kind is ValueType.DATETIME:
        stamp = parsing.parse_datetime(values)
        problems.add(stamp.bad & ~empty, quoted_values(
            values, f"{name} {{value}} is not a date and time (e.g. 2017-01-01T11:53:26, optional Z or +hh:mm)"))
        result = stamp
    elif kind is ValueType.BRAND_TYPE:
        lowered = pc.utf8_lower(values)
        keys = pa.array(list(BRAND_TYPE_SYNONYMS))
        ok = np.asarray(pc.fill_null(pc.is_in(lowered, keys), False), dtype=bool)
        problems.add(empty, f"{name} is empty (national or store)")
        problems.add(~ok & ~empty, quoted_values(values, f"{name} {{value}} is not national or store"))
        targets = pa.array([BRAND_TYPE_SYNONYMS[k] for k in keys.to_pylist()])
        index = pc.index_in(lowered, keys)
        result = pc.take(targets, pc.fill_null(index, 0))
    elif kind is ValueType.STATUS:
        lowered = pc.utf8_lower(values)
        ok = np.asarray(pc.fill_null(pc.is_in(lowered, pa.array(MEMBER_STATUSES)), False), dtype=bool)
        problems.add(~ok & ~empty, quoted_values(values, f"{name} {{value}} is not one of {', '.join(MEMBER_STATUSES)}"))
        result = lowered
    if column.max_length is not None and kind not in (ValueType.MONEY, ValueType.INTEGER):
        problems.add(parsing.too_long(values, column.max_length),
                     f"{name} is longer than {column.max_length} characters")
    return Parsed(values=result, empty=empty)

