"""The nightly model fit and list build partitioned by member on Dask (``dask.distributed``).

``cluster.open_client`` decides where work runs (in-process, a LocalCluster of processes, or
a running scheduler); ``shards`` splits members by a hash of the member key;
``selection.select_sharded`` runs the per-member part of list selection on every shard and the
chain-wide budget cut as an explicit reduce step on the client; ``fit.fit_chain`` runs the
model fit's map/reduce (:mod:`loyalty_engine.model.partitioned`) with the same settings.
"""
