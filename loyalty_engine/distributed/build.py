"""The list build on member shards (in-process or on Dask): the selection and, on PostgreSQL,
the workers' writes of the lists, sharing one cluster."""
from __future__ import annotations

from contextlib import ExitStack
from typing import Any

from sqlalchemy.orm import Session

from ..shopping_lists.build import _Members, select_for
from ..shopping_lists.model_view import ModelView
from ..shopping_lists.offer_inputs import PreparedOffers
from ..shopping_lists.selection import Selection
from ..shopping_lists.settings import ListSettings
from ..shopping_lists.store_rows import ListWrite, write_here
from .cluster import ClusterSettings, open_client, worker_count
from .list_writer import ShardListWriter
from ..model.partitioned import LocalRunner
from .selection import select_sharded


class ShardedBuild:
    """``select`` and ``write`` for :func:`loyalty_engine.shopping_lists.build.build_lists`.

    ``select`` runs in this process for small chains (or one worker), else on the configured
    Dask cluster, one shard task per member shard; the lists are identical either way. When it
    ran on shards, ``write`` has each shard's lists and lines written by a worker with ``COPY``
    on PostgreSQL (:mod:`.list_writer`); otherwise, and always on SQLite, the client writes.
    The cluster is opened on first use and closed when the ``with`` block ends."""

    def __init__(self, cluster: ClusterSettings) -> None:
        self.cluster = cluster
        self._stack = ExitStack()
        self._runner: Any = None
        self._shards = 1

    def __enter__(self) -> "ShardedBuild":
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def select(self, view: ModelView, prepared: PreparedOffers, members: _Members, settings: ListSettings,
               seed: int) -> Selection:
        n_members = int(members.member_key.shape[0])
        if self.cluster.in_process(n_members):
            if (self.cluster.shards or 1) <= 1:
                self._runner = None
                return select_for(view, prepared, members, settings, seed)
            self._runner, self._shards = LocalRunner(), self.cluster.shards or 1
        else:
            client = self._stack.enter_context(open_client(self.cluster))
            self._runner, self._shards = client, self.cluster.shard_count(worker_count(client), n_members)
        return select_sharded(self._runner, view, prepared, members, settings, seed, self._shards)

    def write(self, session: Session, job: ListWrite) -> dict[str, float]:
        if self._runner is None:
            return write_here(session, job)
        return ShardListWriter(self._runner, self._shards)(session, job)

