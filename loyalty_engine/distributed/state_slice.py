"""A fitted model state restricted to some members: what one member shard needs to score.

Everything per member (pair arrays, segments, metrics, expected trips) is cut to the shard's
members and renumbered 0..k-1 in the given (ascending) order; everything chain-wide (catalog,
choice shares, new-need rates, the re-rankers, calibration) is kept whole. Scoring a member
on the slice gives the same numbers as on the whole state, so a worker holds its shard only.
"""
from __future__ import annotations

from dataclasses import fields, replace

import numpy as np

from ..model.lifecycle import MemberMetrics
from ..model.segments import SegmentTable
from ..model.state import NEED_ARRAYS, SKU_ARRAYS, ModelState


def _rows_and_members(pair_member: np.ndarray, local: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of a pair table whose member is in the slice, and their new member positions."""
    new = local[pair_member]
    rows = np.flatnonzero(new >= 0)
    return rows, new[rows].astype(pair_member.dtype)


def state_for_members(state: ModelState, positions: np.ndarray) -> ModelState:
    """The state of the members at ``positions`` (ascending member positions of ``state``)."""
    positions = np.asarray(positions, dtype=np.int64)
    local = np.full(state.n_members, -1, dtype=np.int64)
    local[positions] = np.arange(positions.shape[0])

    sku_rows, sku_member = _rows_and_members(state.sku_member, local)
    need_rows, need_member = _rows_and_members(state.need_member, local)
    seg_rows, seg_member = _rows_and_members(state.segments.member, local)
    segments = SegmentTable(**{
        f.name: (getattr(state.segments, f.name)[seg_rows] if f.name not in ("member", "n_categories") else
                 seg_member if f.name == "member" else state.segments.n_categories)
        for f in fields(SegmentTable)
    })
    metrics = MemberMetrics(**{
        f.name: getattr(state.metrics, f.name) if f.name == "bgnbd" else getattr(state.metrics, f.name)[positions]
        for f in fields(MemberMetrics)
    })
    sku = {name: getattr(state, name)[sku_rows] for name in SKU_ARRAYS}
    need = {name: getattr(state, name)[need_rows] for name in NEED_ARRAYS}
    return replace(
        state, member_key=state.member_key[positions], member_id=state.member_id[positions],
        sku_member=sku_member, need_member=need_member,
        member_expected_trips=state.member_expected_trips[positions],
        segments=segments, metrics=metrics, shopper_trips=state.prior_trips(), **sku, **need,
    )
