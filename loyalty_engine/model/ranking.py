"""Per-member top-K selection and the ranking metrics (precision@K, recall@K, hit rate)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .events import in_sorted


def top_k(
    member: np.ndarray, score: np.ndarray, k: int, tiebreak: np.ndarray | None = None
) -> np.ndarray:
    """Indices of each member's ``k`` best-scored rows (ties broken by ``tiebreak``, higher first).

    One sort over all rows; the result is ordered by member, then rank.
    """
    if member.shape[0] == 0:
        return np.empty(0, dtype=np.int64)
    if tiebreak is None and member.max() < 2**31 and member.min() >= 0:
        order = np.argsort(_member_score_key(member, score))
    else:
        keys = [-score] if tiebreak is None else [-tiebreak, -score]
        order = np.lexsort((*keys, member))
    return order[rank_within_member(member[order]) < k]


def _member_score_key(member: np.ndarray, score: np.ndarray) -> np.ndarray:
    """One int64 per row ordering by member, then score descending: the member in the high
    32 bits and the float32 score's bits made order-preserving (and inverted) in the low 32.

    A single integer sort is several times faster than a two-key ``lexsort`` on millions of rows.
    """
    bits = np.ascontiguousarray(score, dtype=np.float32).view(np.uint32).astype(np.int64)
    # IEEE floats order like integers once negative values have all bits flipped and positive
    # values the sign bit set.
    ordered = np.where(bits & 0x80000000, bits ^ 0xFFFFFFFF, bits | 0x80000000)
    return (member.astype(np.int64) << 32) | (0xFFFFFFFF - ordered)


def rank_within_member(member_sorted: np.ndarray) -> np.ndarray:
    """0-based rank of each row inside its member's run (rows already sorted by member)."""
    if member_sorted.shape[0] == 0:
        return np.empty(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, member_sorted[1:] != member_sorted[:-1]])
    group_start = np.repeat(starts, np.diff(np.r_[starts, member_sorted.shape[0]]))
    return np.arange(member_sorted.shape[0]) - group_start


@dataclass(frozen=True)
class RankingScore:
    members: int  # members evaluated
    precision: float  # mean over members of hits / K
    recall: float  # mean over members of hits / items bought in the window
    hit_rate: float  # share of members with at least one hit
    k: int

    def as_row(self) -> dict[str, float]:
        return {"members": self.members, f"precision@{self.k}": self.precision,
                f"recall@{self.k}": self.recall, "hit_rate": self.hit_rate}


def evaluate_top_k(
    top_member: np.ndarray,
    top_item: np.ndarray,
    actual_keys: np.ndarray,
    evaluated: np.ndarray,
    n_items: int,
    k: int,
) -> RankingScore:
    """Score recommended (member, item) rows against the sorted unique pair keys bought.

    ``evaluated`` is a boolean mask over member positions: the members that count (history
    before the date and at least one basket in the window).
    """
    n_members = evaluated.shape[0]
    hit = in_sorted(actual_keys, top_member.astype(np.int64) * n_items + top_item)
    hits = np.bincount(top_member[hit], minlength=n_members).astype(np.float64)
    bought = np.bincount((actual_keys // n_items).astype(np.int64), minlength=n_members).astype(np.float64)
    mask = evaluated & (bought > 0)
    count = int(mask.sum())
    if count == 0:
        return RankingScore(0, float("nan"), float("nan"), float("nan"), k)
    return RankingScore(
        members=count,
        precision=float((hits[mask] / k).mean()),
        recall=float((hits[mask] / bought[mask]).mean()),
        hit_rate=float((hits[mask] > 0).mean()),
        k=k,
    )
