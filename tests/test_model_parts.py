"""A state saved in member parts is the one-process state, and the list builder's view of it
(member arrays read from the part files, scores computed part by part, shard views that load
one part) gives the same numbers as the view of the whole state."""
from __future__ import annotations

import numpy as np
import pytest
from test_scale_sharded_fit import _arrays, _assert_same
from test_scale_sharded_lists import AS_OF, chain, chain_dir  # noqa: F401 (fixtures)

from loyalty_engine.distributed.selection import member_shards
from loyalty_engine.model import partitioned
from loyalty_engine.model.fit import fit_model
from loyalty_engine.model.history import load_history
from loyalty_engine.model.params import ModelParams
from loyalty_engine.model.partitioned import InMemorySource, LocalRunner, fit_to_parts
from loyalty_engine.model.parts import PartitionedState, load_saved
from loyalty_engine.shopping_lists.build import _Members
from loyalty_engine.shopping_lists.model_source import model_view_from_state
from loyalty_engine.shopping_lists.parts_view import model_view_from_parts

PARAMS = ModelParams(horizon_days=14, max_training_rows=3_000)


@pytest.fixture
def fitted(chain, engine, tmp_path):  # type: ignore[no-untyped-def]
    history = load_history(engine, AS_OF)
    one = fit_model(history, AS_OF, PARAMS)
    folder = fit_to_parts(LocalRunner(), InMemorySource(history), AS_OF, PARAMS, 3, tmp_path / "model-parts")
    return history, one, folder


def test_parts_put_together_are_the_one_process_state(fitted, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _history, one, folder = fitted
    parts = load_saved(folder)
    assert isinstance(parts, PartitionedState) and parts.n_parts == 3 and parts.n_members == one.n_members
    assert parts.sku_pairs == one.sku_member.shape[0]
    _assert_same(_arrays(one, tmp_path, "one"), _arrays(parts.whole(), tmp_path, "parts"), "3 parts")
    assert not list(tmp_path.glob("model-parts.*")), "no building folder is left behind"
    # Member-level readers (profiles, segment grids) may skip the pairs: the rest is the same.
    members_only = parts.whole(pairs=False)
    assert members_only.sku_member.shape == members_only.need_probability.shape == (0,)
    with_pairs, without = one.member_arrays(), members_only.member_arrays()
    for name in with_pairs:
        if not (name.startswith("sku_") or name.startswith("need_")):
            assert np.array_equal(with_pairs[name], without[name], equal_nan=with_pairs[name].dtype.kind == "f"), name


def test_view_of_parts_scores_as_the_whole_view(fitted) -> None:  # type: ignore[no-untyped-def]
    _history, one, folder = fitted
    whole, parts = model_view_from_state(one), model_view_from_parts(PartitionedState(folder))
    for name in ("member_key", "brand_loyalty", "usage_tier", "lifecycle_stage", "value_tier",
                 "weekly_spend_cents", "prior_weekly_spend_cents"):
        assert np.array_equal(getattr(whole, name), getattr(parts, name)), name
    assert whole.categories == parts.categories and whole.n_value_tiers == parts.n_value_tiers
    scopes = [np.unique(one.product_key[one.sku_product[i::97]]) for i in range(5)]
    rng = np.random.default_rng(3)
    # Unordered, spanning every part, with unknown members (-1) among them.
    positions = np.concatenate([rng.permutation(one.n_members)[:120], [-1, 0, one.n_members - 1, -1]])
    expected = whole.score(scopes, 14, positions).toarray()
    assert expected.sum() > 0
    # Members who never shopped get the chain's pace, not their part's (a chain-wide value).
    assert (one.member_expected_trips[positions[positions >= 0]] == 0).any()
    assert np.array_equal(parts.score(scopes, 14, positions).toarray(), expected)

    # A shard's view along the parts: its members only, numbered from 0, scored alike.
    assert parts.part_bounds is not None and parts.for_members is not None
    bounds = parts.part_bounds
    members = _Members(*(np.arange(one.n_members) if f in ("member_key", "model_pos") else np.zeros(one.n_members)
                         for f in _Members.__dataclass_fields__))
    shards = member_shards(parts, members, n_shards=7)
    assert [s.tolist() for s in shards] == [list(range(bounds[i], bounds[i + 1])) for i in range(3)]
    own = shards[1][::3]
    shard_view = parts.for_members(own)
    assert np.array_equal(shard_view.member_key, whole.member_key[own])
    local = np.arange(own.shape[0])
    assert np.array_equal(shard_view.score(scopes, 14, local).toarray(), whole.score(scopes, 14, own).toarray())


def test_a_failed_part_publishes_nothing(fitted, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    history, _one, folder = fitted
    before = sorted(p.name for p in folder.iterdir())

    def fail_on_part_two(source, shard, window, params, chain, building, index):  # type: ignore[no-untyped-def]
        if index == 2:
            raise RuntimeError("worker lost")
        return real(source, shard, window, params, chain, building, index)

    real = partitioned.score_and_write_task
    monkeypatch.setattr(partitioned, "score_and_write_task", fail_on_part_two)
    with pytest.raises(RuntimeError, match="worker lost"):
        fit_to_parts(LocalRunner(), InMemorySource(history), AS_OF, PARAMS, 3, folder)
    # The state saved before is still there, whole and readable; nothing else is left.
    assert sorted(p.name for p in folder.iterdir()) == before
    assert [p.name for p in folder.parent.iterdir() if p.name.startswith(folder.name)] == [folder.name]
    assert PartitionedState(folder).n_parts == 3
