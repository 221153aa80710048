"""A model state cut to some members scores them exactly as the whole state does."""
from __future__ import annotations

import numpy as np
from model_histories import AS_OF, PRODUCTS, HistoryBuilder

from loyalty_engine.distributed.shards import shard_of, shard_positions
from loyalty_engine.distributed.state_slice import state_for_members
from loyalty_engine.model.fit import fit_model
from loyalty_engine.model.scoring import score_offer_scopes
from loyalty_engine.shopping_lists.model_source import model_view_from_state


def test_slice_scores_segments_and_metrics_equal_the_whole_state() -> None:
    b = HistoryBuilder()
    b.background(120, seed=3)
    state = fit_model(b.history(), AS_OF)
    skus = [p[0] for p in PRODUCTS]
    scopes = [state.product_key[[i]] for i in range(len(skus))] + [state.product_key[:5], state.product_key]
    whole = score_offer_scopes(state, scopes, 14, np.arange(state.n_members)).toarray()
    assert (whole > 0).sum() > 100  # members really score, so equality below means something

    picked = np.flatnonzero(shard_of(state.member_key, 3) == 1)
    assert 0 < picked.shape[0] < state.n_members
    part = state_for_members(state, picked)
    assert part.n_members == picked.shape[0]
    np.testing.assert_array_equal(score_offer_scopes(part, scopes, 14, np.arange(part.n_members)).toarray(),
                                  whole[picked])

    full_view, part_view = model_view_from_state(state), model_view_from_state(part)
    np.testing.assert_array_equal(part_view.brand_loyalty, full_view.brand_loyalty[picked])
    np.testing.assert_array_equal(part_view.usage_tier, full_view.usage_tier[picked])
    np.testing.assert_array_equal(part_view.lifecycle_stage, full_view.lifecycle_stage[picked])
    np.testing.assert_array_equal(part_view.value_tier, full_view.value_tier[picked])
    sliced = full_view.for_members(picked)
    np.testing.assert_array_equal(sliced.weekly_spend_cents, full_view.weekly_spend_cents[picked])


def test_shards_cover_every_member_once_in_ascending_order() -> None:
    keys = np.arange(1, 10_001, dtype=np.int64) * 7
    parts = shard_positions(keys, 4)
    together = np.concatenate(parts)
    assert sorted(together.tolist()) == list(range(keys.shape[0]))
    assert all((np.diff(p) > 0).all() for p in parts)
    sizes = np.array([p.shape[0] for p in parts])
    assert sizes.min() > 0.9 * sizes.mean()  # the hash spreads consecutive keys evenly
    np.testing.assert_array_equal(shard_of(keys, 4), shard_of(keys.copy(), 4))  # stable
