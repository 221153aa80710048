"""The list lines of a range of list periods with their net ledger sums, read once.

The results (and analytics) need the period's lines several ways: as treated pairs for the
lift (member, offer, cell, stage, probability), grouped by offer, cell, store and stage for
delivery and money, and their redemptions' money per offer and cell. Two queries: the lists
(member, store, stage, opt-ins: what a list's lines share), and every line with its net
ledger sums (the ``redemptions`` ledger is signed: returns and voids are already netted) as
numbers only (brand loyalty and usage tier coded in SQL), handed over as one text that numpy
parses (a Python object per value cost more than the query). The rest is numpy.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Sequence

import numpy as np
import pandas as pd
from sqlalchemy import Connection, text

from ..models.offers import BRAND_LOYALTIES, USAGE_TIERS
from .scan_window import read_numbers

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
# Per list (a tenth of the rows): what the lines share. Per line: numbers only, handed over as text.
_LISTS = text("""
    SELECT l.id, l.member_key, l.store_id, l.lifecycle_stage, l.period_start, l.period_end,
           CASE WHEN m.mail_opt_in THEN 1 ELSE 0 END, CASE WHEN m.app_opt_in THEN 1 ELSE 0 END
    FROM shopping_lists l JOIN members m ON m.id = l.member_key
    WHERE l.period_start BETWEEN :a AND :b AND l.status <> 'replaced'
""")
_LINE_COLUMNS = ("ln.list_id", "ln.offer_id", _case("ln.brand_loyalty", BRAND_LOYALTIES), _case("ln.usage_tier", USAGE_TIERS),
                 "ln.face_value_cents", "COALESCE(r.apps, 0)", "COALESCE(r.d, 0)", "COALESCE(r.f, 0)",
                 "COALESCE(r.h, 0)", "ln.probability")
_LINES_BODY = f"""
    FROM shopping_list_lines ln
    JOIN shopping_lists l ON l.id = ln.list_id
    LEFT JOIN ({_LINE_LEDGER}) r ON r.list_line_id = ln.id
    WHERE l.period_start BETWEEN :a AND :b AND l.status <> 'replaced'
"""
_LINE_BOUNDS = "SELECT MIN(id), MAX(id) FROM shopping_list_lines"
_INTEGERS = ("list_id", "offer", "loyalty", "tier", "face", "apps", "discount", "funded", "fee", "member", "mail", "app")


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
    lists = conn.execute(_LISTS, {"a": a, "b": b}).all()
    numbers = read_numbers(conn, _LINE_COLUMNS, _LINES_BODY, {"a": a, "b": b}, "ln.id", _LINE_BOUNDS)
    if not lists or not numbers.shape[0]:
        empty = np.empty(0, np.int64)
        return PeriodLines(np.empty(0, object), np.empty(0, object), empty, empty, np.empty(0, np.float64), empty,
                           {k: empty for k in _INTEGERS})
    list_id, member, store, stage, start, end, mail, app = zip(*lists)
    ids = np.array(list_id, dtype=np.int64)
    order = np.argsort(ids)
    sorted_ids = ids[order]
    line_list = numbers[:, 0].astype(np.int64)
    pos = np.minimum(np.searchsorted(sorted_ids, line_list), len(ids) - 1)
    # The lists and the lines are separate statements (each its own snapshot on PostgreSQL): a
    # build that commits between them adds lines of lists not read, which are left out.
    known = sorted_ids[pos] == line_list
    numbers, at = numbers[known], order[pos[known]]
    ints = {name: numbers[:, i].astype(np.int64) for i, name in enumerate(_INTEGERS[:9])}
    ints.update(member=np.array(member, dtype=np.int64)[at], mail=np.array(mail, dtype=np.int64)[at],
                app=np.array(app, dtype=np.int64)[at])
    loyalty, tier = ints["loyalty"], ints["tier"]
    cell = np.where((loyalty >= 0) & (tier >= 0), loyalty * len(USAGE_TIERS) + tier, UNSEGMENTED)
    return PeriodLines(
        store=_text(store)[at], stage=_text(stage)[at], start=ordinal_days(start)[at], end=ordinal_days(end)[at],
        probability=np.nan_to_num(numbers[:, 9]), cell=cell.astype(np.int64), ints=ints)


def _text(values: Sequence[Any]) -> np.ndarray:
    return pd.Series(values, dtype=object).fillna("").astype(str).to_numpy(dtype=object)


def ordinal_days(values: Sequence[Any]) -> np.ndarray:
    """Ordinal days of DATE values (dates, or ISO text on SQLite), each distinct value parsed once."""
    codes, distinct = pd.factorize(pd.Series(values, dtype=object), sort=False)
    parsed = [(d if isinstance(d, date) else date.fromisoformat(str(d))).toordinal() for d in distinct.tolist()]
    return np.array(parsed, dtype=np.int64)[codes]


__all__ = ["PeriodLines", "ordinal_days", "read_period_lines"]
