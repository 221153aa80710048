"""The model fit on member shards (in-process on 2 and 4 shards, and on a real 2-worker Dask
LocalCluster of processes reading their shards from the database) gives the same state, array
for array and bit for bit, as the one-process fit; so the predictions and the lists exported
from it are the same bytes."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_scale_sharded_lists import AS_OF, _build, chain, chain_dir, dask_client  # noqa: F401 (fixtures)

from loyalty_engine.distributed.cluster import ClusterSettings
from loyalty_engine.distributed.fit import fit_chain, fit_history
from loyalty_engine.model.exact import fixed_bincount, fixed_total, to_fixed
from loyalty_engine.model.fit import Window, fit_model, training_members
from loyalty_engine.model.history import load_history
from loyalty_engine.model.params import ModelParams
from loyalty_engine.model.parts import PartitionedState
from loyalty_engine.model.partitioned import InMemorySource, LocalRunner, fit_partitioned, member_ranges
from loyalty_engine.model.state import ModelState
from loyalty_engine.shopping_lists.model_source import state_path


def _arrays(state: ModelState, folder: Path, name: str) -> dict[str, np.ndarray]:
    """Everything the saved state holds (the npz the nightly job writes)."""
    path = state.save(folder / f"{name}.npz")
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def _assert_same(expected: dict[str, np.ndarray], got: dict[str, np.ndarray], label: str) -> None:
    assert expected.keys() == got.keys(), label
    differ = [k for k in expected if not np.array_equal(expected[k], got[k], equal_nan=expected[k].dtype.kind == "f")]
    assert not differ, f"{label}: {differ}"


def test_sharded_fit_gives_the_one_process_state_predictions_and_lists(  # type: ignore[no-untyped-def]
    chain, engine, config, dask_client, tmp_path,
) -> None:
    # Few training rows, so the re-rankers learn from a sample of members (drawn on the
    # client, read by their keys) rather than from everyone.
    params = ModelParams(horizon_days=14, max_training_rows=3_000)
    history = load_history(engine, AS_OF)
    window = Window.of(AS_OF, params)
    sample = training_members(len(history.members), len(window.cut(history)), params, np.random.default_rng(1))
    assert 0 < sample.sum() < len(history.members)

    one = fit_chain(engine, AS_OF, params, ClusterSettings(workers=1))
    assert one.sku_member.shape[0] > 1000 and (one.segments.usage_tier >= 0).any()
    expected = _arrays(one, tmp_path, "one")
    for shards in (2, 4):
        state = fit_chain(engine, AS_OF, params, ClusterSettings(workers=1, shards=shards))
        _assert_same(expected, _arrays(state, tmp_path, "sharded"), f"{shards} shards in process")

    # The commands, in one process and on the cluster (4 shards: 2 per worker, each worker
    # reading its shards from the database): predict writes the same file; the nightly job
    # saves the same state, and the lists built from it export the same bytes.
    address = dask_client.scheduler.address
    outputs = []
    for options in (("--workers", "1"), ("--scheduler", address)):
        out = tmp_path / f"predict{len(outputs)}.csv"
        chain("predict", "--as-of", AS_OF.isoformat(), "--out", str(out), *options)
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1] and outputs[0].count(b"\n") > 1000

    # The nightly job saves the state in member parts: one in this process, one per shard
    # (each written by its worker) on the cluster. Put together, the parts are the same state,
    # and lists built from them (in one process, or on shards cut along the parts, each worker
    # loading its own part) are the same bytes.
    exports, saved, n_parts = [], [], []
    for options in (("--workers", "1"), ("--scheduler", address)):
        chain("jobs", "run", "refresh_model", "--as-of", AS_OF.isoformat(), *options)
        parts = PartitionedState(state_path(config, AS_OF))
        n_parts.append(parts.n_parts)
        saved.append(_arrays(parts.whole(), tmp_path, "saved"))
        for build_options in (("--workers", "1"), ("--scheduler", address)):
            counts, exported = _build(chain, engine, config, options=build_options)
            assert counts["lists"] > 30
            exports.append(exported)
    assert n_parts[0] == 1 and n_parts[1] > 1
    _assert_same(saved[0], saved[1], "nightly job on the cluster")
    assert len(set(exports)) == 1


def test_in_memory_shards_with_a_look_back_and_empty_shards(chain, engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A look-back window, more shards than usual (some members with no scans at all) and a
    history already in memory (the backtest's): still the one-process state."""
    history = load_history(engine, AS_OF)
    params = ModelParams(lookback_days=49, training_windows=2, max_training_rows=2_000)
    expected = _arrays(fit_model(history, AS_OF, params), tmp_path, "one")
    for shards in (3, 7):
        state = fit_partitioned(LocalRunner(), InMemorySource(history), AS_OF, params, shards)
        _assert_same(expected, _arrays(state, tmp_path, f"s{shards}"), f"{shards} shards")
    # The backtest's way: the history is in memory, the shards read theirs from the database.
    state = fit_history(history, AS_OF, params, ClusterSettings(workers=1, shards=2), engine=engine)
    _assert_same(expected, _arrays(state, tmp_path, "backtest"), "backtest shards")


def test_member_ranges_cover_the_chain_in_order() -> None:
    keys = np.array([3, 5, 8, 13, 21, 34, 55], dtype=np.int64)
    ranges = member_ranges(keys, 3)
    assert [(r.lo, r.hi) for r in ranges] == [(0, 2), (2, 5), (5, 7)]
    assert [(r.lo_key, r.hi_key) for r in ranges] == [(3, 5), (8, 21), (34, 55)]
    assert [(r.lo, r.hi) for r in member_ranges(keys, 20)] == [(i, i + 1) for i in range(7)]
    assert member_ranges(np.empty(0, np.int64), 4)[0].hi == 0


def test_fixed_point_sums_are_exact_in_any_order() -> None:
    rng = np.random.default_rng(7)
    values = rng.gamma(2.0, 40.0, size=200_000)
    index = rng.integers(0, 50, size=values.shape[0])
    fixed = to_fixed(values)
    whole = fixed_bincount(index, fixed, 50)
    order = rng.permutation(values.shape[0])
    halves = [order[:70_000], order[70_000:]]
    parts = sum(fixed_bincount(index[h], fixed[h], 50) for h in halves)
    assert (whole == parts).all()
    assert int(whole.sum()) == sum(int(v) for v in fixed)
    assert fixed_total(fixed) == sum(int(v) for v in fixed)
    # A float sum of the same terms in another order is not guaranteed equal: that is why.
    assert abs(whole.sum() / 2**24 - values.sum()) < 1e-3


@pytest.mark.parametrize("n_shards", [1, 2])
def test_empty_chain_fits_nothing(n_shards: int, engine) -> None:  # type: ignore[no-untyped-def]
    from loyalty_engine.distributed.fit import NoScans

    with pytest.raises(NoScans):
        fit_chain(engine, AS_OF, ModelParams(), ClusterSettings(workers=1, shards=n_shards))
