"""Lists built on member shards (in-process and on a real 2-worker Dask LocalCluster of
processes) are byte-identical to the one-process build, budget cuts included; a worker lost
mid-build is recomputed and the build ends complete and identical."""
from __future__ import annotations

import functools
import json
import os
import sys
from datetime import date, timedelta
from pathlib import Path

import cloudpickle
import pytest
from sqlalchemy import delete, update

from loyalty_engine.db import session_scope
from loyalty_engine.distributed.selection import InProcess, select_sharded, shard_start
from loyalty_engine.models.lists import (
    ListBuild, ListHoldout, SerialCounter, ShoppingList, ShoppingListContent, ShoppingListLine,
)
from loyalty_engine.models.offers import Offer
from loyalty_engine.shopping_lists.build import build_lists
from loyalty_engine.shopping_lists.model_source import model_provider
from loyalty_engine.shopping_lists.serials import LIST_SERIAL, current_value
from loyalty_engine.shopping_lists.settings import ListSettings

START = date(2026, 1, 5)
WEEKS = 10
AS_OF = START + timedelta(weeks=WEEKS)

# Workers unpickle the fault-injecting task below by value (this module is not on their path).
cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def chain_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from click.testing import CliRunner

    from loyalty_engine.cli import main

    out = tmp_path_factory.mktemp("chain")
    result = CliRunner().invoke(main, ["generate", "--members", "160", "--weeks", str(WEEKS), "--seed", "5",
                                       "--start-date", START.isoformat(), str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def dask_client():  # type: ignore[no-untyped-def]
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            yield client


@pytest.fixture
def chain(cli, chain_dir: Path, engine):  # type: ignore[no-untyped-def]
    for kind in ("manufacturers", "stores", "products", "members", "scans"):
        cli("import", kind, str(chain_dir / f"{kind}.csv"))
    cli("offers", "seed-demo", "--start", AS_OF.isoformat(), "--weeks", "8")
    # Tight budgets, so the chain-wide budget cut and the refill rounds really run.
    with session_scope(engine) as session:
        session.execute(update(Offer).values(budget_cents=1500))
    return cli


def _build(cli, engine, config, select=None, options=()) -> tuple[dict, str]:  # type: ignore[no-untyped-def]
    """One build of the period (``lists build`` with ``options`` unless a ``select`` is given),
    its export, then the period's lists removed and the list serial counter put back, so the
    next build gets the same list numbers."""
    with session_scope(engine) as session:
        serial = current_value(session, LIST_SERIAL)
    if select is None:
        counts = json.loads(cli("lists", "build", "--period-start", AS_OF.isoformat(), "--json", *options).stdout)["counts"]
    else:
        with session_scope(engine) as session:
            counts = build_lists(session, AS_OF, model_provider(engine, config), ListSettings.from_config(config),
                                 select=select).counts
    exported = cli("lists", "export", "--period-start", AS_OF.isoformat(), "--format", "csv").stdout
    with session_scope(engine) as session:
        for table in (ShoppingListLine, ShoppingListContent, ListHoldout):
            session.execute(delete(table))
        session.execute(delete(ShoppingList))
        session.execute(delete(ListBuild))
        session.execute(update(SerialCounter).where(SerialCounter.name == LIST_SERIAL).values(value=serial))
    return counts, exported


def _sharded(runner, n_shards: int, start_task=None):  # type: ignore[no-untyped-def]
    def select(view, prepared, members, settings, seed):  # type: ignore[no-untyped-def]
        return select_sharded(runner, view, prepared, members, settings, seed, n_shards, start_task=start_task)
    return select


def test_lists_identical_on_1_2_and_4_shards_and_after_a_lost_worker(  # type: ignore[no-untyped-def]
    chain, engine, config, dask_client, tmp_path,
) -> None:
    counts, one_process = _build(chain, engine, config, options=("--workers", "1"))
    assert counts["lists"] > 30 and counts["budget_limited_offers"], counts
    assert counts["selection_rounds"] > 1
    # 2 shards here; 4 shards (2 per worker) on the cluster, reached as a running scheduler.
    address = dask_client.scheduler.address
    for label, select, options in (("2 shards in process", _sharded(InProcess(), 2), ()),
                                   ("4 shards on 2 workers", None, ("--scheduler", address))):
        sharded_counts, exported = _build(chain, engine, config, select, options)
        assert exported == one_process, label
        for key in ("lists", "lines", "budget_limited_offers", "selection_rounds", "candidates",
                    "expected_funded_cents", "offer_holdouts"):
            assert sharded_counts[key] == counts[key], key

    # A worker process dies during the first pass: Dask recomputes its shards on the other
    # worker (the shared inputs were scattered to both) and the build ends complete, identical.
    marker = tmp_path / "killed"
    killer = functools.partial(_kill_worker_once, str(marker))
    sharded_counts, exported = _build(chain, engine, config, _sharded(dask_client, 2, start_task=killer))
    assert marker.exists()
    assert exported == one_process
    assert sharded_counts["lists"] == counts["lists"]
    dask_client.wait_for_workers(2, timeout=60)


def _kill_worker_once(marker: str, *args):  # type: ignore[no-untyped-def]
    """The first shard task to run ends its worker process (as a crashed or killed machine)."""
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        return shard_start(*args)
    os.close(fd)
    os._exit(1)
