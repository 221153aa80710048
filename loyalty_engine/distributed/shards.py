"""Members split into shards by a hash of the member key (stable across runs and machines)."""
from __future__ import annotations

import numpy as np

# A fixed salt: shard membership must not change between a build and its re-run.
_SHARD_SALT = np.uint64(0x5EED_5CA1_E000_0013)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: consecutive member keys land on unrelated shards."""
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64) + _SHARD_SALT
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def shard_of(member_key: np.ndarray, n_shards: int) -> np.ndarray:
    """Shard number (0..n_shards-1) of each member key."""
    if n_shards < 1:
        raise ValueError(f"n_shards must be at least 1, got {n_shards}")
    return (_mix(np.asarray(member_key, dtype=np.int64)) % np.uint64(n_shards)).astype(np.int64)


def shard_positions(member_key: np.ndarray, n_shards: int) -> list[np.ndarray]:
    """For each shard, the ascending positions (into ``member_key``) of its members.

    Ascending positions keep each shard's members in the chain-wide order, so ties broken by
    member position break the same way on a shard as in one process.
    """
    shard = shard_of(member_key, n_shards)
    order = np.argsort(shard, kind="stable")
    bounds = np.searchsorted(shard[order], np.arange(n_shards + 1))
    return [order[bounds[i]:bounds[i + 1]] for i in range(n_shards)]
