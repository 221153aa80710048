"""Fitting the purchase-cycle model: need (subcategory) x choice (sku), with learned re-rankers.

``fit_model(history, as_of, params)`` learns from the member's own history only, at earlier
cut-offs ``as_of - k * window_step_days`` (k = 1..training_windows) whose label windows end on
or before ``as_of``: nothing after ``as_of`` is read. Then it scores every (member, subcategory)
and (member, sku) pair with history at ``as_of``, and computes the choice shares, the priors for
subcategories a member never bought, the category segments and the member metrics.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date

import numpy as np
from scipy.special import expit

from .events import (
    MemberAggregates, PairAggregates, PurchaseEvents, TripIndex, in_sorted, member_aggregates,
    pair_aggregates, purchase_events, trip_days, window_pairs,
)
from .features import (
    BASE_FEATURES, NEED_JOIN_FEATURES, ItemStats, PairCycle, base_features, expected_next_day,
    item_stats, need_join_features, pair_cycle,
)
from .history import ScanHistory, day_number
from .lifecycle import member_metrics
from .params import ModelParams
from .reranker import Calibrator, Reranker, make_reranker
from .segments import category_segments
from .state import ModelState

log = logging.getLogger(__name__)

HALF_LIVES = (14.0, 28.0, 56.0, 112.0)  # BASE_FEATURES use these four, in this order
SKU_FEATURES = (*BASE_FEATURES, *NEED_JOIN_FEATURES, "need_model_logit")
CHOICE_HALF_LIFE_COLUMN = 3  # choice shares use the 112-day decayed purchase weight
FEATURE_CHUNK = 2_000_000


@dataclass(frozen=True)
class Snapshot:
    """One level (sku or need) at one cut-off."""

    pairs: PairAggregates
    stats: ItemStats
    cycle: PairCycle


def _snapshot(
    events: PurchaseEvents,
    cutoff: int,
    members: MemberAggregates,
    params: ModelParams,
    start: int | None,
    parent: np.ndarray | None = None,
    parent_stats: ItemStats | None = None,
) -> Snapshot:
    pairs = pair_aggregates(events, cutoff, HALF_LIVES, start=start)
    stats = item_stats(pairs, events, members, parent=parent, parent_stats=parent_stats, start=start)
    cycle = pair_cycle(pairs, stats, params.horizon_days, params.interval_prior_strength, params.renewal_shape)
    return Snapshot(pairs, stats, cycle)


def _cycle_rows(cycle: PairCycle, rows: slice) -> PairCycle:
    return PairCycle(cycle.interval[rows], cycle.since[rows], cycle.ratio[rows], cycle.renewal_probability[rows])


def _sku_features(
    sku: Snapshot, need: Snapshot, members: MemberAggregates, trips: TripIndex, need_of_sku: np.ndarray,
    horizon: int, rows: slice | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Sku pair features without the stacked need score, and each pair's need-pair row."""
    pairs, cycle = sku.pairs, sku.cycle
    if rows is not None:
        pairs = pairs.rows(rows.start, rows.stop)
        cycle = _cycle_rows(cycle, rows)
    base = base_features(pairs, members, sku.stats, cycle, trips, horizon)
    joined, need_row = need_join_features(pairs, need.pairs, need_of_sku, need.cycle, need.stats)
    # Joined through the transposes so the result stays column-major (see feature_matrix).
    return np.concatenate([base.T, joined.T], axis=0).T, need_row


def _with_need_score(X: np.ndarray, need_probability: np.ndarray) -> np.ndarray:
    """Append the need re-ranker's verdict on the pair's subcategory (stacking): the sku model
    then only has to learn the choice among the member's skus of a need it trusts."""
    p = np.clip(need_probability.astype(np.float64), 1e-6, 1 - 1e-6)
    column = np.log(p / (1 - p)).astype(np.float32)
    return np.concatenate([X.T, column[None, :]], axis=0).T


@dataclass
class _Level:
    X: list[np.ndarray]
    y: list[np.ndarray]
    w: list[np.ndarray]

    def add(self, X: np.ndarray, y: np.ndarray, rng: np.random.Generator, keep_negative: float) -> np.ndarray:
        """Keep the positives and a sample of negatives (re-weighted); returns the kept rows."""
        negative = ~y
        keep = ~negative | (rng.random(y.shape[0]) < keep_negative)
        self.X.append(X[keep])
        self.y.append(y[keep])
        self.w.append(np.where(negative[keep], 1.0 / keep_negative, 1.0))
        return keep

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return np.vstack(self.X), np.concatenate(self.y), np.concatenate(self.w)


def fit_model(history: ScanHistory, as_of: date | int, params: ModelParams | None = None) -> ModelState:
    """Learn the model from scans before ``as_of`` and score every member at ``as_of``."""
    params = params or ModelParams()
    started = time.perf_counter()
    as_of_day = as_of if isinstance(as_of, int) else day_number(as_of)
    start = as_of_day - params.lookback_days if params.lookback_days else None
    history = history.before(as_of_day)
    if start is not None:
        history = history.between(start, as_of_day)
    catalog = history.catalog
    n_members, n_products = len(history.members), len(catalog)
    need_of_sku = catalog.need_group
    n_needs = int(catalog.need_group_names.shape[0])
    horizon = params.horizon_days

    sku_events = purchase_events(history, np.arange(n_products, dtype=np.int32), n_products)
    need_events = purchase_events(history, need_of_sku, n_needs)
    trip_member, trip_day = trip_days(history)
    trips = TripIndex(trip_member, trip_day)

    rng = np.random.default_rng(params.seed)
    sample = _training_members(history, params, rng)
    sku_train_events = sku_events.for_members(sample)
    need_train_events = need_events.for_members(sample)

    need_rows, sku_rows = _Level([], [], []), _Level([], [], [])
    # Per window: every need pair's features and, per kept sku row, its need pair, so the
    # fitted need model's scores can be stacked onto the sku rows afterwards.
    window_need_X: list[np.ndarray] = []
    window_sku_need_row: list[np.ndarray] = []
    choice_rows: list[tuple[np.ndarray, np.ndarray]] = []
    new_need_counts = np.zeros(n_needs)
    new_need_exposure = np.zeros(n_needs)
    cutoffs = [as_of_day - params.window_step_days * k for k in range(1, params.training_windows + 1)]
    cutoffs = [c for c in cutoffs if c + horizon <= as_of_day and (start is None or c > start)]
    for cutoff in cutoffs:
        members = member_aggregates(trip_member, trip_day, n_members, cutoff)
        need = _snapshot(need_train_events, cutoff, members, params, start)
        if len(need.pairs) == 0:
            continue
        sku = _snapshot(sku_train_events, cutoff, members, params, start, parent=need_of_sku, parent_stats=need.stats)
        need_bought = window_pairs(need_train_events, cutoff, cutoff + horizon)
        sku_bought = window_pairs(sku_train_events, cutoff, cutoff + horizon)
        need_y = in_sorted(need_bought, need.pairs.pair_key())
        sku_y = in_sorted(sku_bought, sku.pairs.pair_key())
        need_X = base_features(need.pairs, members, need.stats, need.cycle, trips, horizon)
        need_rows.add(need_X, need_y, rng, params.negative_sample)
        sku_X, sku_need_row = _sku_features(sku, need, members, trips, need_of_sku, horizon)
        kept = sku_rows.add(sku_X, sku_y, rng, params.negative_sample)
        window_sku_need_row.append(sku_need_row[kept])
        window_need_X.append(need_X)
        choice_rows.append(_choice_examples(sku, need, need_of_sku, need_y, sku_y, params.choice_prior_strength))
        counts, exposure = _new_need_examples(need, members, need_bought, sample, horizon)
        new_need_counts += counts
        new_need_exposure += exposure
    log.info("training rows: need %s, sku %s (%.1fs)", sum(map(len, need_rows.y)), sum(map(len, sku_rows.y)),
             time.perf_counter() - started)

    need_model = _fit_reranker(need_rows, params, default_features=len(BASE_FEATURES))
    sku_rows.X = [
        _with_need_score(X, need_model.predict(need_X)[need_row])
        for X, need_X, need_row in zip(sku_rows.X, window_need_X, window_sku_need_row)
    ]
    del window_need_X
    sku_model = _fit_reranker(sku_rows, params, default_features=len(SKU_FEATURES))
    choice_calibration = Calibrator()
    if choice_rows:
        q = np.concatenate([c[0] for c in choice_rows])
        y = np.concatenate([c[1] for c in choice_rows])
        choice_calibration.fit(q, y)
    new_need_rate = _new_need_rate(new_need_counts, new_need_exposure)
    log.info("re-rankers fitted (%.1fs)", time.perf_counter() - started)

    # --- score everyone at as_of ------------------------------------------------------------
    members = member_aggregates(trip_member, trip_day, n_members, as_of_day)
    need = _snapshot(need_events, as_of_day, members, params, start)
    sku = _snapshot(sku_events, as_of_day, members, params, start, parent=need_of_sku, parent_stats=need.stats)
    need_probability = _predict(need_model, lambda rows: base_features(
        need.pairs.rows(rows.start, rows.stop), members, need.stats, _cycle_rows(need.cycle, rows), trips, horizon
    ), len(need.pairs))
    sku_probability = _predict(sku_model, lambda rows: _stacked_sku_features(
        sku, need, members, trips, need_of_sku, horizon, need_probability, rows
    ), len(sku.pairs))
    log.info("scored %s need pairs, %s sku pairs (%.1fs)", len(need.pairs), len(sku.pairs), time.perf_counter() - started)

    share = _population_choice_share(sku.pairs, need_of_sku, n_needs)
    segments = category_segments(history, as_of_day, params)
    metrics = member_metrics(
        history, as_of_day, params, trip_member=trip_member, trip_day=trip_day, sku_events=sku_events,
        segments=segments,
    )
    return ModelState(
        as_of_day=as_of_day,
        horizon_days=horizon,
        params=params,
        member_key=history.members.member_key,
        member_id=history.members.member_id,
        product_key=catalog.product_key,
        sku=catalog.sku,
        need_of_product=need_of_sku,
        need_names=catalog.need_group_names,
        need_category=catalog.need_group_category,
        category_names=catalog.category_names,
        is_store_brand=catalog.is_store_brand,
        sku_member=sku.pairs.member,
        sku_product=sku.pairs.item,
        sku_probability=sku_probability.astype(np.float32),
        sku_expected_day=expected_next_day(sku.cycle, as_of_day, params.renewal_shape),
        sku_weight=sku.pairs.decayed[:, CHOICE_HALF_LIFE_COLUMN].astype(np.float32),
        sku_purchase_days=sku.pairs.count.astype(np.int32),
        sku_last_day=sku.pairs.last_day,
        need_member=need.pairs.member,
        need_group=need.pairs.item,
        need_probability=need_probability.astype(np.float32),
        need_expected_day=expected_next_day(need.cycle, as_of_day, params.renewal_shape),
        need_weight=need.pairs.decayed[:, CHOICE_HALF_LIFE_COLUMN].astype(np.float32),
        need_interval_days=need.cycle.interval.astype(np.float32),
        product_choice_share=share,
        choice_slope=choice_calibration.slope,
        choice_offset=choice_calibration.offset,
        need_new_rate=new_need_rate,
        member_expected_trips=_expected_trips(members, horizon),
        segments=segments,
        metrics=metrics,
        need_model=need_model,
        sku_model=sku_model,
    )


def _stacked_sku_features(
    sku: Snapshot, need: Snapshot, members: MemberAggregates, trips: TripIndex, need_of_sku: np.ndarray,
    horizon: int, need_probability: np.ndarray, rows: slice,
) -> np.ndarray:
    X, need_row = _sku_features(sku, need, members, trips, need_of_sku, horizon, rows)
    return _with_need_score(X, need_probability[need_row])


def _training_members(history: ScanHistory, params: ModelParams, rng: np.random.Generator) -> np.ndarray:
    """Members whose earlier windows train the re-rankers (all, or a random sample when many)."""
    n_members = len(history.members)
    lines_per_member = len(history) / max(n_members, 1)
    # About one training row per 1.5 scan lines per window before negative sampling.
    rows_per_member = max(lines_per_member / 1.5 * params.training_windows * params.negative_sample, 1.0)
    wanted = int(params.max_training_rows / rows_per_member)
    keep = np.ones(n_members, dtype=bool)
    if wanted < n_members:
        keep[:] = False
        keep[rng.choice(n_members, size=wanted, replace=False)] = True
    return keep


def _fit_reranker(rows: _Level, params: ModelParams, default_features: int) -> Reranker:
    model = make_reranker(
        params.reranker, params.l2, params.seed, trees=params.boost_trees, depth=params.boost_depth,
        learning_rate=params.boost_learning_rate, rows_per_tree=params.boost_rows_per_tree,
    )
    if rows.X:
        X, y, w = rows.arrays()
        if 0 < y.sum() < y.shape[0]:
            return model.fit(X, y, w)
    # Too little history to learn from: fit on nothing learns the prior rate only.
    X = np.zeros((2, default_features), dtype=np.float32)
    return model.fit(X, np.array([False, True]), np.array([99.0, 1.0]))


def _predict(model: Reranker, features, n_rows: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    out = np.empty(n_rows, dtype=np.float32)
    for begin in range(0, n_rows, FEATURE_CHUNK):
        rows = slice(begin, min(begin + FEATURE_CHUNK, n_rows))
        out[rows] = model.predict(features(rows))
    return out


def _population_choice_share(pairs: PairAggregates, need_of_sku: np.ndarray, n_needs: int) -> np.ndarray:
    """Each sku's share of its subcategory's recent purchases across all members (smoothed)."""
    n_products = pairs.n_items
    weight = np.bincount(pairs.item, weights=pairs.decayed[:, CHOICE_HALF_LIFE_COLUMN], minlength=n_products)
    # A small uniform floor so a sku nobody bought recently keeps a tiny share.
    smoothed = weight + 0.01
    need_total = np.bincount(need_of_sku, weights=smoothed, minlength=n_needs)
    return smoothed / need_total[need_of_sku]


def choice_share(
    member_weight_in_scope: np.ndarray, member_weight_in_need: np.ndarray, population_share: np.ndarray,
    strength: float,
) -> np.ndarray:
    """Shrunk share of a member's subcategory purchases that go to a set of skus (Dirichlet mean)."""
    return (member_weight_in_scope + strength * population_share) / (member_weight_in_need + strength)


def _choice_examples(
    sku: Snapshot, need: Snapshot, need_of_sku: np.ndarray, need_y: np.ndarray, sku_y: np.ndarray, strength: float,
) -> tuple[np.ndarray, np.ndarray]:
    """(choice share, bought it) for subcategory purchases in the window.

    One row per sku the member bought before, plus one row for "any sku new to the member",
    so the calibration of the choice share covers brand-switch scopes too.
    """
    share = _population_choice_share(sku.pairs, need_of_sku, int(need.stats.log_interval.shape[0]))
    need_key = sku.pairs.member.astype(np.int64) * need.pairs.n_items + need_of_sku[sku.pairs.item]
    row = np.searchsorted(need.pairs.pair_key(), need_key)
    col = CHOICE_HALF_LIFE_COLUMN
    in_window = need_y[row]
    q_known = choice_share(sku.pairs.decayed[:, col], need.pairs.decayed[row, col], share[sku.pairs.item], strength)
    known_share = np.bincount(row, weights=share[sku.pairs.item], minlength=len(need.pairs))
    bought_known = np.bincount(row, weights=sku_y.astype(np.float64), minlength=len(need.pairs))
    # A need bought in the window but none of its known skus bought -> a new sku was chosen.
    new_q = choice_share(0.0, need.pairs.decayed[:, col], np.clip(1.0 - known_share, 1e-6, 1.0), strength)
    new_y = need_y & (bought_known == 0)
    return (
        np.concatenate([q_known[in_window], new_q[need_y]]),
        np.concatenate([sku_y[in_window], new_y[need_y]]),
    )


def _expected_trips(members: MemberAggregates, horizon: int) -> np.ndarray:
    """Trips expected in the horizon at the member's recent pace (8 weeks, blended with life-long)."""
    recent = members.trips_8w / 56.0
    lifelong = members.weekly_trip_rate / 7.0
    rate = np.where(members.trips > 0, 0.7 * recent + 0.3 * lifelong, 0.0)
    return (rate * horizon).astype(np.float32)


def _new_need_examples(
    need: Snapshot, members: MemberAggregates, need_bought: np.ndarray, sample: np.ndarray, horizon: int,
) -> tuple[np.ndarray, np.ndarray]:
    """First purchases of a subcategory in the window, and the exposure (expected trips) of the
    members who had never bought it."""
    n_needs = int(need.stats.log_interval.shape[0])
    activity = _expected_trips(members, horizon).astype(np.float64)
    eligible = sample & (members.trips > 0)
    total_exposure = activity[eligible].sum()
    had = np.bincount(need.pairs.item, weights=activity[need.pairs.member], minlength=n_needs)
    exposure = total_exposure - had
    bought_member = (need_bought // n_needs).astype(np.int64)
    bought_need = (need_bought % n_needs).astype(np.int64)
    first_time = ~in_sorted(need.pairs.pair_key(), need_bought) & eligible[bought_member]
    counts = np.bincount(bought_need[first_time], minlength=n_needs).astype(np.float64)
    return counts, np.maximum(exposure, 0.0)


def _new_need_rate(counts: np.ndarray, exposure: np.ndarray) -> np.ndarray:
    """First-purchase rate per expected trip for each subcategory, shrunk to the overall rate."""
    overall = counts.sum() / max(exposure.sum(), 1e-9)
    strength = 1.0 / max(overall, 1e-9)  # one pseudo-purchase's worth of exposure
    return ((counts + 1.0) / (exposure + strength)).astype(np.float64)


def new_need_probability(rate: np.ndarray, expected_trips: np.ndarray) -> np.ndarray:
    """P(first purchase of the subcategory in the horizon) for a member who never bought it."""
    return 1.0 - np.exp(-rate * expected_trips)


__all__ = ["fit_model", "choice_share", "new_need_probability", "HALF_LIVES", "expit"]
