"""The fast array helpers and the re-ranker against plain numpy references."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty_engine.model.arrays import group_index, rank_in_runs, unique_inverse, unique_sorted
from loyalty_engine.model.ranking import rank_within_member, top_k
from loyalty_engine.model.reranker import BoostedReranker, Calibrator, LogisticReranker

keys = st.lists(st.integers(0, 500), max_size=300).map(lambda v: np.array(v, dtype=np.int64))


@settings(max_examples=80, deadline=None)
@given(keys)
def test_grouping_helpers_match_np_unique(values: np.ndarray) -> None:
    expected, expected_inverse = np.unique(values, return_inverse=True)
    assert np.array_equal(unique_sorted(values), expected)
    uniques, inverse = unique_inverse(values)
    assert np.array_equal(uniques, expected) and np.array_equal(inverse, expected_inverse.ravel())
    uniques, inverse = group_index(values, 501)
    assert np.array_equal(uniques, expected) and np.array_equal(inverse, expected_inverse.ravel())
    ordered = np.sort(values)
    assert np.array_equal(rank_in_runs(ordered), rank_within_member(ordered))


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 20), st.floats(-5, 5, width=32)), min_size=1, max_size=200),
    st.integers(1, 6),
)
def test_top_k_matches_a_lexsort_reference(rows: list[tuple[int, float]], k: int) -> None:
    member = np.array([r[0] for r in rows], dtype=np.int64)
    score = np.array([r[1] for r in rows], dtype=np.float32)
    picked = top_k(member, score, k)
    order = np.lexsort((-score, member))
    reference = order[rank_within_member(member[order]) < k]
    # Same members in the same order, and the same scores (ties may pick different rows).
    assert np.array_equal(member[picked], member[reference])
    assert np.array_equal(score[picked], score[reference])


def _signal(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6)).astype(np.float32)
    X[:, 5] = np.round(X[:, 5])  # a feature with few distinct values
    logit = 1.5 * X[:, 0] - X[:, 1] * X[:, 2] + 0.5 * X[:, 5] - 1.5
    return X, rng.random(n) < 1 / (1 + np.exp(-logit))


def _auc(p: np.ndarray, y: np.ndarray) -> float:
    ranks = np.argsort(np.argsort(p)) + 1
    positives = y.sum()
    return float((ranks[y].sum() - positives * (positives + 1) / 2) / (positives * (len(y) - positives)))


def test_boosted_reranker_learns_and_predicts_consistently() -> None:
    X, y = _signal(40_000, 0)
    model = BoostedReranker(n_trees=40, rows_per_tree=8_000).fit(X, y)
    X_test, y_test = _signal(20_000, 1)
    p = model.predict(X_test)
    assert _auc(p, y_test) > 0.8
    assert abs(p.mean() - y_test.mean()) < 0.02  # log-loss boosting stays calibrated on the whole
    # The binned path (training) and the threshold path (prediction) agree exactly.
    reference = np.stack([np.searchsorted(model.edges[j], X_test[:, j], side="right") for j in range(6)], axis=1)
    assert np.array_equal(model._binned(X_test), reference)
    z = np.full(X_test.shape[0], model.base)
    for t in range(model.split_feature.shape[0]):
        z += model.leaf_value[t][model._leaf_index(reference, model.split_feature[t], model.split_bin[t])]
    assert np.allclose(z, model.logit(X_test))
    # Row order of the training data does not matter beyond the seeded sampling.
    again = BoostedReranker(n_trees=40, rows_per_tree=8_000).fit(X, y)
    assert np.allclose(again.predict(X_test), p)


def test_logistic_reranker_and_calibrator() -> None:
    X, y = _signal(20_000, 2)
    p = LogisticReranker().fit(X, y).predict(X)
    assert _auc(p, y) > 0.7
    # Platt scaling undoes a distortion of the logit.
    distorted = 1 / (1 + np.exp(-(0.5 * np.log(p / (1 - p)) - 1.0)))
    fixed = Calibrator().fit(distorted, y).apply(distorted)
    assert abs(fixed.mean() - y.mean()) < 0.01
    assert np.corrcoef(fixed, p)[0, 1] > 0.99
