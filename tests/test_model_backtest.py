"""History building, purchase events, top-K ranking metrics and the backtest."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from model_histories import AS_OF, HistoryBuilder, day, products_frame

from loyalty_engine.model.backtest import METHODS, run_backtest
from loyalty_engine.model.events import TripIndex, purchase_events, trip_days
from loyalty_engine.model.history import NO_DAY, day_number, day_to_date, history_from_arrays, history_from_frames
from loyalty_engine.model.ranking import evaluate_top_k, top_k


def test_history_from_frames_keys_and_filters() -> None:
    scans = pd.DataFrame(
        [
            ("T1", "M1", "2017-03-01T09:00:00", "MILK-A", 2, 5.0),
            ("T1", "M1", "2017-03-01T09:00:00", "NEW-SKU", 1, 1.25),
            ("T2", "", "2017-03-02T09:00:00", "MILK-A", 1, 2.5),  # non-member basket
            ("T3", "M2", "2017-03-03T09:00:00", "MILK-S", -1, -2.0),  # a return
            ("T4", "M2", "2017-03-09T09:00:00", "MILK-S", 1, 2.0),
        ],
        columns=["transaction_id", "member_id", "scanned_at", "sku", "quantity", "amount"],
    )
    history = history_from_frames(scans, products_frame(), as_of=None)
    assert len(history) == 4  # the non-member line is not a member scan
    assert list(history.members.member_id) == ["M1", "M2"]
    assert "NEW-SKU" in set(history.catalog.sku)  # unknown skus are added to the catalog
    assert history.amount_cents.tolist() == [500, 125, -200, 200]
    assert history.basket[0] == history.basket[1] != history.basket[2]
    assert day_to_date(int(history.day[0])).isoformat() == "2017-03-01"
    assert history.end_day == day_number("2017-03-10") and history.start_day == NO_DAY
    n = len(history.catalog)
    events = purchase_events(history, np.arange(n, dtype=np.int32), n)
    assert len(events) == 3  # the return is not a purchase
    assert history.before(day_number("2017-03-05")).quantity.tolist() == [2, 1, -1]


def test_trip_index_counts_trips_between_days() -> None:
    b = HistoryBuilder()
    for d in (-10, -10, -7, -3):
        b.buy("A", day(d), ["MILK-S"])
    b.buy("B", day(-5), ["MILK-S"])
    history = b.history(as_of=AS_OF)
    member, days = trip_days(history)
    assert member.tolist() == [0, 0, 0, 1]
    index = TripIndex(member, days)
    a = np.array([0, 0, 1])
    assert index.trips_between(a, day_number(day(-10)), day_number(AS_OF)).tolist() == [3, 3, 1]
    assert index.trips_before(a, np.array([day_number(day(-7)), day_number(day(-2)), day_number(AS_OF)])).tolist() == [1, 3, 1]


def test_top_k_and_metrics_by_hand() -> None:
    member = np.array([0, 0, 0, 1, 1, 2])
    score = np.array([0.1, 0.9, 0.5, 0.3, 0.3, 0.2])
    tiebreak = np.array([0, 0, 0, 1, 2, 0])
    picked = top_k(member, score, 2, tiebreak=tiebreak)
    assert picked.tolist() == [1, 2, 4, 3, 5]
    item = np.array([10, 11, 12, 10, 11, 10])
    n_items = 20
    # Bought: member 0 items 11 and 15; member 1 item 10; member 2 nothing (not counted).
    actual = np.sort(np.array([0 * n_items + 11, 0 * n_items + 15, 1 * n_items + 10]))
    score_ = evaluate_top_k(member[picked], item[picked], actual, np.ones(3, dtype=bool), n_items, 2)
    assert score_.members == 2
    assert score_.precision == pytest.approx((1 / 2 + 1 / 2) / 2)
    assert score_.recall == pytest.approx((1 / 2 + 1 / 1) / 2)
    assert score_.hit_rate == 1.0


def test_backtest_on_regular_shoppers() -> None:
    b = HistoryBuilder()
    b.background(200, seed=5)
    result = run_backtest(b.history(), AS_OF, horizon_days=14, k=3)
    for level in ("sku", "subcategory"):
        rows = {m: result.scores[(level, m)] for m in METHODS}
        for score in rows.values():
            assert score.members > 150
            assert 0 <= score.precision <= 1 and 0 <= score.recall <= 1 and 0 <= score.hit_rate <= 1
        # Regular cycles: the model is at least as good as counting purchases.
        assert rows["model"].precision >= 0.98 * rows["top_frequency"].precision
        bins = result.calibration[level]
        pairs = sum(c.pairs for c in bins)
        predicted = sum(c.pairs * c.predicted for c in bins) / pairs
        observed = sum(c.pairs * c.observed for c in bins) / pairs
        assert predicted == pytest.approx(observed, abs=0.06)  # calibrated on the whole
        top = [c for c in bins if c.low >= 0.7][0]
        assert top.observed > 0.7
        low = [c for c in bins if c.high <= 0.1]
        assert sum(c.pairs * c.observed for c in low) / sum(c.pairs for c in low) < 0.15
    assert result.ratio("sku") == pytest.approx(
        result.scores[("sku", "model")].precision / result.scores[("sku", "top_frequency")].precision
    )
    assert result.lifecycle.members > 0 and result.fit_seconds > 0
    assert result.as_of == AS_OF


def test_history_from_arrays_keeps_known_lines_in_the_window() -> None:
    products = products_frame().assign(product_key=lambda f: np.arange(1, len(f) + 1))
    members = pd.DataFrame({"member_key": [10, 20], "member_id": ["M10", "M20"]})
    history = history_from_arrays(
        member_key=np.array([10, 20, 30, 10, 20]),  # 30 is not a member
        product_key=np.array([1, 2, 1, 999, 3]),  # 999 is not a product
        day=np.array([100, 101, 102, 103, 130]),  # 130 is on the end day
        basket=np.arange(5), quantity=np.ones(5, dtype=np.int32), amount_cents=np.full(5, 249),
        products=products, members=members, end_day=130,
    )
    assert history.member_key.tolist() == [10, 20] and history.product_key.tolist() == [1, 2]
    assert history.member_pos.tolist() == [0, 1] and history.product_pos.tolist() == [0, 1]
    assert history.before(101).day.tolist() == [100]
    assert history.before(500).day is history.day  # nothing to cut: the arrays are shared, not copied
