"""Lists built on member shards (in-process and on a real 2-worker Dask LocalCluster of
processes) are byte-identical to the one-process build, budget cuts included; on PostgreSQL the
shards' lists and lines are written by the workers with COPY. A worker lost mid-build (during
the selection, or on PostgreSQL in the middle of its COPY) is recomputed and the build ends
complete and identical; a shard whose write fails leaves nothing of the period visible and a
re-run completes it."""
from __future__ import annotations

import functools
import json
import os
import sys
from datetime import date, timedelta
from pathlib import Path

import cloudpickle
import numpy as np
import pytest
from sqlalchemy import delete, func, select, text, update

from loyalty_engine.db import session_scope
from loyalty_engine.distributed import list_writer
from loyalty_engine.distributed.list_writer import STAGED_STATUS, ShardListWriter, write_shard
from loyalty_engine.distributed.selection import select_sharded, shard_start
from loyalty_engine.model.partitioned import LocalRunner
from loyalty_engine.models.lists import (
    ListBuild, ListHoldout, SerialCounter, ShoppingList, ShoppingListContent, ShoppingListLine,
)
from loyalty_engine.models.offers import Offer
from loyalty_engine.shopping_lists.build import build_lists, select_for
from loyalty_engine.shopping_lists.model_source import model_provider
from loyalty_engine.shopping_lists.serials import LIST_SERIAL, current_value
from loyalty_engine.shopping_lists import store_rows
from loyalty_engine.shopping_lists.selection import Selection
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

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
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


def _build(cli, engine, config, select=None, options=(), write=None):  # type: ignore[no-untyped-def]
    """One build of the period (``lists build`` with ``options`` unless a ``select`` is given;
    ``write`` replaces the client's writes), returning (counts, export); then the period's
    lists are removed and the list serial counter put back, so the next build gets the same
    list numbers."""
    with session_scope(engine) as session:
        serial = current_value(session, LIST_SERIAL)
    if select is None:
        counts = json.loads(cli("lists", "build", "--period-start", AS_OF.isoformat(), "--json", *options).stdout)["counts"]
    else:
        with session_scope(engine) as session:
            counts = build_lists(session, AS_OF, model_provider(engine, config), ListSettings.from_config(config),
                                 select=select, write=write).counts
    exported = cli("lists", "export", "--period-start", AS_OF.isoformat(), "--format", "csv").stdout
    counts["holdout_rows"] = _holdout_rows(engine)  # not exported: compared as rows
    with session_scope(engine) as session:
        for table in (ShoppingListLine, ShoppingListContent, ListHoldout):
            session.execute(delete(table))
        session.execute(delete(ShoppingList))
        session.execute(delete(ListBuild))
        session.execute(update(SerialCounter).where(SerialCounter.name == LIST_SERIAL).values(value=serial))
    return counts, exported


def _holdout_rows(engine) -> list[tuple]:  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        rows = session.execute(select(
            ListHoldout.member_key, ListHoldout.offer_id, ListHoldout.probability, ListHoldout.detail,
            ListHoldout.brand_loyalty, ListHoldout.usage_tier, ListHoldout.lifecycle_stage, ListHoldout.list_kind,
        )).all()
    return sorted((tuple(r) for r in rows), key=repr)


def _sharded(runner, n_shards: int, start_task=None):  # type: ignore[no-untyped-def]
    def select(view, prepared, members, settings, seed):  # type: ignore[no-untyped-def]
        return select_sharded(runner, view, prepared, members, settings, seed, n_shards, start_task=start_task)
    return select


def test_lists_identical_on_1_2_and_4_shards_and_after_a_lost_worker(  # type: ignore[no-untyped-def]
    chain, engine, config, dask_client, tmp_path, database_backend,
) -> None:
    counts, one_process = _build(chain, engine, config, options=("--workers", "1"))
    assert counts["lists"] > 30 and counts["budget_limited_offers"], counts
    assert counts["selection_rounds"] > 1
    # 2 shards here; 4 shards (2 per worker) on the cluster, reached as a running scheduler.
    address = dask_client.scheduler.address
    for label, select, options, write in (
        ("2 shards in process", _sharded(LocalRunner(), 2), (), ShardListWriter(LocalRunner(), 2)),
        ("4 shards on 2 workers", None, ("--scheduler", address), None),  # lists build: workers COPY on PG
    ):
        sharded_counts, exported = _build(chain, engine, config, select, options, write)
        if database_backend == "postgresql":
            assert "store_workers_s" in sharded_counts["timings"], label
        assert exported == one_process, label
        for key in ("lists", "lines", "budget_limited_offers", "selection_rounds", "candidates",
                    "expected_funded_cents", "offer_holdouts", "holdout_rows"):
            assert sharded_counts[key] == counts[key], key

    # A worker process dies during the first pass, and (PostgreSQL) another in the middle of
    # its COPY: Dask recomputes their tasks on the other worker (the shared inputs were
    # scattered to both, a shard's rows travel in its task, an unfinished COPY is rolled back
    # with its connection) and the build ends complete, identical.
    marker, write_marker = tmp_path / "killed", tmp_path / "killed_writing"
    killer = functools.partial(_kill_worker_once, str(marker))
    writer = ShardListWriter(dask_client, 2, task=functools.partial(_kill_writer_once, str(write_marker)))
    sharded_counts, exported = _build(chain, engine, config, _sharded(dask_client, 2, start_task=killer),
                                      write=writer)
    assert marker.exists()
    assert write_marker.exists() == (database_backend == "postgresql")
    assert exported == one_process
    assert sharded_counts["lists"] == counts["lists"]
    assert _leftovers(engine) == (0, 0)
    dask_client.wait_for_workers(2, timeout=60)


def test_a_shard_failing_mid_write_leaves_nothing_visible_and_a_rerun_completes(  # type: ignore[no-untyped-def]
    chain, engine, config, monkeypatch, database_backend,
) -> None:
    _, one_process = _build(chain, engine, config, options=("--workers", "1"))
    failing: dict[str, int] = {"writes": 0}

    def half_then_fail(write, columns: dict):  # type: ignore[no-untyped-def]
        """Writes the first half of a lines table's rows, then fails, the second time it is
        asked for lines (the second shard; on SQLite the client's one write of all lines)."""
        if "list_id" in columns and "line_no" in columns:
            failing["writes"] += 1
            if failing["writes"] >= (2 if database_backend == "postgresql" else 1):
                n = len(columns["list_id"])
                assert n > 1
                write({k: v[: n // 2] for k, v in columns.items()})
                raise RuntimeError("worker lost in the middle of its lines")
        return write(columns)

    if database_backend == "postgresql":
        real_copy = list_writer.copy_columns
        monkeypatch.setattr(list_writer, "copy_columns", lambda cursor, table, columns: half_then_fail(
            lambda c: real_copy(cursor, table, c), columns))
        # As if the client died too: nothing of the failed build is cleaned up before the re-run.
        monkeypatch.setattr(list_writer, "_discard_quietly", lambda engine, staging: None)
    else:
        real_insert = store_rows.bulk_insert_columns
        monkeypatch.setattr(store_rows, "bulk_insert_columns", lambda session, table, columns: half_then_fail(
            lambda c: real_insert(session, table, c), columns))
    with pytest.raises(RuntimeError, match="worker lost"):
        _build(chain, engine, config, _sharded(LocalRunner(), 2), write=ShardListWriter(LocalRunner(), 2))
    with session_scope(engine) as session:
        # No live build, no list anyone reads (every reader skips 'replaced'), no line of one.
        assert session.execute(select(func.count()).select_from(ListBuild)
                               .where(ListBuild.status.in_(("building", "complete")))).scalar_one() == 0
        assert session.execute(select(func.count()).select_from(ShoppingList)
                               .where(ShoppingList.status != STAGED_STATUS)).scalar_one() == 0
        assert session.execute(select(func.count()).select_from(ShoppingListLine).join(ShoppingList)
                               .where(ShoppingList.status != STAGED_STATUS)).scalar_one() == 0
        for model in (ShoppingListContent, ListHoldout):
            assert session.execute(select(func.count()).select_from(model)).scalar_one() == 0, model
    if database_backend == "postgresql":
        staged_lists, staging_builds = _leftovers(engine)
        assert staged_lists > 0 and staging_builds == 1  # the first shard's whole write, staged
    exported = chain("lists", "export", "--period-start", AS_OF.isoformat(), "--format", "csv").stdout
    assert exported.splitlines()[1:] == []  # the period's export: at most its header
    monkeypatch.undo()

    _, exported = _build(chain, engine, config, _sharded(LocalRunner(), 2), write=ShardListWriter(LocalRunner(), 2))
    assert exported == one_process
    assert _leftovers(engine) == (0, 0)


def test_sharded_selection_is_the_one_process_selection_field_for_field(  # type: ignore[no-untyped-def]
    chain, engine, config,
) -> None:
    """Every field of the selection (hold-outs' cells, shortfalls and counts included), on 1 to 3
    shards, budget cuts and refills included."""
    compared: list[int] = []

    def both(view, prepared, members, settings, seed):  # type: ignore[no-untyped-def]
        one = select_for(view, prepared, members, settings, seed)
        assert one.rounds > 1 and len(one.holdout_member) > 0
        for n_shards in (1, 2, 3):
            sharded = select_sharded(LocalRunner(), view, prepared, members, settings, seed, n_shards)
            for name in Selection.__dataclass_fields__:
                expected, got = getattr(one, name), getattr(sharded, name)
                if isinstance(expected, np.ndarray):
                    assert got.dtype == expected.dtype and np.array_equal(got, expected), (n_shards, name)
                else:
                    assert got == expected, (n_shards, name)
            compared.append(n_shards)
        return one

    _build(chain, engine, config, both)
    assert compared == [1, 2, 3]


def _leftovers(engine) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """(lists under a staging build, staging build rows)."""
    with engine.connect() as conn:
        builds = conn.execute(text("SELECT count(*) FROM list_builds WHERE status = 'failed'")).scalar_one()
        lists = conn.execute(text("SELECT count(*) FROM shopping_lists l JOIN list_builds b ON b.id = l.build_id "
                                  "WHERE b.status = 'failed'")).scalar_one()
    return int(lists), int(builds)


def _kill_writer_once(marker: str, url, staging, batch, offers, stamp):  # type: ignore[no-untyped-def]
    """The first shard write to run ends its worker process half way through its lines' COPY,
    its lists written and its transaction still open."""
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        return write_shard(url, staging, batch, offers, stamp)
    os.close(fd)
    lists = store_rows.list_columns(batch, stamp)
    lists.update(build_id=[staging] * batch.n_lists, status=[STAGED_STATUS] * batch.n_lists)
    lines = store_rows.line_columns(batch, offers, stamp)
    conn = list_writer._engine(url).connect()
    cursor = conn.connection.dbapi_connection.cursor()
    list_writer.copy_columns(cursor, "shopping_lists", lists)
    list_writer.copy_columns(cursor, "shopping_list_lines", {k: v[: len(v) // 2] for k, v in lines.items()})
    os._exit(1)


def _kill_worker_once(marker: str, *args):  # type: ignore[no-untyped-def]
    """The first shard task to run ends its worker process (as a crashed or killed machine)."""
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        return shard_start(*args)
    os.close(fd)
    os._exit(1)
