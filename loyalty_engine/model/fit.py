"""Fitting the purchase-cycle model: need (subcategory) x choice (sku), with learned re-rankers.

``fit_model(history, as_of, params)`` learns from the member's own history only, at earlier
cut-offs ``as_of - k * window_step_days`` (k = 1..training_windows) whose label windows end on
or before ``as_of``: nothing after ``as_of`` is read. Then it scores every (member, subcategory)
and (member, sku) pair with history at ``as_of``, and computes the choice shares, the priors for
subcategories a member never bought, the category segments and the member metrics.

The steps are split for member shards (:mod:`loyalty_engine.model.partitioned`): ``Window``
(the days and training cut-offs), ``training_members`` (the seeded sample) and
``train_models`` (re-rankers, choice calibration, first-purchase rates on the sampled
members' history) run once for the chain; ``fit_model`` is the partitioned fit on one shard.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from datetime import date

import numpy as np
from scipy.special import expit

from .events import (
    MemberAggregates, PairAggregates, PurchaseEvents, TripIndex, in_sorted, member_aggregates, pair_aggregates, purchase_events,
    trip_days, window_pairs,
)
from .exact import fixed_bincount, from_fixed, to_fixed
from .features import (
    BASE_FEATURES, NEED_JOIN_FEATURES, ItemStats, PairCycle, base_features, finish_item_stats, item_partials,
    need_join_features, pair_cycle,
)
from .history import ScanHistory, day_number
from .params import ModelParams
from .reranker import Calibrator, Reranker, make_reranker
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
    chain: tuple[int, int] | None = None,
) -> Snapshot:
    """Pairs, item facts and cycles at ``cutoff``; ``chain`` = (shoppers, members with
    history) of the whole chain when ``members`` are a sample of it."""
    pairs = pair_aggregates(events, cutoff, HALF_LIVES, start=start)
    with_hazard = parent_stats is None or parent_stats.hazard is None
    partials = item_partials(pairs, events, members, with_hazard, start)
    if chain is not None:
        partials = replace(partials, shoppers=chain[0], with_history=chain[1])
    stats = finish_item_stats(partials, parent, parent_stats)
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


@dataclass(frozen=True)
class Window:
    """The days one fit reads: before ``as_of_day`` (and from ``start`` with a look-back), and
    the earlier cut-offs whose next ``horizon`` days train the re-rankers."""

    as_of_day: int
    start: int | None
    cutoffs: tuple[int, ...]

    @classmethod
    def of(cls, as_of: date | int, params: ModelParams) -> "Window":
        as_of_day = as_of if isinstance(as_of, int) else day_number(as_of)
        start = as_of_day - params.lookback_days if params.lookback_days else None
        cutoffs = [as_of_day - params.window_step_days * k for k in range(1, params.training_windows + 1)]
        kept = tuple(c for c in cutoffs if c + params.horizon_days <= as_of_day and (start is None or c > start))
        return cls(as_of_day, start, kept)

    def cut(self, history: ScanHistory) -> ScanHistory:
        history = history.before(self.as_of_day)
        return history if self.start is None else history.between(self.start, self.as_of_day)


@dataclass(frozen=True)
class Trained:
    """What is learned once for the whole chain from the training members' earlier windows."""

    need_model: Reranker
    sku_model: Reranker
    choice_calibration: Calibrator
    need_new_rate: np.ndarray


def fit_model(history: ScanHistory, as_of: date | int, params: ModelParams | None = None) -> ModelState:
    """Learn the model from scans before ``as_of`` and score every member at ``as_of``.

    The same map/reduce steps as the sharded fit (:mod:`loyalty_engine.model.partitioned`),
    on one shard holding every member, so the two give the same state bit for bit."""
    from .partitioned import InMemorySource, LocalRunner, fit_partitioned

    return fit_partitioned(LocalRunner(), InMemorySource(history), as_of, params or ModelParams(), n_shards=1)


def train_models(
    sample: ScanHistory, window: Window, params: ModelParams, chain_counts: np.ndarray, rng: np.random.Generator,
) -> Trained:
    """Fit the re-rankers, the choice calibration and the first-purchase rates on the
    training members' history (``sample``, already cut to the window).

    ``chain_counts[i]`` = (members who shopped in the 8 weeks before cut-off ``i``, members
    with any trip before it) over the whole chain: the item penetration and buyer share are
    rates over every member, not just the sample. ``rng`` continues the stream that drew the
    sample (negative sampling of the training rows).
    """
    started = time.perf_counter()
    catalog = sample.catalog
    n_members, n_products = len(sample.members), len(catalog)
    need_of_sku = catalog.need_group
    n_needs = int(catalog.need_group_names.shape[0])
    horizon = params.horizon_days
    start = window.start
    sku_train_events = purchase_events(sample, np.arange(n_products, dtype=np.int32), n_products)
    need_train_events = purchase_events(sample, need_of_sku, n_needs)
    trip_member, trip_day = trip_days(sample)
    trips = TripIndex(trip_member, trip_day)

    need_rows, sku_rows = _Level([], [], []), _Level([], [], [])
    # Per window: every need pair's features and, per kept sku row, its need pair, so the
    # fitted need model's scores can be stacked onto the sku rows afterwards.
    window_need_X: list[np.ndarray] = []
    window_sku_need_row: list[np.ndarray] = []
    choice_rows: list[tuple[np.ndarray, np.ndarray]] = []
    new_need_counts = np.zeros(n_needs)
    new_need_exposure = np.zeros(n_needs)
    for cutoff, counts in zip(window.cutoffs, chain_counts):
        members = member_aggregates(trip_member, trip_day, n_members, cutoff)
        chain = (int(counts[0]), int(counts[1]))
        need = _snapshot(need_train_events, cutoff, members, params, start, chain=chain)
        if len(need.pairs) == 0:
            continue
        sku = _snapshot(sku_train_events, cutoff, members, params, start, parent=need_of_sku, parent_stats=need.stats,
                        chain=chain)
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
        counts_new, exposure = _new_need_examples(need, members, need_bought, horizon)
        new_need_counts += counts_new
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
    log.info("re-rankers fitted (%.1fs)", time.perf_counter() - started)
    return Trained(need_model, sku_model, choice_calibration, _new_need_rate(new_need_counts, new_need_exposure))


def _stacked_sku_features(
    sku: Snapshot, need: Snapshot, members: MemberAggregates, trips: TripIndex, need_of_sku: np.ndarray,
    horizon: int, need_probability: np.ndarray, rows: slice,
) -> np.ndarray:
    X, need_row = _sku_features(sku, need, members, trips, need_of_sku, horizon, rows)
    return _with_need_score(X, need_probability[need_row])


def training_members(n_members: int, n_lines: int, params: ModelParams, rng: np.random.Generator) -> np.ndarray:
    """Members whose earlier windows train the re-rankers (all, or a random sample when many),
    as a mask over the chain's member positions; draws from ``rng`` only when sampling."""
    lines_per_member = n_lines / max(n_members, 1)
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
    return choice_share_from_weight(choice_weight(pairs), need_of_sku, n_needs)


def choice_weight(pairs: PairAggregates) -> np.ndarray:
    """Each sku's recency-weighted purchase days over these members (fixed point, exact: it
    adds up across member shards)."""
    return fixed_bincount(pairs.item, to_fixed(pairs.decayed[:, CHOICE_HALF_LIFE_COLUMN]), pairs.n_items)


def choice_share_from_weight(weight_fixed: np.ndarray, need_of_sku: np.ndarray, n_needs: int) -> np.ndarray:
    """Each sku's share of its subcategory's recent purchases across all members (smoothed)."""
    weight = np.asarray(from_fixed(weight_fixed))
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
    need: Snapshot, members: MemberAggregates, need_bought: np.ndarray, horizon: int,
) -> tuple[np.ndarray, np.ndarray]:
    """First purchases of a subcategory in the window, and the exposure (expected trips) of the
    members who had never bought it."""
    n_needs = int(need.stats.log_interval.shape[0])
    activity = _expected_trips(members, horizon).astype(np.float64)
    eligible = members.trips > 0
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
