"""score_offer_scopes: need x choice over product scopes, brand switches, first purchases."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from model_histories import AS_OF, PRODUCTS, HistoryBuilder, day, every

from loyalty_engine.model.fit import fit_model
from loyalty_engine.model.state import ModelState
from loyalty_engine.model.scoring import (
    index_scopes, score_offer_scopes, score_offer_scopes_with_days,
)

SKUS = [p[0] for p in PRODUCTS]


@pytest.fixture(scope="module")
def state() -> ModelState:
    b = HistoryBuilder()
    b.background(150, seed=11)
    b.member("MILKY")  # weekly national milk, last six days ago; never bought bulbs or coffee
    every("MILKY", b, ["MILK-A", "BREAD-S"], day(-6 - 7 * 30), day(-6), 7)
    b.member("NOSHOW", enrolled_at=day(-3))
    return fit_model(b.history(), AS_OF)


@pytest.fixture(scope="module")
def loose(state: ModelState) -> ModelState:
    """The same state keeping every entry (no min_probability floor), to compare small values."""
    return replace(state, params=state.params.with_overrides(min_probability=0.0))


def _keys(state: ModelState, *skus: str) -> np.ndarray:
    return state.product_key[[list(state.sku).index(s) for s in skus]]


def _member(state: ModelState, member_id: str) -> np.ndarray:
    return np.array([list(state.member_id).index(member_id)])


def _score(state: ModelState, member_id: str, *scopes: tuple[str, ...], horizon: int = 14) -> np.ndarray:
    matrix = score_offer_scopes(state, [_keys(state, *s) for s in scopes], horizon, _member(state, member_id))
    return matrix.toarray()[0]


def test_never_bought_sibling_sku_scores_between_zero_and_the_bought_sku(loose: ModelState) -> None:
    bought, sibling, store = _score(loose, "MILKY", ("MILK-A",), ("MILK-B",), ("MILK-S",))
    assert bought > 0.6
    assert 0.0 < sibling < 0.2 * bought  # a loyal weekly buyer rarely switches
    assert 0.0 < store < 0.2 * bought
    # A member who splits milk between brands is more likely to take a sibling sku.
    others = [i for i, m in enumerate(loose.member_id) if m.startswith("B")]
    matrix = score_offer_scopes(loose, [_keys(loose, "MILK-B")], 14, np.array(others)).toarray()[:, 0]
    assert matrix.max() > 4 * sibling


def test_floor_drops_small_entries(state: ModelState, loose: ModelState) -> None:
    scopes = [_keys(state, s) for s in SKUS]
    everyone = np.arange(state.n_members)
    kept = score_offer_scopes(state, scopes, 14, everyone).toarray()
    full = score_offer_scopes(loose, scopes, 14, everyone).toarray()
    floor = state.params.min_probability
    assert np.array_equal(kept, np.where(full >= floor, full, 0.0))
    assert (full > 0).sum() > (kept > 0).sum()


def test_whole_subcategory_scope_is_the_need(state: ModelState) -> None:
    m = int(_member(state, "MILKY")[0])
    milk = state.need_of_product[list(state.sku).index("MILK-A")]
    need_p = state.need_probability[(state.need_member == m) & (state.need_group == milk)][0]
    (whole,) = _score(state, "MILKY", ("MILK-A", "MILK-B", "MILK-S"))
    assert whole == pytest.approx(max(need_p, _score(state, "MILKY", ("MILK-A",))[0]), abs=0.01)


def test_scope_of_two_subcategories_is_at_least_each(loose: ModelState) -> None:
    milk, bread, both = _score(loose, "MILKY", ("MILK-B",), ("BREAD-A",), ("MILK-B", "BREAD-A"))
    assert both >= max(milk, bread)
    assert both == pytest.approx(1 - (1 - milk) * (1 - bread), abs=1e-6)


def test_first_purchase_of_a_subcategory(state: ModelState, loose: ModelState) -> None:
    coffee, bulbs, milk = score_offer_scopes(
        loose, [_keys(state, "COFFEE-A", "COFFEE-B", "COFFEE-S"), _keys(state, "BULB-A", "BULB-S"),
                _keys(state, "MILK-A", "MILK-B", "MILK-S")], 14, _member(state, "MILKY"),
    ).toarray()[0]
    # Never bought coffee or bulbs: small but positive first-purchase chances, far below milk.
    assert 0.0 < coffee < 0.5 * milk and 0.0 < bulbs < 0.5 * milk
    # A member who never shopped gets first-purchase priors at the average pace.
    noshow = score_offer_scopes(loose, [_keys(state, "MILK-A", "MILK-B", "MILK-S")], 14, _member(state, "NOSHOW"))
    assert 0.0 < noshow.toarray()[0, 0] < 1.0


def test_rows_columns_and_unknown_members(state: ModelState) -> None:
    scopes = [_keys(state, "MILK-A"), np.array([999_999], dtype=np.int64), np.empty(0, np.int64)]
    positions = np.r_[_member(state, "MILKY"), -1, _member(state, "MILKY")]
    matrix = score_offer_scopes(state, scopes, 14, positions)
    assert matrix.shape == (3, 3)
    dense = matrix.toarray()
    assert dense[1].sum() == 0  # unknown member
    assert np.all(dense[:, 1:] == 0)  # unknown product, empty scope
    assert dense[0, 0] == dense[2, 0] > 0
    assert np.all(matrix.data >= state.params.min_probability)


def test_chunks_give_the_same_rows(state: ModelState) -> None:
    rng = np.random.default_rng(0)
    scopes = [rng.choice(state.product_key, size=rng.integers(1, 4), replace=False) for _ in range(25)]
    everyone = np.arange(state.n_members)
    whole = score_offer_scopes(state, scopes, 14, everyone).toarray()
    index = index_scopes(state, scopes)
    parts = [score_offer_scopes(state, index, 14, chunk).toarray() for chunk in np.array_split(everyone[::-1], 4)]
    assert np.allclose(np.vstack(parts), whole[::-1])


def test_longer_horizon_never_scores_lower(loose: ModelState) -> None:
    scopes = [_keys(loose, s) for s in SKUS]
    everyone = np.arange(loose.n_members)
    week, fortnight, month = (score_offer_scopes(loose, scopes, h, everyone).toarray() for h in (7, 14, 28))
    assert np.all(week <= fortnight + 1e-7) and np.all(fortnight <= month + 1e-7)
    assert month.max() <= 1.0 and week[week > 0].min() > 0
    assert (month > week + 1e-3).mean() > 0.5


def test_expected_days_where_the_member_bought_before(loose: ModelState) -> None:
    probability, days = score_offer_scopes_with_days(
        loose, [_keys(loose, "MILK-B"), _keys(loose, "COFFEE-A")], 14, _member(loose, "MILKY"),
    )
    assert probability[0, 0] > 0 and 0 <= days[0, 0] - loose.as_of_day <= 5
    assert probability[0, 1] > 0 and days[0, 1] == 0  # no expected day for a subcategory never bought


def test_scores_survive_save_and_load(state: ModelState, tmp_path) -> None:  # type: ignore[no-untyped-def]
    loaded = ModelState.load(state.save(tmp_path / "state.npz"))
    scopes = [_keys(state, s) for s in SKUS] + [_keys(state, "MILK-B", "BREAD-A", "BULB-S")]
    everyone = np.arange(state.n_members)
    a = score_offer_scopes(state, scopes, 14, everyone)
    b = score_offer_scopes(loaded, scopes, 14, everyone)
    assert (a != b).nnz == 0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    small=st.sets(st.sampled_from(SKUS), min_size=1, max_size=5),
    extra=st.sets(st.sampled_from(SKUS), min_size=1, max_size=5),
    horizon=st.integers(1, 42),
)
def test_probabilities_grow_with_the_scope(
    loose: ModelState, small: set[str], extra: set[str], horizon: int
) -> None:
    members = np.arange(loose.n_members)
    scopes = [_keys(loose, *sorted(small)), _keys(loose, *sorted(small | extra))]
    dense = score_offer_scopes(loose, scopes, horizon, members).toarray()
    assert np.all((dense >= 0) & (dense <= 1))
    assert np.all(dense[:, 1] >= dense[:, 0] - 1e-6)
