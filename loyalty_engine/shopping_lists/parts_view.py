"""The list builder's view of a state saved in member parts (:mod:`loyalty_engine.model.parts`).

The builder's client holds what is per member and small (segment codes per category, stage,
value tier, spend): read from the part files alone, a few bytes per member. Scoring reads
the pairs of a part only where the members are: :class:`PartsScorer` loads, per call, the
parts its members are in. A member shard of the list build is cut along the parts
(``ModelView.part_bounds``), so its worker loads one part, never the chain.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import scipy.sparse as sp

from ..model.parts import PartitionedState
from ..model.scoring import score_offer_scopes
from .model_view import ModelView

_VIEW_COLUMNS = ("member_key", "segment_member", "segment_category", "segment_brand_loyalty",
                 "metric_lifecycle_stage", "metric_avg_weekly_spend_cents")


class PartsScorer:
    """Probabilities of offer scopes for members of a partitioned state, part by part.

    ``positions`` (when given) are the chain positions of the members this scorer's callers
    number 0..k-1 (a shard's view). Each call loads the parts its members are in (on a worker,
    after the scorer travelled there) and lets them go when it returns: a scorer kept alive
    by the task that used it (Dask keeps a finished task's arguments) holds no part."""

    def __init__(self, folder: Path, bounds: np.ndarray, positions: np.ndarray | None = None) -> None:
        self.folder = Path(folder)
        self.bounds = np.asarray(bounds, dtype=np.int64)
        self.positions = positions

    def __call__(self, scopes: Sequence[np.ndarray], horizon_days: int, member_positions: np.ndarray) -> sp.csr_matrix:
        rows = np.asarray(member_positions, dtype=np.int64)
        chain = rows if self.positions is None else np.where(rows >= 0, self.positions[np.maximum(rows, 0)], -1)
        part = np.where(chain >= 0, np.searchsorted(self.bounds, chain, side="right") - 1, -1)
        pieces, taken = [], []
        for index in np.unique(part[part >= 0]):
            sel = np.flatnonzero(part == index)
            part_state = PartitionedState(self.folder).part(int(index))
            pieces.append(score_offer_scopes(part_state, scopes, horizon_days, chain[sel] - self.bounds[index]))
            del part_state
            taken.append(sel)
        missing = np.flatnonzero(part < 0)
        pieces.append(sp.csr_matrix((missing.shape[0], len(scopes)), dtype=np.float32))
        taken.append(missing)
        stacked = sp.vstack(pieces, format="csr")
        order = np.empty(rows.shape[0], dtype=np.int64)
        order[np.concatenate(taken)] = np.arange(rows.shape[0])
        return stacked[order]


def model_view_from_parts(parts: PartitionedState, weekly_spend_cents: np.ndarray | None = None,
                          prior_weekly_spend_cents: np.ndarray | None = None, source: str = "") -> ModelView:
    """The builder's view of a partitioned state (the same view :func:`model_view_from_state`
    gives of the whole state)."""
    from .model_source import member_view_arrays, n_value_tiers

    columns = parts.member_columns(_VIEW_COLUMNS)
    categories = [str(c) for c in parts.category_names]
    view_arrays = member_view_arrays(
        len(categories), columns["segment_member"], columns["segment_category"], columns["segment_brand_loyalty"],
        parts.usage_tier, columns["metric_lifecycle_stage"], parts.value_tier,
        columns["metric_avg_weekly_spend_cents"], weekly_spend_cents, prior_weekly_spend_cents)
    tiers = n_value_tiers(parts.value_tier)

    def for_members(positions: np.ndarray) -> ModelView:
        positions = np.asarray(positions, dtype=np.int64)
        return ModelView(
            member_key=columns["member_key"][positions], categories=categories,
            **{name: value[positions] for name, value in view_arrays.items()},
            n_value_tiers=tiers, scorer=PartsScorer(parts.folder, parts.bounds, positions),
            as_of=parts.as_of, source=source,
        )

    return ModelView(
        member_key=columns["member_key"].astype(np.int64), categories=categories, **view_arrays,
        n_value_tiers=tiers, scorer=PartsScorer(parts.folder, parts.bounds),
        as_of=parts.as_of, source=source, for_members=for_members, part_bounds=parts.bounds,
    )
