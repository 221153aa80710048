"""Sort-based grouping helpers for large integer key arrays.

``np.unique`` on tens of millions of int64 keys is far slower than a plain ``np.sort`` in
numpy 2.x (it goes through a hash table, then sorts anyway: ~8 s against ~0.1-0.5 s for 7M
keys on this machine), so the model groups with these instead.
"""
from __future__ import annotations

import numpy as np


def unique_sorted(keys: np.ndarray) -> np.ndarray:
    """Sorted unique values (``np.unique(keys)``, by sorting)."""
    if keys.shape[0] == 0:
        return keys.copy()
    ordered = np.sort(keys)
    first = np.empty(ordered.shape[0], dtype=bool)
    first[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    return ordered[first]


def unique_inverse(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique values and, per key, the index of its value (``np.unique(..., return_inverse=True)``)."""
    n = keys.shape[0]
    if n == 0:
        return keys.copy(), np.empty(0, dtype=np.int64)
    order = np.argsort(keys)
    ordered = keys[order]
    first = np.empty(n, dtype=bool)
    first[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    group = np.cumsum(first) - 1
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = group
    return ordered[first], inverse


def run_starts(sorted_values: np.ndarray) -> np.ndarray:
    """Start index of each run of equal values in a sorted (or grouped) array."""
    n = sorted_values.shape[0]
    if n == 0:
        return np.empty(0, dtype=np.int64)
    first = np.empty(n, dtype=bool)
    first[0] = True
    np.not_equal(sorted_values[1:], sorted_values[:-1], out=first[1:])
    return np.flatnonzero(first)


def rank_in_runs(sorted_values: np.ndarray) -> np.ndarray:
    """0-based position of each element inside its run of equal values."""
    n = sorted_values.shape[0]
    starts = run_starts(sorted_values)
    sizes = np.diff(np.r_[starts, n])
    return np.arange(n) - np.repeat(starts, sizes)


DENSE_KEY_SPACE = 1 << 27  # up to here a bincount over the key space beats sorting the keys


def group_index(keys: np.ndarray, key_space: int) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`unique_inverse` for non-negative keys below ``key_space``.

    When the key space is small enough (e.g. members x categories) the groups come from one
    bincount over it, linear time, instead of a sort of all keys.
    """
    if key_space > DENSE_KEY_SPACE or keys.shape[0] == 0:
        return unique_inverse(keys)
    present = np.bincount(keys, minlength=key_space) > 0
    lookup = np.cumsum(present, dtype=np.int64) - 1
    return np.flatnonzero(present), lookup[keys]
