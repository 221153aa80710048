"""The lift estimators against numpy/scipy references and hand-computed cases."""
from __future__ import annotations

import math

import numpy as np
from scipy import stats

from loyalty_engine.results.estimators import cuped, difference_in_means, inverse_variance_pool
from loyalty_engine.results.inputs import CELL_NAMES, LiftInputs, cell_index
from loyalty_engine.results.lift import lift_from_inputs, pooled_lift
from loyalty_engine.synthetic.response import draw_response, planted_uplift


def test_difference_in_means_by_hand() -> None:
    # treated 4, 6 (mean 5, var 2); control 1, 2, 3 (mean 2, var 1)
    y = np.array([4, 6, 1, 2, 3], dtype=float)
    treated = np.array([1, 1, 0, 0, 0], dtype=bool)
    est = difference_in_means(y, treated, np.zeros(5, np.int64), 1)
    se = math.sqrt(2 / 2 + 1 / 3)
    df = (2 / 2 + 1 / 3) ** 2 / ((2 / 2) ** 2 / 1 + (1 / 3) ** 2 / 2)
    q = stats.t.ppf(0.975, df)
    assert est.lift[0] == 3.0 and math.isclose(est.se[0], se) and math.isclose(est.df[0], df)
    assert math.isclose(est.ci_low[0], 3 - q * se) and math.isclose(est.ci_high[0], 3 + q * se)
    assert math.isclose(est.relative_lift[0], 1.5)


def test_groups_match_scipy_welch() -> None:
    rng = np.random.default_rng(1)
    group = rng.integers(0, 4, 4000)
    treated = rng.random(4000) < 0.7
    y = rng.normal(group * 1.0 + treated * 0.3, 2.0)
    est = difference_in_means(y, treated, group, 4)
    for g in range(4):
        a, b = y[(group == g) & treated], y[(group == g) & ~treated]
        ref = stats.ttest_ind(a, b, equal_var=False)
        ci = ref.confidence_interval(0.95)
        assert math.isclose(est.lift[g], a.mean() - b.mean(), rel_tol=1e-12)
        assert math.isclose(est.ci_low[g], ci.low, rel_tol=1e-9) and math.isclose(est.ci_high[g], ci.high, rel_tol=1e-9)


def test_too_small_groups_have_no_interval() -> None:
    est = difference_in_means(np.array([1.0, 2.0, 3.0]), np.array([True, True, False]), np.zeros(3, np.int64), 1)
    assert est.lift[0] == -1.5 and np.isnan(est.se[0]) and not est.significant[0]


def test_cuped_matches_the_regression_adjustment_and_narrows() -> None:
    rng = np.random.default_rng(2)
    n = 5000
    x = rng.gamma(2.0, 50.0, n)
    treated = rng.random(n) < 0.5
    y = 0.8 * x + rng.normal(0, 20, n) + 10 * treated
    out = cuped(y, x, treated, np.zeros(n, np.int64), 1)
    theta = np.cov(x, y)[0, 1] / np.var(x, ddof=1)
    adj = y - theta * (x - x.mean())
    assert math.isclose(out.theta[0], theta, rel_tol=1e-9)
    assert math.isclose(out.adjusted.lift[0], adj[treated].mean() - adj[~treated].mean(), rel_tol=1e-9)
    assert out.variance_reduction[0] > 0.8 and out.interval_narrowing[0] > 0.5
    # a constant covariate changes nothing
    flat = cuped(y, np.ones(n), treated, np.zeros(n, np.int64), 1)
    assert flat.theta[0] == 0 and math.isclose(flat.adjusted.lift[0], flat.raw.lift[0])


def test_inverse_variance_pool_by_hand() -> None:
    pooled = inverse_variance_pool(np.array([1.0, 3.0, 5.0, np.nan]), np.array([1.0, 2.0, np.nan, 1.0]),
                                   np.array([0, 0, 1, 1]), 2)
    # weights 1 and 1/4: (1 + 3/4) / 1.25 = 1.4, se = 1/sqrt(1.25)
    assert math.isclose(pooled.estimate[0], 1.4) and math.isclose(pooled.se[0], 1 / math.sqrt(1.25))
    assert pooled.n_groups.tolist() == [2, 0] and np.isnan(pooled.estimate[1])


def _inputs(n: int, seed: int, uplift: float) -> LiftInputs:
    rng = np.random.default_rng(seed)
    pre = rng.poisson(rng.gamma(1.0, 2.0, n) * 4)
    treated = rng.random(n) < 0.6
    offer_pos = rng.integers(0, 2, n)
    cell = cell_index(["national"] * n, [["low", "high"][i] for i in rng.integers(0, 2, n)])
    table = np.array([[0.0] * len(CELL_NAMES), [uplift] * len(CELL_NAMES)])
    resp = draw_response(pre, 56, 14, treated, table[offer_pos, cell], rng)
    units = resp.units.astype(float)
    return LiftInputs(
        member_key=np.arange(n), offer_pos=offer_pos, cell=cell, stage=np.zeros(n, np.int64), treated=treated,
        units=units, sales_cents=(units * 250).astype(np.int64), pre_sales_cents=pre * 250,
        offers=[{"id": 1, "slug": "zero", "name": "z", "manufacturer_id": "MFR2", "category": "Coffee"},
                {"id": 2, "slug": "big", "name": "b", "manufacturer_id": "MFR2", "category": "Coffee"}],
        ledger_by_cell=np.zeros((2, len(CELL_NAMES), 3), np.int64),
    )


def test_offer_lift_recovers_planted_uplift_per_offer_and_cell() -> None:
    rows = lift_from_inputs(_inputs(20000, 3, 0.5))
    units = {r.offer_slug: r for r in rows if r.outcome == "units"}
    assert units["zero"].cuped_ci_low < 0 < units["zero"].cuped_ci_high
    assert units["big"].cuped_ci_low < 0.5 < units["big"].cuped_ci_high and units["big"].significant
    assert units["big"].variance_reduction > 0.2
    cells = [r for r in lift_from_inputs(_inputs(20000, 3, 0.5), by_cell=True) if r.outcome == "units"]
    assert {r.cell for r in cells} == {"national:low", "national:high"} and len(cells) == 4
    pooled = pooled_lift(rows, key=lambda r: r.manufacturer_id)
    assert [p.key for p in pooled] == ["MFR2", "MFR2"] and pooled[0].offers == 2


def test_planted_uplift_has_zero_modest_and_large_offers() -> None:
    table = planted_uplift(np.arange(1, 301), seed=4)
    base = table[:, CELL_NAMES.index("national:medium")]
    assert set(np.round(np.unique(base), 6)) == {0.0, 0.15, 0.6}
    assert (table[:, CELL_NAMES.index("store:high")] >= table[:, CELL_NAMES.index("store:low")]).all()


def test_accuracy_and_calibration_by_hand() -> None:
    from loyalty_engine.results.measures import accuracy, accuracy_by_offer

    base = _inputs(6, 1, 0.0)
    base.treated[:] = [True, True, True, True, True, False]  # the held-out pair does not count
    base.units[:] = [1, 0, 2, 0, 1, 5]
    base.offer_pos[:] = [0, 0, 0, 1, 1, 1]
    p = np.array([0.05, 0.08, 0.55, 0.52, 0.95, 0.99])
    acc = accuracy(base, p)
    assert acc["lines"] == 5 and acc["hit_rate"] == 0.6 and acc["mean_predicted"] == round((0.05 + 0.08 + 0.55 + 0.52 + 0.95) / 5, 4)
    assert acc["calibration"] == [
        {"key": "0.0-0.1", "lines": 2, "predicted": 0.065, "bought": 0.5},
        {"key": "0.5-0.6", "lines": 2, "predicted": 0.535, "bought": 0.5},
        {"key": "0.9-1.0", "lines": 1, "predicted": 0.95, "bought": 1.0},
    ]
    assert accuracy_by_offer(base) == {1: round(2 / 3, 4), 2: 0.5}
