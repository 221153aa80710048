"""The purchase-cycle model on small hand-made histories: who is due, who is not, priors."""
from __future__ import annotations

import numpy as np
import pytest
from model_histories import AS_OF, HistoryBuilder, day, every

from loyalty_engine.model.features import ItemStats, pair_cycle
from loyalty_engine.model.events import pair_aggregates, purchase_events
from loyalty_engine.model.fit import fit_model
from loyalty_engine.model.history import day_number
from loyalty_engine.model.params import ModelParams
from loyalty_engine.model.state import ModelState


@pytest.fixture(scope="module")
def builder() -> HistoryBuilder:
    b = HistoryBuilder()
    b.background(150)
    # Weekly milk buyer whose last milk was six days ago: due now.
    b.member("MILKY")
    every("MILKY", b, ["MILK-A"], day(-6 - 7 * 30), day(-6), 7)
    # Six-monthly light bulbs, bought two days ago: not due for months. Bread every 5 days.
    b.member("BULBY")
    for offset in (-362, -182, -2):
        b.buy("BULBY", day(offset), ["BULB-A"])
    every("BULBY", b, ["BREAD-S"], day(-200), day(-1), 5)
    # New member: two coffee purchases three days apart.
    b.member("NEWBIE", enrolled_at=day(-10))
    b.buy("NEWBIE", day(-8), ["COFFEE-A"])
    b.buy("NEWBIE", day(-5), ["COFFEE-A", "MILK-S"])
    # Enrolled, never shopped.
    b.member("NOSHOW", enrolled_at=day(-3))
    # Purchases after AS_OF: must not change the model fitted at AS_OF.
    every("MILKY", b, ["MILK-A", "CHIPS-A"], day(1), day(20), 7)
    return b


@pytest.fixture(scope="module")
def state(builder: HistoryBuilder) -> ModelState:
    return fit_model(builder.history(), AS_OF)


def _sku_row(state: ModelState, member_id: str, sku: str) -> int:
    m = list(state.member_id).index(member_id)
    p = list(state.sku).index(sku)
    rows = np.flatnonzero((state.sku_member == m) & (state.sku_product == p))
    assert rows.shape[0] == 1, (member_id, sku)
    return int(rows[0])


def _need_row(state: ModelState, member_id: str, sku: str) -> int:
    m = list(state.member_id).index(member_id)
    need = state.need_of_product[list(state.sku).index(sku)]
    rows = np.flatnonzero((state.need_member == m) & (state.need_group == need))
    assert rows.shape[0] == 1, (member_id, sku)
    return int(rows[0])


def test_weekly_milk_buyer_is_due(state: ModelState) -> None:
    row = _sku_row(state, "MILKY", "MILK-A")
    assert state.sku_probability[row] > 0.7
    assert 0 <= state.sku_expected_day[row] - state.as_of_day <= 5
    need = _need_row(state, "MILKY", "MILK-A")
    assert 6.0 <= state.need_interval_days[need] <= 8.0
    assert state.need_probability[need] > 0.7


def test_just_bought_six_month_item_is_not_due(state: ModelState) -> None:
    bulbs = _sku_row(state, "BULBY", "BULB-A")
    bread = _sku_row(state, "BULBY", "BREAD-S")
    assert state.sku_probability[bulbs] < 0.15
    assert state.sku_expected_day[bulbs] - state.as_of_day > 60
    assert state.need_interval_days[_need_row(state, "BULBY", "BULB-A")] > 100
    # The same member's bread, on a five-day cycle, is due.
    assert state.sku_probability[bread] > 0.7
    assert state.sku_probability[bread] > 5 * state.sku_probability[bulbs]


def test_member_with_two_purchases_gets_the_category_prior(state: ModelState) -> None:
    need = _need_row(state, "NEWBIE", "COFFEE-A")
    # One three-day gap is pulled toward coffee's population cycle (about three weeks).
    assert 8.0 <= state.need_interval_days[need] <= 30.0
    # A single purchase (milk) gets the population cycle of milk, not a degenerate one.
    milk = _need_row(state, "NEWBIE", "MILK-S")
    assert 4.0 <= state.need_interval_days[milk] <= 12.0


def test_cycle_shrinkage_follows_the_number_of_gaps(builder: HistoryBuilder) -> None:
    """The more gaps a member has, the closer the cycle is to their own mean gap."""
    history = builder.history()
    n_products = len(history.catalog)
    events = purchase_events(history, np.arange(n_products, dtype=np.int32), n_products)
    pairs = pair_aggregates(events, day_number(AS_OF), (28.0,))
    prior = np.full(n_products, np.log(21.0))
    stats = ItemStats(prior, np.ones(n_products), np.ones(n_products), np.ones(n_products), np.zeros(n_products))
    cycle = pair_cycle(pairs, stats, 14, prior_strength=2.0, shape=2.0)
    own = np.exp(pairs.log_gap_mean)
    gaps = pairs.count - 1
    one_gap = gaps == 1
    many = gaps >= 20
    # With one gap the cycle lies between the own gap and the prior, nearer the prior.
    assert np.all(np.abs(np.log(cycle.interval[one_gap] / 21.0)) <= np.abs(np.log(own[one_gap] / 21.0)) + 1e-9)
    # With twenty or more the own gap dominates.
    assert np.all(np.abs(np.log(cycle.interval[many] / own[many])) < 0.2 * np.abs(np.log(21.0 / own[many])) + 1e-9)
    # Renewal probabilities are probabilities.
    assert np.all((cycle.renewal_probability > 0) & (cycle.renewal_probability < 1))


def test_probabilities_and_pair_arrays_are_well_formed(state: ModelState) -> None:
    for p in (state.sku_probability, state.need_probability):
        assert np.all((p >= 0) & (p <= 1))
    sku_key = state.sku_member.astype(np.int64) * state.n_products + state.sku_product
    need_key = state.need_member.astype(np.int64) * state.n_needs + state.need_group
    assert np.all(np.diff(sku_key) > 0) and np.all(np.diff(need_key) > 0)
    # Every bought sku's subcategory is a bought subcategory of the same member.
    sku_need = state.sku_member.astype(np.int64) * state.n_needs + state.need_of_product[state.sku_product]
    assert np.isin(sku_need, need_key).all()
    assert np.all(state.need_new_rate > 0)
    shares = np.bincount(state.need_of_product, weights=state.product_choice_share, minlength=state.n_needs)
    assert np.allclose(shares, 1.0)


def test_never_shopped_member_has_no_pairs(state: ModelState) -> None:
    m = list(state.member_id).index("NOSHOW")
    assert m not in set(state.sku_member.tolist())
    assert state.member_expected_trips[m] == 0
    assert state.metrics.stage_names()[m] == "new"


def test_scans_after_as_of_are_not_read(builder: HistoryBuilder, state: ModelState) -> None:
    cut = fit_model(builder.history().before(day_number(AS_OF)), AS_OF)
    assert np.array_equal(cut.sku_probability, state.sku_probability)
    assert np.array_equal(cut.need_probability, state.need_probability)
    assert np.array_equal(cut.metrics.p_alive, state.metrics.p_alive)


def test_logistic_reranker_gives_the_same_verdicts(builder: HistoryBuilder) -> None:
    state = fit_model(builder.history(), AS_OF, ModelParams(reranker="logistic"))
    assert state.sku_probability[_sku_row(state, "MILKY", "MILK-A")] > 0.6
    assert state.sku_probability[_sku_row(state, "BULBY", "BULB-A")] < 0.15


def test_save_load_round_trip(state: ModelState, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = state.save(tmp_path / "model" / "state.npz")
    loaded = ModelState.load(path)
    assert loaded.as_of == AS_OF and loaded.horizon_days == state.horizon_days
    assert loaded.params == state.params
    for name in ("member_key", "member_id", "product_key", "sku", "need_names", "category_names",
                 "sku_member", "sku_product", "sku_probability", "sku_expected_day", "need_probability",
                 "need_expected_day", "product_choice_share", "need_new_rate", "member_expected_trips"):
        assert np.array_equal(np.asarray(getattr(loaded, name)), np.asarray(getattr(state, name))), name
    assert (loaded.choice_slope, loaded.choice_offset) == (state.choice_slope, state.choice_offset)
    assert np.array_equal(loaded.segments.brand_loyalty, state.segments.brand_loyalty)
    assert np.array_equal(loaded.metrics.lifecycle_stage, state.metrics.lifecycle_stage)
    assert list(loaded.metrics.stage_names()) == list(state.metrics.stage_names())
    # The re-rankers come back and predict the same.
    assert loaded.sku_model is not None and state.sku_model is not None
    X = np.random.default_rng(0).normal(size=(50, state.sku_model.edges.shape[0])).astype(np.float32)
    assert np.allclose(loaded.sku_model.predict(X), state.sku_model.predict(X))
    assert loaded.member_positions(np.array([state.member_key[3], -5])).tolist() == [3, -1]


def test_load_refuses_another_format(state: ModelState, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = state.save(tmp_path / "state.npz")
    with np.load(path) as data:
        arrays = dict(data)
    arrays["meta"] = np.array(str(arrays["meta"]).replace('"format_version": 1', '"format_version": 99'))
    np.savez(tmp_path / "other.npz", **arrays)
    with pytest.raises(ValueError, match="format"):
        ModelState.load(tmp_path / "other.npz")


def test_history_window_and_lookback(builder: HistoryBuilder) -> None:
    history = builder.history(as_of=AS_OF)
    assert history.day.max() < day_number(AS_OF) and history.end_day == day_number(AS_OF)
    assert history.before(day_number(AS_OF) - 30).day.max() < day_number(AS_OF) - 30
    fitted = fit_model(builder.history(), AS_OF, ModelParams(lookback_days=120, training_windows=3))
    # The bulbs bought 182 and 362 days ago are outside the look-back: one purchase day left.
    row = _sku_row(fitted, "BULBY", "BULB-A")
    assert fitted.sku_purchase_days[row] == 1
    assert fitted.sku_last_day[row] == day_number(day(-2))
