"""The inputs of list selection as aligned numpy arrays, its parameters, and the hash its
replayable draws come from. See :mod:`.selection` for the rules."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

UNSEGMENTED_CELL = 9  # cells 0..8 are loyalty * 3 + tier
ALL_CELLS = (1 << 10) - 1
ALL_STAGES = (1 << 5) - 1
UNLIMITED = np.inf


@dataclass(frozen=True)
class OfferArrays:
    """The active offers of a period as aligned arrays (one position per offer)."""

    offer_id: np.ndarray  # int64
    segment_category: np.ndarray  # int32: column of MemberArrays' segment arrays, -1 = none
    cell_mask: np.ndarray  # int64 bit mask over cells 0..9
    stage_mask: np.ndarray  # int64 bit mask over lifecycle stages 0..4
    min_probability: np.ndarray  # float64
    face_by_tier: np.ndarray  # int64 (n_offers, 3): face value cents per redemption, low/medium/high
    funded_share_bp: np.ndarray  # int64, 0..10000
    handling_fee_cents: np.ndarray  # int64
    sale_value_cents: np.ndarray  # int64: typical price x minimum quantity
    remaining_budget_cents: np.ndarray  # float64, inf = no budget
    remaining_redemptions: np.ndarray  # float64, inf = no cap
    scope_group: np.ndarray  # int64: offers sharing a group exclude each other; -1 = stackable
    holdout_share: np.ndarray  # float64
    # offers of one exclusion group on opposite sides exclude each other; None = no exclusions
    exclusion_group: np.ndarray | None = None  # int64, -1 = none
    exclusion_side: np.ndarray | None = None  # int8: 0 national, 1 store, -1 none

    def __len__(self) -> int:
        return int(self.offer_id.shape[0])

    def exclusions(self) -> tuple[np.ndarray, np.ndarray]:
        """(group, side) per offer, -1 where there is none."""
        n = len(self)
        group = self.exclusion_group if self.exclusion_group is not None else np.full(n, -1, dtype=np.int64)
        side = self.exclusion_side if self.exclusion_side is not None else np.full(n, -1, dtype=np.int8)
        return np.asarray(group, dtype=np.int64), np.asarray(side, dtype=np.int64)


@dataclass(frozen=True)
class MemberArrays:
    """The eligible members of a build as aligned arrays (one position per member)."""

    member_key: np.ndarray  # int64
    brand_loyalty: np.ndarray  # int8 (n_members, n_segment_categories): 0 national, 1 store, 2 switcher, -1 none
    usage_tier: np.ndarray  # int8 (n_members, n_segment_categories): 0 low, 1 medium, 2 high, -1 none
    lifecycle_stage: np.ndarray  # int8: index into LIFECYCLE_STAGES
    face_cap_cents: np.ndarray  # int64
    # face value the list aims for (the value tier's target); None or 0 = no target
    face_target_cents: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.member_key.shape[0])

    def targets(self) -> np.ndarray:
        if self.face_target_cents is None:
            return np.zeros(len(self), dtype=np.int64)
        return np.minimum(np.asarray(self.face_target_cents, dtype=np.int64), self.face_cap_cents)


@dataclass(frozen=True)
class SelectionParams:
    max_lines: int = 15
    # weight of unsegmented, low, medium, high usage in the expected value
    tier_weights: tuple[float, float, float, float] = (1.0, 1.0, 1.5, 2.5)
    # share of purchases of a listed offer that are redeemed (the list/card is scanned)
    redemption_rate: float = 1.0
    budget_rounds: int = 6
    holdout_seed: int = 0
    # pruning: per member only the best candidate_depth candidates, and per scope group the
    # best group_alternates of them (runners-up for members who lose a line to the budget)
    candidate_depth: int = 60
    group_alternates: int = 2
    chunk_members: int = 20_000
    # floor of the stretch candidates of members below their face-value target; None = none
    target_min_probability: float | None = None
    # a list below its target may grow past max_lines up to this many lines; None = max_lines
    target_max_lines: int | None = None
    # rounds in which a list below its target replaces a line lost to an offer hold-out
    holdout_refill_rounds: int = 3

    @property
    def line_limit(self) -> int:
        return max(self.max_lines, self.target_max_lines or 0)


# Why a list with a face-value target stayed below it (index = code in Selection.shortfall).
SHORTFALL_REASONS = ("not enough eligible offers", "exclusions", "budget", "line limit", "face cap",
                     "offer hold-out")


def uniform_hash(seed: int, *keys: np.ndarray) -> np.ndarray:
    """Deterministic uniform [0, 1) numbers from integer keys (splitmix64), for replayable draws."""
    with np.errstate(over="ignore"):
        x = np.full(np.broadcast(*keys).shape if keys else (), np.uint64(seed & (2**64 - 1)), dtype=np.uint64)
        for key in keys:
            x = _splitmix(x ^ np.asarray(key).astype(np.uint64))
        return (x >> np.uint64(11)).astype(np.float64) / float(2**53)


def _splitmix(x: np.ndarray) -> np.ndarray:
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))
