"""Where the sharded list build runs, from the settings and the command line."""
from __future__ import annotations

from loyalty_engine.config import Config
from loyalty_engine.distributed.cluster import SHARD_MEMBERS, ClusterSettings


def test_settings_from_config_and_options() -> None:
    none = ClusterSettings.from_config(Config())
    assert none == ClusterSettings()
    assert none.in_process(1_000) and not none.in_process(SHARD_MEMBERS * 10)
    env = ClusterSettings.from_config(Config(dask_scheduler="tcp://h:8786", workers=3, shard_members=1000))
    assert (env.scheduler, env.workers, env.shards, env.shard_members) == ("tcp://h:8786", 3, None, 1000)
    assert not env.in_process(10)  # a configured cluster is used whatever the size
    # Options win over the settings; one worker means this process.
    assert env.override(workers=1, scheduler=None).scheduler == "tcp://h:8786"
    assert ClusterSettings.from_config(Config(workers=4)).override(workers=1).in_process(10**7)
    assert not ClusterSettings(workers=2).in_process(10)


def test_shard_count_bounds_members_per_shard() -> None:
    settings = ClusterSettings(shard_members=50_000)
    assert settings.shard_count(2, 10_000) == 4  # two per worker
    assert settings.shard_count(2, 1_000_000) == 20  # at most 50,000 members each
    assert settings.shard_count(2, 1_000_001) == 21
    assert ClusterSettings(shards=3).shard_count(8, 10**7) == 3


def test_scheduler_commands_take_the_cluster_options(cli, config) -> None:  # type: ignore[no-untyped-def]
    from loyalty_engine.cli.scheduler import _with_cluster

    assert "weekly_lists" in cli("scheduler", "--show", "--workers", "2", "--scheduler", "tcp://h:8786").stdout
    cli("scheduler", "--show", "--workers", "0", expect=2)
    given = _with_cluster(config, 2, "tcp://h:8786")
    assert (given.workers, given.dask_scheduler) == (2, "tcp://h:8786")
    assert _with_cluster(given, None, None) == given  # the settings stand when no option is given
