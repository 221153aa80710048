"""The list build's selection step routed to member shards (in-process or on Dask)."""
from __future__ import annotations

from typing import Callable

from ..shopping_lists.build import _Members, select_for
from ..shopping_lists.model_view import ModelView
from ..shopping_lists.offer_inputs import PreparedOffers
from ..shopping_lists.selection import Selection
from ..shopping_lists.settings import ListSettings
from .cluster import ClusterSettings, open_client, worker_count
from .selection import InProcess, select_sharded


def sharded_select(cluster: ClusterSettings) -> Callable[..., Selection]:
    """A ``select`` for :func:`loyalty_engine.shopping_lists.build.build_lists`: in this process
    for small chains (or one worker), else on the configured Dask cluster, one shard task per
    member shard. The lists are identical either way."""

    def select(view: ModelView, prepared: PreparedOffers, members: _Members, settings: ListSettings,
               seed: int) -> Selection:
        if cluster.in_process(int(members.member_key.shape[0])):
            if (cluster.shards or 1) <= 1:
                return select_for(view, prepared, members, settings, seed)
            return select_sharded(InProcess(), view, prepared, members, settings, seed, cluster.shards or 1)
        with open_client(cluster) as client:
            shards = cluster.shard_count(worker_count(client), int(members.member_key.shape[0]))
            return select_sharded(client, view, prepared, members, settings, seed, shards)

    return select
