"""The nightly model fit on member shards: where it runs (this process, a LocalCluster, a
running scheduler), with the same cluster settings as the list build.

The map/reduce itself is :func:`loyalty_engine.model.partitioned.fit_partitioned`; here the
shard tasks get a :class:`~loyalty_engine.model.partitioned.DatabaseSource` (each task reads its
own member key range of ``scan_lines``) or, for a history already in memory (backtests), an
:class:`~loyalty_engine.model.partitioned.InMemorySource`. The state is the same either way.
"""
from __future__ import annotations

import logging
import time
from datetime import date
from pathlib import Path

from sqlalchemy import Engine

from ..model.fit import fit_model
from ..model.history import ScanHistory, day_to_date, load_history
from ..model.params import ModelParams
from ..model.partitioned import (
    DatabaseSource, HistorySource, InMemorySource, LocalRunner, NoScans, fit_partitioned, fit_to_parts,
)
from ..model.parts import write_parts
from ..model.state import ModelState
from .cluster import ClusterSettings, open_client, worker_count

log = logging.getLogger(__name__)


def engine_url(engine: Engine) -> str:
    """The URL a worker process opens (password and options such as a search path kept)."""
    return engine.url.render_as_string(hide_password=False)


def _run(source: HistorySource, n_members: int, as_of: date | int, params: ModelParams,
         cluster: ClusterSettings, stats: dict[str, int] | None = None) -> ModelState:
    if cluster.in_process(n_members):
        return fit_partitioned(LocalRunner(), source, as_of, params, cluster.shards or 1, stats)
    with open_client(cluster) as client:
        shards = cluster.shard_count(worker_count(client), n_members)
        log.info("model fit on %s member shards, %s workers", shards, worker_count(client))
        return fit_partitioned(client, source, as_of, params, shards, stats)


def fit_chain(engine: Engine, as_of: date, params: ModelParams, cluster: ClusterSettings,
              stats: dict[str, int] | None = None) -> ModelState:
    """Fit on every member scan before ``as_of`` in the database.

    One process reading the history once when the chain is small (or one worker is asked and
    no shards are set); otherwise member shards that each read their own history. ``stats``
    (when given) receives the scan lines learned from and the shards used."""
    source = DatabaseSource(engine_url(engine), as_of, params.lookback_days)
    n_members = int(source.member_keys().shape[0])
    if cluster.in_process(n_members) and (cluster.shards or 1) <= 1:
        history = load_history(engine, as_of, params.lookback_days)
        if len(history) == 0:
            raise NoScans(f"no member scans before {as_of}")
        if stats is not None:
            stats.update(lines=len(history), shards=1)
        return fit_model(history, as_of, params)
    started = time.perf_counter()
    state = _run(source, n_members, as_of, params, cluster, stats)
    log.info("sharded model fit as of %s: %.1fs", as_of, time.perf_counter() - started)
    return state


def fit_chain_to_parts(engine: Engine, as_of: date, params: ModelParams, cluster: ClusterSettings,
                       folder: Path, stats: dict[str, int] | None = None) -> Path:
    """:func:`fit_chain`, the state saved as a folder of member parts
    (:mod:`loyalty_engine.model.parts`). On shards each worker saves its own part, so the
    whole state is never in one process; a chain fitted in one process is saved as one part."""
    source = DatabaseSource(engine_url(engine), as_of, params.lookback_days)
    n_members = int(source.member_keys().shape[0])
    if cluster.in_process(n_members) and (cluster.shards or 1) <= 1:
        return write_parts(fit_chain(engine, as_of, params, cluster, stats), folder)
    started = time.perf_counter()
    if cluster.in_process(n_members):
        fit_to_parts(LocalRunner(), source, as_of, params, cluster.shards or 1, folder, stats)
    else:
        with open_client(cluster) as client:
            shards = cluster.shard_count(worker_count(client), n_members)
            log.info("model fit on %s member shards, %s workers, saved in parts", shards, worker_count(client))
            fit_to_parts(client, source, as_of, params, shards, folder, stats)
    log.info("sharded model fit as of %s saved in parts: %.1fs", as_of, time.perf_counter() - started)
    return folder


def fit_history(history: ScanHistory, as_of: date | int, params: ModelParams, cluster: ClusterSettings,
                engine: Engine | None = None) -> ModelState:
    """Fit on a history already loaded (a backtest's, which runs past ``as_of``): in this process
    when the cluster settings say so, else on shards that read their ranges from ``engine``'s
    database when there is one (workers then never receive the whole history)."""
    n_members = len(history.members)
    if cluster.in_process(n_members) and (cluster.shards or 1) <= 1:
        return fit_model(history, as_of, params)
    day = as_of if isinstance(as_of, date) else day_to_date(int(as_of))
    source: HistorySource = (InMemorySource(history) if engine is None
                             else DatabaseSource(engine_url(engine), day, params.lookback_days))
    return _run(source, n_members, as_of, params, cluster)
