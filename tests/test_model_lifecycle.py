"""Member value and lifecycle: stages (new, developing, established, declining, lapsed), BG/NBD."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from model_histories import AS_OF, HistoryBuilder, day, every

from loyalty_engine.model.history import day_number
from loyalty_engine.model.lifecycle import (
    LIFECYCLE_STAGES, MemberMetrics, bgnbd_expected_trips, bgnbd_log_likelihood, bgnbd_p_alive, fit_bgnbd,
    member_metrics,
)
from loyalty_engine.model.params import ModelParams


@pytest.fixture(scope="module")
def metrics() -> tuple[MemberMetrics, list[str]]:
    b = HistoryBuilder()
    b.background(60)
    b.member("NEW", enrolled_at=day(-20))
    every("NEW", b, ["MILK-S", "BREAD-S"], day(-14), day(-1), 7)
    b.member("DEV", enrolled_at=day(-7 * 16))
    every("DEV", b, ["MILK-S", "BREAD-S"], day(-7 * 16), day(-1), 7)
    b.member("EST")
    every("EST", b, ["MILK-S", "BREAD-S"], day(-7 * 40 + 5), day(-2), 7)
    b.member("DECL")  # twice a week for 30 weeks, then every third week
    every("DECL", b, ["MILK-S", "BREAD-S"], day(-7 * 38), day(-7 * 8 - 1), 3)
    every("DECL", b, ["MILK-S"], day(-7 * 8 + 5), day(-1), 21)
    b.member("LAPSED")  # weekly for 30 weeks, nothing for the last 15
    every("LAPSED", b, ["MILK-S", "BREAD-S"], day(-7 * 45), day(-7 * 15), 7)
    b.member("NEVER", enrolled_at=day(-400))  # enrolled long ago, never shopped
    history = b.history(as_of=AS_OF)
    return member_metrics(history, day_number(AS_OF), ModelParams()), list(history.members.member_id)


@pytest.mark.parametrize(
    "member_id, stage",
    [("NEW", "new"), ("DEV", "developing"), ("EST", "established"), ("DECL", "declining"),
     ("LAPSED", "lapsed"), ("NEVER", "lapsed")],
)
def test_lifecycle_stage(metrics, member_id: str, stage: str) -> None:  # type: ignore[no-untyped-def]
    values, members = metrics
    assert values.stage_names()[members.index(member_id)] == stage


def test_p_alive_and_member_facts(metrics) -> None:  # type: ignore[no-untyped-def]
    values, members = metrics
    at = {m: members.index(m) for m in ("EST", "LAPSED", "NEVER", "DECL", "NEW")}
    assert values.p_alive[at["EST"]] > 0.9
    assert values.p_alive[at["LAPSED"]] < 0.5
    assert values.p_alive[at["NEVER"]] == 0.0
    assert values.expected_trips_8w[at["EST"]] > 4 * values.expected_trips_8w[at["LAPSED"]]
    assert values.days_since_last_trip[at["EST"]] == 2 and values.days_since_last_trip[at["NEVER"]] == -1
    # Two items at 2.49 every week over the last 8 weeks: 4.98 a week.
    assert values.avg_weekly_spend_cents[at["EST"]] == 498
    assert values.trips_per_week[at["EST"]] == pytest.approx(1.0)
    assert values.trips_per_week[at["DECL"]] < 0.5 * values.norm_trips_per_week[at["DECL"]]
    assert values.clv_cents[at["EST"]] > values.clv_cents[at["LAPSED"]] >= 0
    assert values.clv_cents[at["NEVER"]] == 0
    # EST repeats the same two skus: nearly every purchase day repeats an earlier one.
    assert values.repeat_rate[at["EST"]] > 0.9
    assert values.top_category_share[at["EST"]] == pytest.approx(1.0)
    assert set(values.value_tier_names()) <= {"bronze", "silver", "gold"}
    assert set(values.stage_names()) <= set(LIFECYCLE_STAGES)
    back = MemberMetrics.from_arrays(values.to_arrays())
    assert np.array_equal(back.clv_cents, values.clv_cents)


def test_bgnbd_fit_recovers_a_simulated_population() -> None:
    """Simulate the BG/NBD story and check the fit predicts the hold-out trips in aggregate."""
    rng = np.random.default_rng(3)
    n, weeks, holdout = 4000, 40.0, 10.0
    rate = rng.gamma(2.0, 1.0 / 2.0, n)  # r=2, alpha=2: one trip a week on average
    drop = rng.beta(1.0, 8.0, n)
    x = np.zeros(n)
    t_x = np.zeros(n)
    future = np.zeros(n)
    alive = np.ones(n, dtype=bool)
    t = rng.exponential(1.0 / rate)
    first = t.copy()
    while True:  # vectorized over members: each step is one more trip for those still going
        gap = rng.exponential(1.0 / rate)
        t = t + gap
        going = alive & (t < first + weeks + holdout)
        if not going.any():
            break
        in_fit = going & (t < first + weeks)
        x[in_fit] += 1
        t_x[in_fit] = (t - first)[in_fit]
        future[going & ~in_fit] += 1
        alive &= ~(going & (rng.random(n) < drop)) & going
    params = fit_bgnbd(x, t_x, np.full(n, weeks))
    predicted = bgnbd_expected_trips(params, x, t_x, np.full(n, weeks), holdout)
    assert predicted.sum() == pytest.approx(future.sum(), rel=0.15)
    p_alive = bgnbd_p_alive(params, x, t_x, np.full(n, weeks))
    assert p_alive[future > 0].mean() > p_alive[future == 0].mean() + 0.2
    assert np.isfinite(bgnbd_log_likelihood(params, x, t_x, np.full(n, weeks))).all()


@settings(max_examples=100, deadline=None)
@given(
    x=st.integers(0, 200), t_frac=st.floats(0.0, 1.0), T=st.floats(0.5, 300.0), later=st.floats(0.0, 100.0),
    params=st.tuples(st.floats(0.1, 5), st.floats(0.5, 30), st.floats(0.1, 5), st.floats(0.1, 10)),
)
def test_p_alive_is_a_probability_and_monotone(x: int, t_frac: float, T: float, later: float, params) -> None:  # type: ignore[no-untyped-def]
    bg = np.array(params)
    t_x = t_frac * T if x > 0 else 0.0
    p = float(bgnbd_p_alive(bg, np.array([x]), np.array([t_x]), np.array([T]))[0])
    assert 0.0 <= p <= 1.0
    # Waiting longer without a trip never makes the member more likely alive...
    p_later = float(bgnbd_p_alive(bg, np.array([x]), np.array([t_x]), np.array([T + later]))[0])
    assert p_later <= p + 1e-9
    # ... and a more recent last trip never makes it less likely.
    if x > 0:
        p_recent = float(bgnbd_p_alive(bg, np.array([x]), np.array([T]), np.array([T]))[0])
        assert p_recent >= p - 1e-9
        expected = bgnbd_expected_trips(bg, np.array([x]), np.array([t_x]), np.array([T]), 8.0)
        assert np.all(expected >= 0)
