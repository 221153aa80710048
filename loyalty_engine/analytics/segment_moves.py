"""Members moving between cells of the 3 x 3 grid, run against run.

Each nightly run keeps a compact snapshot of every (member, category) cell in the instance
directory (``segments/segments-<as_of>.npz``: member keys, category codes, cell codes). The
run's moves are counted against the snapshot of the newest run at least a list period older
(else the oldest kept) in one vectorized pass, and stored per (category, from cell, to cell)
in ``segment_moves``; "none" stands for not buying in the category in that run's window.
Snapshots are kept a week beyond the comparison distance (a few MB each per 100k members);
the counted moves, ``KEEP_DAYS`` like the grids.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..model.segments import SegmentTable
from ..models.analytics import SegmentMove
from ..shopping_lists.bulk import bulk_insert_columns
from .segment_cells import CELL_NAMES, KEEP_DAYS, cell_codes

NONE = "none"
MOVE_CELLS = [*CELL_NAMES, NONE]  # code 10 = not in the category's buyers
SNAPSHOT = re.compile(r"^segments-(\d{4}-\d{2}-\d{2})\.npz$")


def save_snapshot(directory: Path, as_of: date, member_key: np.ndarray, segments: SegmentTable,
                  category_names: np.ndarray) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"segments-{as_of.isoformat()}.npz"
    np.savez_compressed(path, member_key=member_key[segments.member].astype(np.int64),
                        category=segments.category.astype(np.int32), cell=cell_codes(segments),
                        category_names=category_names.astype(str))
    return path


def snapshots(directory: Path) -> dict[date, Path]:
    if not directory.is_dir():
        return {}
    return {date.fromisoformat(m.group(1)): p for p in directory.iterdir() if (m := SNAPSHOT.match(p.name))}


def pick_comparison(runs: list[date], latest: date, compare_days: int) -> date | None:
    older = [d for d in runs if d <= latest - timedelta(days=compare_days)]
    if older:
        return max(older)
    earlier = [d for d in runs if d < latest]
    return min(earlier) if earlier else None


def _keys(arrays: dict[str, np.ndarray], names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(member, category) keys on a common category coding, and their cells."""
    code = {n: i for i, n in enumerate(names)}
    remap = np.array([code[str(n)] for n in arrays["category_names"]], dtype=np.int64)
    keys = arrays["member_key"].astype(np.int64) * len(names) + remap[arrays["category"]]
    return keys, arrays["cell"].astype(np.int64)


def count_moves(before: dict[str, np.ndarray], after: dict[str, np.ndarray]) -> dict[str, list]:  # type: ignore[type-arg]
    """Members per (category, from cell, to cell), those who stayed in their cell included."""
    names = sorted({str(n) for n in before["category_names"]} | {str(n) for n in after["category_names"]})
    k0, c0 = _keys(before, names)
    k1, c1 = _keys(after, names)
    keys = np.union1d(k0, k1)
    none = len(MOVE_CELLS) - 1
    frm = np.full(keys.shape[0], none, dtype=np.int64)
    to = np.full(keys.shape[0], none, dtype=np.int64)
    frm[np.searchsorted(keys, k0)] = c0
    to[np.searchsorted(keys, k1)] = c1
    n_cells = len(MOVE_CELLS)
    combined = (keys % len(names)) * n_cells * n_cells + frm * n_cells + to
    groups, counts = np.unique(combined, return_counts=True)
    category = groups // (n_cells * n_cells)
    return {
        "category": [names[i] for i in category.tolist()],
        "from_cell": [MOVE_CELLS[i] for i in ((groups // n_cells) % n_cells).tolist()],
        "to_cell": [MOVE_CELLS[i] for i in (groups % n_cells).tolist()],
        "members": counts.astype(np.int64).tolist(),
    }


def store_segment_moves(session: Session, directory: Path, as_of: date, member_key: np.ndarray,
                        segments: SegmentTable, category_names: np.ndarray, compare_days: int) -> int:
    """Snapshot this run, count its moves against an earlier run, prune old snapshots; rows written."""
    save_snapshot(directory, as_of, member_key, segments, category_names)
    kept = {}
    for day, path in snapshots(directory).items():
        if day < as_of - timedelta(days=compare_days + 7):
            path.unlink(missing_ok=True)
        else:
            kept[day] = path
    session.execute(delete(SegmentMove).where(
        (SegmentMove.as_of == as_of) | (SegmentMove.as_of < as_of - timedelta(days=KEEP_DAYS))))
    since = pick_comparison(list(kept), as_of, compare_days)
    if since is None:
        return 0
    with np.load(kept[since]) as old, np.load(kept[as_of]) as new:
        columns = count_moves(dict(old), dict(new))
    n = len(columns["members"])
    columns.update({"as_of": [as_of] * n, "since": [since] * n})
    return int(bulk_insert_columns(session, SegmentMove.__table__, columns))  # type: ignore[arg-type]


@dataclass
class Move:
    from_cell: str
    to_cell: str
    members: int


def category_moves(session: Session, category: str, as_of: date | None, limit: int = 12) -> tuple[date | None, list[Move]]:
    """The run's largest moves between different cells of a category, and the run compared with."""
    if as_of is None:
        return None, []
    rows = session.execute(
        select(SegmentMove.since, SegmentMove.from_cell, SegmentMove.to_cell, SegmentMove.members)
        .where(SegmentMove.as_of == as_of, SegmentMove.category == category,
               SegmentMove.from_cell != SegmentMove.to_cell)
        .order_by(SegmentMove.members.desc(), SegmentMove.from_cell, SegmentMove.to_cell).limit(limit)).all()
    since = rows[0][0] if rows else None
    return since, [Move(f, t, int(n)) for _, f, t, n in rows]
