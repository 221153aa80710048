"""Backtest: rebuild the model from scans before a date, predict, and score against what happened.

For each ``as_of`` the model is fitted on scans before it only; the following ``horizon`` days
are the truth. Reported for sku and subcategory level: precision@K, recall@K and hit rate for
the model and two baselines computed in the same run:

* ``top_frequency``: the member's items ranked by the number of past baskets containing them
  (ties: most recently bought first);
* ``decayed_frequency``: the same count with each basket weighted ``0.5 ** (age / half_life)``.

Members counted: a purchase before the date and at least one basket in the window.

The lifecycle check: members flagged ``declining`` or ``lapsed`` at the date against members
who then made few or no trips in the following 8 weeks (fewer than ``declining_ratio`` times
the trips their own pace over the previous 26 weeks would give).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from typing import Callable

import numpy as np

from .arrays import unique_inverse, unique_sorted
from .events import in_sorted, member_aggregates, trip_days
from .fit import fit_model
from .history import ScanHistory, day_number, day_to_date
from .lifecycle import DECLINING, LAPSED, NEW
from .params import ModelParams
from .ranking import RankingScore, evaluate_top_k, top_k
from .state import ModelState

BASELINE_HALF_LIFE_DAYS = 112.0
METHODS = ("model", "top_frequency", "decayed_frequency")
LEVELS = ("sku", "subcategory")


@dataclass(frozen=True)
class LifecycleCheck:
    members: int  # members with a norm to compare against (shopped, not new)
    flagged: int  # declining or lapsed at the date
    dropped: int  # made few or no trips in the following 8 weeks
    precision: float
    recall: float


@dataclass(frozen=True)
class CalibrationBin:
    low: float
    high: float
    pairs: int
    predicted: float
    observed: float


@dataclass
class BacktestResult:
    as_of: date
    horizon_days: int
    k: int
    scores: dict[tuple[str, str], RankingScore]  # (level, method) -> score
    lifecycle: LifecycleCheck
    calibration: dict[str, list[CalibrationBin]] = field(default_factory=dict)  # level -> bins
    fit_seconds: float = 0.0

    def ratio(self, level: str = "sku", baseline: str = "top_frequency") -> float:
        return self.scores[(level, "model")].precision / self.scores[(level, baseline)].precision


def run_backtest(
    history: ScanHistory,
    as_of: date,
    horizon_days: int = 14,
    k: int = 15,
    params: ModelParams | None = None,
    evaluate_members: np.ndarray | None = None,
    fit: Callable[[ScanHistory, int, ModelParams], ModelState] = fit_model,
) -> BacktestResult:
    """Fit at ``as_of`` on ``history`` (which must extend past the window) and score it.

    ``evaluate_members`` (boolean over member positions) restricts the members counted;
    ``fit`` fits the state (e.g. on member shards: the same state).
    """
    params = (params or ModelParams()).with_overrides(horizon_days=horizon_days)
    as_of_day = day_number(as_of)
    started = time.perf_counter()
    state = fit(history, as_of_day, params)
    fit_seconds = time.perf_counter() - started
    return evaluate_state(history, state, k, evaluate_members, fit_seconds)


def evaluate_state(
    history: ScanHistory,
    state: ModelState,
    k: int = 15,
    evaluate_members: np.ndarray | None = None,
    fit_seconds: float = 0.0,
) -> BacktestResult:
    """Score a state fitted at ``state.as_of`` against the following ``state.horizon_days``
    (one fit can be scored on several member subsets, e.g. a household split)."""
    as_of_day, horizon_days = state.as_of_day, state.horizon_days
    window_end = as_of_day + horizon_days
    n_members = len(history.members)
    catalog = history.catalog

    shopped_before = np.bincount(history.member_pos[history.day < as_of_day], minlength=n_members) > 0
    evaluated = shopped_before if evaluate_members is None else shopped_before & evaluate_members

    scores: dict[tuple[str, str], RankingScore] = {}
    calibration: dict[str, list[CalibrationBin]] = {}
    levels = {
        "sku": (history.product_pos.astype(np.int64), len(catalog), state.sku_member, state.sku_product, state.sku_probability),
        "subcategory": (catalog.need_group[history.product_pos].astype(np.int64), int(catalog.need_group_names.shape[0]),
                        state.need_member, state.need_group, state.need_probability),
    }
    for level, (item_of_line, n_items, model_member, model_item, model_p) in levels.items():
        actual = _bought_pairs(history, item_of_line, n_items, as_of_day, window_end)
        idx = top_k(model_member, model_p, k)
        scores[(level, "model")] = evaluate_top_k(model_member[idx], model_item[idx], actual, evaluated, n_items, k)
        member, item, count, last, decayed = _basket_counts(history, item_of_line, n_items, as_of_day)
        idx = top_k(member, count, k, tiebreak=last)
        scores[(level, "top_frequency")] = evaluate_top_k(member[idx], item[idx], actual, evaluated, n_items, k)
        idx = top_k(member, decayed, k)
        scores[(level, "decayed_frequency")] = evaluate_top_k(member[idx], item[idx], actual, evaluated, n_items, k)
        truth = in_sorted(actual, model_member.astype(np.int64) * n_items + model_item)
        rows = evaluated[model_member]
        calibration[level] = calibration_bins(model_p[rows], truth[rows])
    lifecycle = lifecycle_check(history, state, evaluated)
    return BacktestResult(day_to_date(as_of_day), horizon_days, k, scores, lifecycle, calibration, fit_seconds)


def _bought_pairs(history: ScanHistory, item_of_line: np.ndarray, n_items: int, start: int, end: int) -> np.ndarray:
    keep = (history.day >= start) & (history.day < end) & (history.quantity > 0)
    return unique_sorted(history.member_pos[keep].astype(np.int64) * n_items + item_of_line[keep])


def _basket_counts(
    history: ScanHistory, item_of_line: np.ndarray, n_items: int, as_of_day: int
) -> tuple[np.ndarray, ...]:
    """Per (member, item) before ``as_of``: baskets containing it, last day, decayed baskets."""
    keep = (history.day < as_of_day) & (history.quantity > 0)
    member = history.member_pos[keep].astype(np.int64)
    item = item_of_line[keep]
    basket = history.basket[keep]
    day = history.day[keep]
    frame_key = (member * n_items + item)
    order = np.lexsort((basket, frame_key))
    frame_key, basket, day = frame_key[order], basket[order], day[order]
    first_in_basket = np.r_[True, (frame_key[1:] != frame_key[:-1]) | (basket[1:] != basket[:-1])]
    frame_key, day = frame_key[first_in_basket], day[first_in_basket]
    pairs, inverse = unique_inverse(frame_key)
    count = np.bincount(inverse, minlength=pairs.shape[0]).astype(np.float64)
    last = np.zeros(pairs.shape[0], dtype=np.int64)
    np.maximum.at(last, inverse, day)
    decayed = np.bincount(
        inverse, weights=np.exp2(-(as_of_day - day) / BASELINE_HALF_LIFE_DAYS), minlength=pairs.shape[0]
    )
    return (pairs // n_items).astype(np.int64), pairs % n_items, count, last.astype(np.float64), decayed


def calibration_bins(p: np.ndarray, y: np.ndarray, edges: tuple[float, ...] = (0, .02, .05, .1, .2, .3, .5, .7, 1.0001)) -> list[CalibrationBin]:
    """Predicted vs observed purchase rate per probability band."""
    out = []
    which = np.digitize(p, edges[1:-1])
    for b in range(len(edges) - 1):
        rows = which == b
        if rows.any():
            out.append(CalibrationBin(edges[b], min(edges[b + 1], 1.0), int(rows.sum()), float(p[rows].mean()), float(y[rows].mean())))
    return out


def lifecycle_check(history: ScanHistory, state: ModelState, evaluated_scope: np.ndarray | None = None) -> LifecycleCheck:
    """How well declining/lapsed at ``as_of`` predicts few or no trips in the next 8 weeks."""
    as_of_day = state.as_of_day
    n_members = len(history.members)
    trip_member, trip_day = trip_days(history)
    before = member_aggregates(trip_member, trip_day, n_members, as_of_day)
    after = member_aggregates(trip_member, trip_day, n_members, as_of_day + 56)
    trips_next = after.trips - before.trips
    # The member's own pace: trips per week over the 26 weeks before as_of (or since the first trip).
    norm_start = as_of_day - 26 * 7
    in_norm = (trip_day >= norm_start) & (trip_day < as_of_day)
    norm_trips = np.bincount(trip_member[in_norm], minlength=n_members)
    weeks = np.clip((as_of_day - np.maximum(before.first_day, norm_start)) / 7.0, 1.0, 26.0)
    expected = norm_trips / weeks * 8.0
    stage = state.metrics.lifecycle_stage
    population = before.has_history & (stage != NEW)
    if evaluated_scope is not None:
        population &= evaluated_scope | ~before.has_history
    dropped = population & (trips_next < state.params.declining_ratio * expected)
    flagged = population & ((stage == DECLINING) | (stage == LAPSED))
    both = int((dropped & flagged).sum())
    return LifecycleCheck(
        members=int(population.sum()),
        flagged=int(flagged.sum()),
        dropped=int(dropped.sum()),
        precision=both / flagged.sum() if flagged.any() else float("nan"),
        recall=both / dropped.sum() if dropped.any() else float("nan"),
    )


__all__ = ["run_backtest", "evaluate_state", "BacktestResult", "LifecycleCheck", "CalibrationBin", "METHODS", "LEVELS", "ModelState"]
