"""What the list builder needs from the purchase-cycle model, as aligned arrays.

:class:`ModelView` is the boundary between the model (issue 3) and the list builder: member
signals (segments per category, lifecycle stage, value tier) and a scorer that returns, for
product scopes, the probability that each member buys any product of the scope in the
period. :func:`model_view_from_state` adapts the model package's ``ModelState``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import scipy.sparse as sp

from ..models.offers import BRAND_LOYALTIES, LIFECYCLE_STAGES, USAGE_TIERS

# scopes (product-key arrays), horizon days, member positions -> csr (members x scopes)
Scorer = Callable[[Sequence[np.ndarray], int, np.ndarray], sp.csr_matrix]


@dataclass
class ModelView:
    member_key: np.ndarray  # int64, ascending: the members the model knows
    categories: list[str]  # segment categories, columns of the two arrays below
    brand_loyalty: np.ndarray  # int8 (n_members, n_categories): index into BRAND_LOYALTIES, -1 none
    usage_tier: np.ndarray  # int8 (n_members, n_categories): index into USAGE_TIERS, -1 none
    lifecycle_stage: np.ndarray  # int8: index into LIFECYCLE_STAGES
    value_tier: np.ndarray  # int8: 0 = lowest
    n_value_tiers: int
    weekly_spend_cents: np.ndarray  # int64: average weekly spend over the eligibility window
    prior_weekly_spend_cents: np.ndarray  # int64: average weekly spend over the window before it
    scorer: Scorer
    as_of: object = None  # the model's cut-off date (for audit)
    source: str = ""  # what built it (model file, fitted now, ...)
    # The same view restricted to the members at some (ascending) positions, renumbered from 0:
    # member shards score from it without holding the whole chain. None: not sliceable.
    for_members: Callable[[np.ndarray], "ModelView"] | None = None
    # Member position bounds of the model's parts (a state saved in parts): member shards cut
    # along them load one part each. None: the model is whole in memory.
    part_bounds: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = self.member_key.shape[0]
        for name in ("lifecycle_stage", "value_tier", "weekly_spend_cents", "prior_weekly_spend_cents"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"{name} must have one value per member")
        for name in ("brand_loyalty", "usage_tier"):
            if getattr(self, name).shape != (n, len(self.categories)):
                raise ValueError(f"{name} must be members x categories")

    def positions(self, member_keys: np.ndarray) -> np.ndarray:
        """Positions of member keys in this view; -1 for members the model does not know."""
        keys = np.asarray(member_keys, dtype=np.int64)
        if self.member_key.shape[0] == 0:
            return np.full(keys.shape, -1, dtype=np.int64)
        pos = np.searchsorted(self.member_key, keys)
        clipped = np.minimum(pos, self.member_key.shape[0] - 1)
        return np.where(self.member_key[clipped] == keys, clipped, -1)

    def category_index(self) -> dict[str, int]:
        return {name.lower(): i for i, name in enumerate(self.categories)}

    def score(self, scopes: Sequence[np.ndarray], horizon_days: int, member_positions: np.ndarray) -> sp.csr_matrix:
        matrix = self.scorer(scopes, horizon_days, member_positions)
        matrix = sp.csr_matrix(matrix)
        if matrix.shape != (member_positions.shape[0], len(scopes)):
            raise ValueError(f"model scored {matrix.shape}, expected {(member_positions.shape[0], len(scopes))}")
        return matrix


def code_labels(labels: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Map label strings (or already-coded ints) to int8 codes; unknown/empty -> -1."""
    labels = np.asarray(labels)
    if labels.dtype.kind in "iu":
        return labels.astype(np.int8)
    lookup = {n: i for i, n in enumerate(names)}
    flat = np.array([lookup.get(str(v).lower(), -1) for v in labels.ravel()], dtype=np.int8)
    return flat.reshape(labels.shape)


__all__ = ["BRAND_LOYALTIES", "LIFECYCLE_STAGES", "ModelView", "Scorer", "USAGE_TIERS", "code_labels"]
