"""The list lines of a range of list periods with their net ledger sums, read once.

The results need the period's lines three ways: as treated pairs for the lift (member,
offer, cell, stage, probability), grouped by offer, cell, store and stage for delivery and
money, and their redemptions' money per offer and cell. One query hands every line over
with its net ledger sums (the ``redemptions`` ledger is signed: returns and voids are
already netted), brand loyalty and usage tier coded as integers in SQL; the rest is numpy.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Sequence

import numpy as np
import pandas as pd
from sqlalchemy import Connection, text

from ..models.offers import BRAND_LOYALTIES, USAGE_TIERS

# the cell of a line without both a brand loyalty and a usage tier (inputs.CELL_NAMES' last)
UNSEGMENTED = len(BRAND_LOYALTIES) * len(USAGE_TIERS)


def _case(column: str, names: Sequence[str]) -> str:
    """``column``'s position in ``names`` (-1: none of them), in SQL."""
    whens = " ".join(f"WHEN '{name}' THEN {i}" for i, name in enumerate(names))
    return f"CASE {column} {whens} ELSE -1 END"


_LINE_LEDGER = """
    SELECT r.list_line_id, SUM(r.applications) AS apps, SUM(r.discount_cents) AS d,
           SUM(CASE WHEN r.funder_kind = 'manufacturer' THEN r.funded_cents ELSE 0 END) AS f, SUM(r.handling_fee_cents) AS h
    FROM redemptions r
    WHERE r.list_id IN (SELECT id FROM shopping_lists WHERE period_start BETWEEN :a AND :b)
    GROUP BY r.list_line_id
"""
_LINES = text(f"""
    SELECT l.store_id, l.lifecycle_stage, l.period_start, l.period_end, ln.probability,
           ln.offer_id, {_case('ln.brand_loyalty', BRAND_LOYALTIES)}, {_case('ln.usage_tier', USAGE_TIERS)},
           l.id, l.member_key, CASE WHEN m.mail_opt_in THEN 1 ELSE 0 END, CASE WHEN m.app_opt_in THEN 1 ELSE 0 END,
           ln.face_value_cents, COALESCE(r.apps, 0), COALESCE(r.d, 0), COALESCE(r.f, 0), COALESCE(r.h, 0)
    FROM shopping_list_lines ln
    JOIN shopping_lists l ON l.id = ln.list_id
    JOIN members m ON m.id = l.member_key
    LEFT JOIN ({_LINE_LEDGER}) r ON r.list_line_id = ln.id
    WHERE l.period_start BETWEEN :a AND :b AND l.status <> 'replaced'
""")
_INTEGERS = ("offer", "loyalty", "tier", "list_id", "member", "mail", "app", "face", "apps", "discount", "funded", "fee")


@dataclass
class PeriodLines:
    """Aligned arrays, one entry per list line of the periods' lists (replaced lists left out)."""

    store: np.ndarray  # object: store id ('' when none)
    stage: np.ndarray  # object: the list's lifecycle stage ('' when none)
    start: np.ndarray  # int64 ordinal day of the list's period start
    end: np.ndarray  # int64 ordinal day of its period end
    probability: np.ndarray  # float64
    cell: np.ndarray  # int64 index into CELL_NAMES
    ints: dict[str, np.ndarray]  # _INTEGERS: offer id, list id, member key, opt-ins, face, ledger sums

    def __len__(self) -> int:
        return int(self.cell.shape[0])


def read_period_lines(conn: Connection, a: date, b: date) -> PeriodLines:
    """Every list line of the periods starting in ``[a, b]`` with its net ledger sums."""
    result = conn.execute(_LINES, {"a": a, "b": b})
    rows = result.cursor.fetchall() if result.cursor is not None else []  # plain tuples: no Row objects
    if not rows:
        empty = np.empty(0, np.int64)
        return PeriodLines(np.empty(0, object), np.empty(0, object), empty, empty, np.empty(0, np.float64), empty,
                           {k: empty for k in _INTEGERS})
    store, stage, start, end, probability, *numeric = zip(*rows)
    del rows
    numbers = np.array(numeric, dtype=np.int64)
    ints = dict(zip(_INTEGERS, numbers))
    loyalty, tier = ints["loyalty"], ints["tier"]
    cell = np.where((loyalty >= 0) & (tier >= 0), loyalty * len(USAGE_TIERS) + tier, UNSEGMENTED)
    return PeriodLines(
        store=_text(store), stage=_text(stage), start=_days(start), end=_days(end),
        probability=np.nan_to_num(np.array(probability, dtype=np.float64)), cell=cell.astype(np.int64), ints=ints)


def _text(values: Sequence[Any]) -> np.ndarray:
    return pd.Series(values, dtype=object).fillna("").astype(str).to_numpy(dtype=object)


def _days(values: Sequence[Any]) -> np.ndarray:
    """Ordinal days of DATE values (dates, or ISO text on SQLite), each distinct value parsed once."""
    codes, distinct = pd.factorize(pd.Series(values, dtype=object), sort=False)
    parsed = [(d if isinstance(d, date) else date.fromisoformat(str(d))).toordinal() for d in distinct.tolist()]
    return np.array(parsed, dtype=np.int64)[codes]


__all__ = ["PeriodLines", "read_period_lines"]
