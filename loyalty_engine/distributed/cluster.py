"""Where the sharded work runs: in this process, a LocalCluster of processes, or a cluster.

Settings (``Config``, all optional): ``LOYALTY_DASK_SCHEDULER`` (``tcp://host:8786``: a running
``dask scheduler`` with ``dask worker`` processes), ``LOYALTY_WORKERS`` (worker processes of
the embedded LocalCluster; default: one per core, and in-process for small chains),
``LOYALTY_SHARDS`` and ``LOYALTY_SHARD_MEMBERS``.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import Config

# Below this many members the cost of starting worker processes outweighs the sharding.
SMALL_CHAIN_MEMBERS = 50_000
# At most this many members per shard by default: a shard's memory stays the same as the chain grows.
SHARD_MEMBERS = 50_000


@dataclass(frozen=True)
class ClusterSettings:
    scheduler: str | None = None  # address of a running scheduler
    workers: int | None = None  # worker processes of the embedded LocalCluster
    shards: int | None = None  # member shards (default: see shard_count)
    shard_members: int = SHARD_MEMBERS

    @classmethod
    def from_config(cls, config: "Config") -> "ClusterSettings":
        return cls(scheduler=config.dask_scheduler or None, workers=config.workers or None,
                   shards=config.shards or None, shard_members=config.shard_members or SHARD_MEMBERS)

    def override(self, workers: int | None = None, scheduler: str | None = None) -> "ClusterSettings":
        """Command-line options win over the environment."""
        return replace(self, scheduler=scheduler or self.scheduler,
                       workers=workers if workers is not None else self.workers)

    def in_process(self, n_members: int) -> bool:
        """True when the work runs here without Dask: one worker asked, or a small chain
        with nothing configured."""
        if self.scheduler:
            return False
        if self.workers is not None:
            return self.workers <= 1
        return n_members < SMALL_CHAIN_MEMBERS

    def shard_count(self, n_workers: int, n_members: int) -> int:
        """``LOYALTY_SHARDS``, else 2 per worker (so a slow shard does not hold the build) or
        more when shards would exceed ``shard_members``. The lists do not depend on it."""
        return self.shards or max(1, 2 * n_workers, -(-n_members // max(1, self.shard_members)))


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


@contextmanager
def open_client(settings: ClusterSettings) -> Iterator["object"]:
    """A ``distributed.Client``: to the configured scheduler, or to a LocalCluster of worker
    processes (one thread each: numpy does its own threading) closed on exit."""
    from distributed import Client, LocalCluster

    if settings.scheduler:
        with Client(settings.scheduler) as client:
            yield client
        return
    workers = settings.workers or default_workers()
    # ":0": the scheduler's HTTP server (health, dashboard) on a free port. None still tries 8787,
    # which two builds on one machine (or a test run beside a build) cannot share.
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        with Client(cluster) as client:
            yield client


def worker_count(client: object) -> int:
    return max(1, len(client.scheduler_info()["workers"]))  # type: ignore[attr-defined]
