"""The 3 x 3 grid per category, stored per nightly run so pages never read scan lines.

``segment_cell_columns`` sums the model state's segment table (one row per member and
category) into one row per (category, brand loyalty, usage tier) in one vectorized pass;
``store_segment_cells`` writes it for the state's ``as_of`` and keeps the runs of the last
``KEEP_DAYS``, so the segments page can show how the grid moved since the previous list
period (the newest run at least a period older than the latest).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ..model.segments import BRAND_LOYALTY, UNSEGMENTED, USAGE_TIERS, SegmentTable
from ..models.analytics import SegmentCell
from ..shopping_lists.bulk import bulk_insert_columns

KEEP_DAYS = 98  # seven two-week list periods of nightly runs
CELL_NAMES = [f"{lo}:{ti}" for lo in BRAND_LOYALTY for ti in USAGE_TIERS] + [UNSEGMENTED]


def cell_codes(segments: SegmentTable) -> np.ndarray:
    """0..8 = loyalty * 3 + tier, 9 = unsegmented (both codes are -1 together)."""
    return np.where(segments.brand_loyalty >= 0,
                    segments.brand_loyalty.astype(np.int16) * 3 + segments.usage_tier, 9).astype(np.int8)


def segment_cell_columns(segments: SegmentTable, category_names: np.ndarray, as_of: date) -> dict[str, list[Any]]:
    """Column lists of ``segment_cells`` rows for one run: members, spend, units, mean interval."""
    key = segments.category.astype(np.int64) * 10 + cell_codes(segments)
    keys, row = np.unique(key, return_inverse=True)
    n = keys.shape[0]
    members = np.bincount(row, minlength=n)
    spend = np.bincount(row, weights=segments.spend_cents.astype(np.float64), minlength=n)
    units = np.bincount(row, weights=segments.units.astype(np.float64), minlength=n)
    interval = segments.interval_days.astype(np.float64)
    has = np.isfinite(interval)
    interval_sum = np.bincount(row[has], weights=interval[has], minlength=n)
    interval_n = np.bincount(row[has], minlength=n)
    cells = keys % 10
    loyalty = np.array([*BRAND_LOYALTY, UNSEGMENTED], dtype=object)[np.where(cells == 9, 3, cells // 3)]
    tier = np.array([*USAGE_TIERS, UNSEGMENTED], dtype=object)[np.where(cells == 9, 3, cells % 3)]
    mean_interval = np.where(interval_n > 0, interval_sum / np.maximum(interval_n, 1), np.nan)
    return {
        "as_of": [as_of] * n,
        "category": category_names[keys // 10].astype(str).tolist(),
        "brand_loyalty": loyalty.tolist(),
        "usage_tier": tier.tolist(),
        "members": members.astype(np.int64).tolist(),
        # sums of integer cents stay exact in float64 far beyond any chain's spend
        "spend_cents": np.rint(spend).astype(np.int64).tolist(),
        "units": np.rint(units).astype(np.int64).tolist(),
        "interval_days": [None if not np.isfinite(v) else round(float(v), 2) for v in mean_interval],
    }


def store_segment_cells(session: Session, segments: SegmentTable, category_names: np.ndarray, as_of: date,
                        keep_days: int = KEEP_DAYS) -> int:
    """Replace the run of ``as_of`` and drop runs older than ``keep_days`` before it; rows written."""
    columns = segment_cell_columns(segments, category_names, as_of)
    session.execute(delete(SegmentCell).where(
        (SegmentCell.as_of == as_of) | (SegmentCell.as_of < as_of - timedelta(days=keep_days))))
    return int(bulk_insert_columns(session, SegmentCell.__table__, columns) if columns["as_of"] else 0)  # type: ignore[arg-type]


@dataclass
class GridCell:
    name: str  # "national:high" or "unsegmented"
    members: int = 0
    spend_cents: int = 0
    interval_days: float | None = None
    previous_members: int | None = None  # None when there is no previous run

    @property
    def spend_per_member_cents(self) -> int:
        return self.spend_cents // self.members if self.members else 0

    @property
    def movement(self) -> int | None:
        return None if self.previous_members is None else self.members - self.previous_members


@dataclass
class SegmentGrid:
    category: str
    as_of: date | None
    previous_as_of: date | None
    cells: dict[str, GridCell] = field(default_factory=dict)

    @property
    def segmented_members(self) -> int:
        return sum(c.members for n, c in self.cells.items() if n != UNSEGMENTED)

    def cell(self, loyalty: str, tier: str) -> GridCell:
        return self.cells[f"{loyalty}:{tier}"]


def latest_run(session: Session) -> date | None:
    return session.execute(select(func.max(SegmentCell.as_of))).scalar_one_or_none()


def comparison_run(session: Session, latest: date, compare_days: int) -> date | None:
    """The run to compare ``latest`` with: the newest at least ``compare_days`` older, else the
    oldest there is (each an index lookup on the primary key's leading ``as_of``)."""
    older = session.execute(select(func.max(SegmentCell.as_of)).where(
        SegmentCell.as_of <= latest - timedelta(days=compare_days))).scalar_one_or_none()
    return older or session.execute(select(func.min(SegmentCell.as_of)).where(
        SegmentCell.as_of < latest)).scalar_one_or_none()


def segment_categories(session: Session, as_of: date | None = None) -> list[tuple[str, int]]:
    """(category, segmented members) of the latest run (or ``as_of``), largest first."""
    as_of = as_of or latest_run(session)
    if as_of is None:
        return []
    rows = session.execute(
        select(SegmentCell.category, func.sum(SegmentCell.members))
        .where(SegmentCell.as_of == as_of, SegmentCell.brand_loyalty != UNSEGMENTED)
        .group_by(SegmentCell.category)
    ).all()
    return sorted(((str(c), int(n or 0)) for c, n in rows), key=lambda r: (-r[1], r[0]))


def segment_grid(session: Session, category: str, compare_days: int = 14) -> SegmentGrid:
    """The category's grid of the latest run, with the counts of a run a list period earlier beside it."""
    latest = latest_run(session)
    grid = SegmentGrid(category, latest, comparison_run(session, latest, compare_days) if latest else None,
                       {name: GridCell(name) for name in CELL_NAMES})
    if latest is None:
        return grid
    wanted = [d for d in (grid.as_of, grid.previous_as_of) if d is not None]
    rows = session.execute(
        select(SegmentCell).where(SegmentCell.category == category, SegmentCell.as_of.in_(wanted))
    ).scalars()
    if grid.previous_as_of is not None:
        for cell in grid.cells.values():
            cell.previous_members = 0  # a cell missing from that run had no members then
    for row in rows:
        name = UNSEGMENTED if row.brand_loyalty == UNSEGMENTED else f"{row.brand_loyalty}:{row.usage_tier}"
        cell = grid.cells[name]
        if row.as_of == grid.as_of:
            cell.members, cell.spend_cents, cell.interval_days = row.members, row.spend_cents, row.interval_days
        else:
            cell.previous_members = row.members
    return grid


def cell_member_counts(session: Session, category: str) -> dict[str, int]:
    """Members per cell of the category in the latest run (the wizard's targeting grid)."""
    return {name: cell.members for name, cell in segment_grid(session, category).cells.items()}
