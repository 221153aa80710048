"""Category segments: store-brand share thresholds (80/20), usage terciles, unsegmented."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from model_histories import AS_OF, HistoryBuilder, day

from loyalty_engine.model.history import day_number
from loyalty_engine.model.params import ModelParams
from loyalty_engine.model.segments import (
    BRAND_LOYALTY, HIGH, LOW, MEDIUM, NATIONAL, STORE, SWITCHER, UNSEGMENTED_CODE, SegmentTable,
    brand_loyalty_codes, category_segments, usage_tier_codes,
)


def _units(b: HistoryBuilder, member_id: str, store: int, national: int, sku_store: str = "MILK-S",
           sku_national: str = "MILK-A") -> None:
    """``store`` + ``national`` units of milk over two purchase days (one of each kind a day)."""
    b.member(member_id)
    if store:
        b.buy(member_id, day(-20), [sku_store], quantity=store)
    if national:
        b.buy(member_id, day(-10), [sku_national], quantity=national)
    if not (store and national):
        b.buy(member_id, day(-5), [sku_store if store else sku_national])


@pytest.fixture(scope="module")
def table() -> tuple[SegmentTable, list[str], list[str]]:
    b = HistoryBuilder()
    _units(b, "ALLSTORE", 10, 0)  # 11 store units -> store
    _units(b, "S80", 8, 2)  # exactly 80 % -> store (the bound is inclusive)
    _units(b, "S79", 79, 21)  # 79 % -> switcher
    _units(b, "S50", 5, 5)  # switcher
    _units(b, "S21", 21, 79)  # switcher
    _units(b, "S20", 2, 8)  # exactly 20 % -> national
    _units(b, "ALLNAT", 0, 6)  # national
    b.member("ONCE")
    b.buy("ONCE", day(-3), ["MILK-S"], quantity=4)  # one purchase day -> unsegmented
    b.member("OLD")
    b.buy("OLD", day(-7 * 30), ["MILK-S"])  # outside the 26-week look-back
    b.buy("OLD", day(-7 * 28), ["MILK-S"])
    # Coffee volumes 2..10 units for nine members (two purchase days each): terciles.
    for i in range(1, 10):
        b.member(f"C{i}")
        b.buy(f"C{i}", day(-30), ["COFFEE-S"])
        b.buy(f"C{i}", day(-2), ["COFFEE-A"], quantity=i)
    history = b.history(as_of=AS_OF)
    segments = category_segments(history, day_number(AS_OF), ModelParams())
    return segments, list(history.members.member_id), list(history.catalog.category_names)


def _lookup(table: tuple[SegmentTable, list[str], list[str]], member_id: str, category: str) -> tuple[int, int]:
    segments, members, categories = table
    loyalty, tier = segments.lookup(np.array([members.index(member_id)]), np.array([categories.index(category)]))
    return int(loyalty[0]), int(tier[0])


@pytest.mark.parametrize(
    "member_id, expected",
    [("ALLSTORE", STORE), ("S80", STORE), ("S79", SWITCHER), ("S50", SWITCHER), ("S21", SWITCHER),
     ("S20", NATIONAL), ("ALLNAT", NATIONAL)],
)
def test_store_brand_share_thresholds(table, member_id: str, expected: int) -> None:  # type: ignore[no-untyped-def]
    assert _lookup(table, member_id, "Milk")[0] == expected, BRAND_LOYALTY[expected]


def test_too_little_history_is_unsegmented(table) -> None:  # type: ignore[no-untyped-def]
    assert _lookup(table, "ONCE", "Milk") == (UNSEGMENTED_CODE, UNSEGMENTED_CODE)
    assert _lookup(table, "OLD", "Milk") == (UNSEGMENTED_CODE, UNSEGMENTED_CODE)
    assert _lookup(table, "ALLSTORE", "Coffee") == (UNSEGMENTED_CODE, UNSEGMENTED_CODE)


def test_usage_terciles_within_the_category(table) -> None:  # type: ignore[no-untyped-def]
    tiers = [_lookup(table, f"C{i}", "Coffee")[1] for i in range(1, 10)]
    assert tiers == [LOW] * 3 + [MEDIUM] * 3 + [HIGH] * 3


def test_segment_rows_and_facts(table) -> None:  # type: ignore[no-untyped-def]
    segments, members, categories = table
    milk = categories.index("Milk")
    rows = segments.rows_for_category(milk)
    assert set(segments.member[rows].tolist()) >= {members.index("S80"), members.index("ONCE")}
    row = rows[segments.member[rows] == members.index("S80")][0]
    assert segments.units[row] == 10 and segments.purchase_days[row] == 2
    assert segments.store_brand_share[row] == pytest.approx(0.8)
    assert segments.interval_days[row] == pytest.approx(10.0)
    assert segments.spend_cents[row] == 2490  # 2.49 per unit, exact cents
    back = SegmentTable.from_arrays(segments.to_arrays())
    assert np.array_equal(back.usage_tier, segments.usage_tier) and back.n_categories == segments.n_categories


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=50))
def test_brand_loyalty_codes_follow_the_share(shares: list[float]) -> None:
    share = np.array(shares)
    codes = brand_loyalty_codes(share, 0.2, 0.8)
    assert np.all((codes == STORE) == (share >= 0.8))
    assert np.all((codes == NATIONAL) == (share <= 0.2))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(1, 1000)), min_size=1, max_size=80))
def test_usage_tiers_are_monotone_in_volume(rows: list[tuple[int, int]]) -> None:
    category = np.array([r[0] for r in rows])
    volume = np.array([r[1] for r in rows], dtype=np.float64)
    tier = usage_tier_codes(category, volume, np.zeros(len(rows)), (1 / 3, 2 / 3))
    assert set(np.unique(tier).tolist()) <= {LOW, MEDIUM, HIGH}
    for c in np.unique(category):
        rows_c = category == c
        order = np.argsort(volume[rows_c], kind="stable")
        v, t = volume[rows_c][order], tier[rows_c][order]
        # A larger volume never gets a lower tier; each tier holds about a third.
        assert np.all(t[1:][v[1:] > v[:-1]] >= t[:-1][v[1:] > v[:-1]])
        n = rows_c.sum()
        for code in (LOW, MEDIUM, HIGH):
            assert abs((t == code).sum() - n / 3) <= 1
