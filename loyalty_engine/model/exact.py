"""Order-independent sums for chain-wide statistics.

A float sum depends on the order of its terms, so partial sums from member shards added on
the client differ in the last bits from the one-process sum. The model's chain-wide sums of
real values (log gaps, decayed purchase weights, spend per trip) are therefore taken over
each term rounded to a fixed point (``bits`` binary places) as exact integers: any split of
the members into shards adds up to the same integers, hence the same model, bit for bit.
The rounding (2**-24 of a log-day, of a decayed purchase day) is far below anything the
model can resolve.
"""
from __future__ import annotations

import numpy as np

FIXED_BITS = 24
_SPLIT = 26  # low part below 2**26: float64 bincounts of either part stay exact below 2**53


def to_fixed(values: np.ndarray, bits: int = FIXED_BITS) -> np.ndarray:
    """Each value rounded to a multiple of ``2**-bits``, as int64 multiples."""
    return np.rint(np.asarray(values, dtype=np.float64) * float(1 << bits)).astype(np.int64)


def fixed_bincount(index: np.ndarray, fixed: np.ndarray, n: int) -> np.ndarray:
    """Exact int64 sums of ``fixed`` per ``index`` (like ``np.bincount``).

    ``np.bincount`` sums in float64; splitting each integer into a high and a low part keeps
    both partial sums below 2**53 (exact) for up to 2**27 terms per bin.
    """
    fixed = np.asarray(fixed, dtype=np.int64)
    low = fixed & ((1 << _SPLIT) - 1)
    high = fixed >> _SPLIT
    low_sum = np.rint(np.bincount(index, weights=low, minlength=n)).astype(np.int64)
    high_sum = np.rint(np.bincount(index, weights=high, minlength=n)).astype(np.int64)
    return (high_sum << _SPLIT) + low_sum


def fixed_total(fixed: np.ndarray) -> int:
    """Exact sum of int64 fixed-point values, as a Python int (no overflow)."""
    fixed = np.asarray(fixed, dtype=np.int64)
    if fixed.shape[0] == 0:
        return 0
    sums = fixed_bincount(np.zeros(fixed.shape[0], dtype=np.int64), fixed, 1)
    return int(sums[0])


def from_fixed(fixed: np.ndarray | int, bits: int = FIXED_BITS) -> np.ndarray | float:
    """Fixed-point sums back to float64."""
    if isinstance(fixed, int):
        return fixed / float(1 << bits)
    return np.asarray(fixed, dtype=np.float64) / float(1 << bits)
