"""The model fit partitioned by member: map on member shards, an explicit reduce, broadcast.

Members are split into contiguous ranges of the member key (``member_ranges``), so a shard's
history is one index range scan of ``scan_lines`` and the shards' parts concatenate in chain
order. The fit runs in three rounds of shard tasks, each task loading its own shard's history
(a worker holds one shard's history at a time):

1. **summarize** (map): each shard returns its partial sufficient statistics, integers and
   fixed-point sums only (``ItemPartials`` per subcategory and sku, the skus' recency weights,
   each member's trip span and the spend-per-trip sum, line and shopper counts);
2. **reduce** (client): the partials are added (exactly, so in any order) into the chain's
   item and subcategory statistics and priors, the population choice shares, the BG/NBD
   parameters and the population spend per trip; the **training** members are drawn from the
   chain's counts and one task fits the re-rankers, the choice calibration and first-purchase
   rates on their history (bounded by ``max_training_rows``, whatever the chain's size);
3. **score** (map, with the reduce's result broadcast): each shard computes its pairs' cycles,
   features and probabilities, its segments and member metrics.

Finally the client concatenates the parts and ranks what is ranked across the chain (usage
tiers within each category, value tiers). The one-process fit (``fit_model``) is this with one
shard, so any number of shards gives the same state bit for bit.
"""
from __future__ import annotations

import logging
import os
import pickle
import shutil
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .events import TripIndex, member_aggregates, pair_aggregates, purchase_events, trip_days
from .exact import from_fixed
from .features import (
    ItemPartials, ItemStats, base_features, expected_next_day, finish_item_stats, item_partials, pair_cycle,
)
from .fit import (
    CHOICE_HALF_LIFE_COLUMN, HALF_LIVES, Snapshot, Trained, Window, _cycle_rows, _expected_trips, _predict,
    _stacked_sku_features, choice_share_from_weight, choice_weight, train_models, training_members,
)
from .history import ScanHistory
from .lifecycle import (
    PER_TRIP_BITS, chain_bgnbd, member_metrics, population_spend_per_trip, spend_per_trip,
    trip_span, value_tiers,
)
from .params import ModelParams
from .parts import PartSummary, building_folder, concat_states, finish_parts, publish, write_part
from .segments import category_segments, chain_usage_tiers
from .state import ModelState, mean_shopper_trips

log = logging.getLogger(__name__)


# --- where shards come from ------------------------------------------------------------------


@dataclass(frozen=True)
class MemberRange:
    """A shard: chain member positions ``[lo, hi)`` with keys ``lo_key..hi_key`` (inclusive)."""

    lo: int
    hi: int
    lo_key: int
    hi_key: int


def member_ranges(member_key: np.ndarray, n_shards: int) -> list[MemberRange]:
    """Contiguous, equal-sized ranges of the (ascending) member keys; never empty ones unless
    the chain has no members at all."""
    n = int(member_key.shape[0])
    if n == 0:
        return [MemberRange(0, 0, 0, -1)]
    bounds = np.unique(np.linspace(0, n, max(1, min(n_shards, n)) + 1).round().astype(np.int64))
    return [MemberRange(int(a), int(b), int(member_key[a]), int(member_key[b - 1]))
            for a, b in zip(bounds[:-1], bounds[1:])]


class HistorySource(Protocol):
    """Where a shard task reads its members' scan history (uncut: the task cuts the window)."""

    def member_keys(self) -> np.ndarray: ...

    def load(self, shard: MemberRange) -> ScanHistory: ...

    def load_members(self, member_keys: np.ndarray | None) -> ScanHistory: ...


@dataclass
class InMemorySource:
    """A history already in memory (tests, backtests, the accuracy benchmark)."""

    history: ScanHistory

    def member_keys(self) -> np.ndarray:
        return self.history.members.member_key

    def load(self, shard: MemberRange) -> ScanHistory:
        return self.history.member_slice(np.arange(shard.lo, shard.hi))

    def load_members(self, member_keys: np.ndarray | None) -> ScanHistory:
        if member_keys is None:
            return self.history
        return self.history.member_slice(np.sort(self.history.members.positions(member_keys)))


@dataclass(frozen=True)
class DatabaseSource:
    """``scan_lines`` of the database at ``url``: each task opens its own connection and
    reads its member key range (the ``(member_key, business_date)`` index)."""

    url: str
    as_of: date
    lookback_days: int | None = None

    def _engine(self):  # type: ignore[no-untyped-def]
        from ..db import make_engine

        return make_engine(self.url)

    def member_keys(self) -> np.ndarray:
        from sqlalchemy import select

        from ..models.members import Member

        engine = self._engine()
        try:
            with engine.connect() as conn:
                keys = conn.execute(select(Member.id).order_by(Member.id)).scalars().all()
        finally:
            engine.dispose()
        return np.asarray(keys, dtype=np.int64)

    def _load(self, **where: Any) -> ScanHistory:
        from .history import load_history

        engine = self._engine()
        try:
            return load_history(engine, self.as_of, self.lookback_days, **where)
        finally:
            engine.dispose()

    def load(self, shard: MemberRange) -> ScanHistory:
        if shard.hi <= shard.lo:
            return self._load(member_keys=np.empty(0, np.int64))
        return self._load(member_key_range=(shard.lo_key, shard.hi_key))

    def load_members(self, member_keys: np.ndarray | None) -> ScanHistory:
        return self._load() if member_keys is None else self._load(member_keys=member_keys)


@dataclass(frozen=True)
class SpilledSource:
    """A source whose shard histories are kept, once read, in files of ``folder`` until the
    score round has read them again: each shard's lines come from the database once, and a
    worker still holds one shard at a time. (On a cluster of several machines ``folder`` is
    on the storage every worker shares, where the state's parts go.)"""

    inner: HistorySource
    folder: Path

    def member_keys(self) -> np.ndarray:
        return self.inner.member_keys()

    def _path(self, shard: MemberRange) -> Path:
        return self.folder / f"history-{shard.lo}-{shard.hi}.pickle"

    def load(self, shard: MemberRange) -> ScanHistory:
        path = self._path(shard)
        if path.is_file():
            with path.open("rb") as f:
                return pickle.load(f)  # noqa: S301 - written just before by this fit
        history = self.inner.load(shard)
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        with tmp.open("wb") as f:
            pickle.dump(history, f, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(path)
        return history

    def forget(self, shard: MemberRange) -> None:
        self._path(shard).unlink(missing_ok=True)

    def load_members(self, member_keys: np.ndarray | None) -> ScanHistory:
        return self.inner.load_members(member_keys)


class LocalRunner:
    """Runs the shard tasks here, one after another (a Dask client's submit/gather/scatter)."""

    def submit(self, fn, *args, **_kw):  # type: ignore[no-untyped-def]
        return fn(*args)

    def gather(self, values):  # type: ignore[no-untyped-def]
        return values

    def scatter(self, value, **_kw):  # type: ignore[no-untyped-def]
        return value


class NoScans(ValueError):
    """No member scan before the date: nothing to fit."""


# --- 1. summarize (map) ----------------------------------------------------------------------


@dataclass
class ShardSummary:
    """One shard's partial sufficient statistics (integers and fixed-point sums)."""

    n_lines: int
    n_members: int
    cutoff_counts: np.ndarray  # int64 (training cut-offs, 2): shoppers in 8 weeks, members with history
    need: ItemPartials
    sku: ItemPartials
    choice_weight: np.ndarray  # int64 fixed point per sku
    trips: np.ndarray  # int32 per member: trips, first and last trip day (BG/NBD inputs)
    first_day: np.ndarray
    last_day: np.ndarray
    per_trip_sum: int  # fixed-point sum of spend per trip over members who shopped
    shopped: int
    need_of_sku: np.ndarray
    n_needs: int


def _shard_events(history: ScanHistory) -> tuple[int, np.ndarray, int, Any, Any, np.ndarray, np.ndarray]:
    """What both passes start from: the shard's members, each product's need group and how many
    there are, purchase events per sku and per need group, and the trips (member, day).
    A tuple, not an object, so a pass can drop the events it is done with."""
    catalog = history.catalog
    n_products = len(catalog)
    need_of_sku, n_needs = catalog.need_group, int(catalog.need_group_names.shape[0])
    sku_events = purchase_events(history, np.arange(n_products, dtype=np.int32), n_products)
    need_events = purchase_events(history, need_of_sku, n_needs)
    trip_member, trip_day = trip_days(history)
    return len(history.members), need_of_sku, n_needs, sku_events, need_events, trip_member, trip_day


def summarize_shard(history: ScanHistory, window: Window, params: ModelParams) -> ShardSummary:
    """The map step's first pass over a shard's history (cut to the window)."""
    as_of, start = window.as_of_day, window.start
    n, need_of_sku, n_needs, sku_events, need_events, trip_member, trip_day = _shard_events(history)
    counts = np.zeros((len(window.cutoffs), 2), dtype=np.int64)
    for i, cutoff in enumerate(window.cutoffs):
        at = member_aggregates(trip_member, trip_day, n, cutoff)
        counts[i] = (int((at.trips_8w > 0).sum()), int((at.trips > 0).sum()))
    members = member_aggregates(trip_member, trip_day, n, as_of)
    need_pairs = pair_aggregates(need_events, as_of, HALF_LIVES, start=start)
    need = item_partials(need_pairs, need_events, members, with_hazard=True, start=start)
    del need_pairs, need_events
    sku_pairs = pair_aggregates(sku_events, as_of, HALF_LIVES, start=start)
    sku = item_partials(sku_pairs, sku_events, members, with_hazard=False, start=start)
    weight = choice_weight(sku_pairs)
    trips, first, last = trip_span(trip_member, trip_day, n, as_of)
    per_trip_sum, shopped = population_spend_per_trip(spend_per_trip(history, trips, n), trips > 0)
    return ShardSummary(
        n_lines=len(history), n_members=n, cutoff_counts=counts, need=need, sku=sku, choice_weight=weight,
        trips=trips.astype(np.int32), first_day=first.astype(np.int32), last_day=last.astype(np.int32),
        per_trip_sum=per_trip_sum, shopped=shopped, need_of_sku=need_of_sku, n_needs=n_needs,
    )


def summarize_task(source: HistorySource, shard: MemberRange, window: Window, params: ModelParams) -> ShardSummary:
    return summarize_shard(window.cut(source.load(shard)), window, params)


# --- 2. reduce (client) and training (one task) ----------------------------------------------


@dataclass
class ChainModel:
    """What the reduce step broadcasts to every shard for scoring."""

    need_stats: ItemStats
    sku_stats: ItemStats
    choice_share: np.ndarray
    trained: Trained
    bgnbd: np.ndarray
    population_per_trip: float


def _total(parts: list[Any]) -> Any:
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


def reduce_statistics(summaries: list[ShardSummary], window: Window, params: ModelParams,
                      ) -> tuple[ItemStats, ItemStats, np.ndarray, np.ndarray, float]:
    """The chain's item facts, choice shares, BG/NBD parameters and spend per trip."""
    need_of_sku, n_needs = summaries[0].need_of_sku, summaries[0].n_needs
    need_stats = finish_item_stats(_total([s.need for s in summaries]))
    sku_stats = finish_item_stats(_total([s.sku for s in summaries]), parent=need_of_sku, parent_stats=need_stats)
    share = choice_share_from_weight(_total([s.choice_weight for s in summaries]), need_of_sku, n_needs)
    # Every member's trip span, in chain order (the shards are contiguous ranges, in order).
    trips, first, last = (np.concatenate([getattr(s, f).astype(np.int64) for s in summaries])
                          for f in ("trips", "first_day", "last_day"))
    bg = chain_bgnbd(trips, first, last, window.as_of_day, params.seed)
    shopped = sum(s.shopped for s in summaries)
    total = sum(s.per_trip_sum for s in summaries)
    per_trip = float(from_fixed(total, PER_TRIP_BITS)) / shopped if shopped else 0.0
    return need_stats, sku_stats, share, bg, per_trip


def train_task(source: HistorySource, sample_keys: np.ndarray | None, window: Window, params: ModelParams,
               chain_counts: np.ndarray, rng: np.random.Generator) -> Trained:
    return train_models(window.cut(source.load_members(sample_keys)), window, params, chain_counts, rng)


# --- 3. score (map) --------------------------------------------------------------------------


def score_shard(history: ScanHistory, window: Window, params: ModelParams, chain: ChainModel) -> ModelState:
    """Every pair and member of the shard scored with the chain's statistics and re-rankers
    (member positions local to the shard; ranked tiers are redone over the chain)."""
    as_of, start, horizon = window.as_of_day, window.start, params.horizon_days
    catalog = history.catalog
    n, need_of_sku, _n_needs, sku_events, need_events, trip_member, trip_day = _shard_events(history)
    trips = TripIndex(trip_member, trip_day)
    members = member_aggregates(trip_member, trip_day, n, as_of)
    need_pairs = pair_aggregates(need_events, as_of, HALF_LIVES, start=start)
    need = Snapshot(need_pairs, chain.need_stats, pair_cycle(
        need_pairs, chain.need_stats, horizon, params.interval_prior_strength, params.renewal_shape))
    sku_pairs = pair_aggregates(sku_events, as_of, HALF_LIVES, start=start)
    sku = Snapshot(sku_pairs, chain.sku_stats, pair_cycle(
        sku_pairs, chain.sku_stats, horizon, params.interval_prior_strength, params.renewal_shape))
    trained = chain.trained
    need_probability = _predict(trained.need_model, lambda rows: base_features(
        need.pairs.rows(rows.start, rows.stop), members, need.stats, _cycle_rows(need.cycle, rows), trips, horizon
    ), len(need.pairs))
    sku_probability = _predict(trained.sku_model, lambda rows: _stacked_sku_features(
        sku, need, members, trips, need_of_sku, horizon, need_probability, rows
    ), len(sku.pairs))
    segments = category_segments(history, as_of, params)
    metrics = member_metrics(
        history, as_of, params, trip_member=trip_member, trip_day=trip_day, sku_events=sku_events,
        segments=segments, bgnbd=chain.bgnbd, population_per_trip=chain.population_per_trip,
    )
    return ModelState(
        as_of_day=as_of, horizon_days=horizon, params=params,
        member_key=history.members.member_key, member_id=history.members.member_id,
        product_key=catalog.product_key, sku=catalog.sku, need_of_product=need_of_sku,
        need_names=catalog.need_group_names, need_category=catalog.need_group_category,
        category_names=catalog.category_names, is_store_brand=catalog.is_store_brand,
        sku_member=sku.pairs.member, sku_product=sku.pairs.item,
        sku_probability=sku_probability.astype(np.float32),
        sku_expected_day=expected_next_day(sku.cycle, as_of, params.renewal_shape),
        sku_weight=sku.pairs.decayed[:, CHOICE_HALF_LIFE_COLUMN].astype(np.float32),
        sku_purchase_days=sku.pairs.count.astype(np.int32), sku_last_day=sku.pairs.last_day,
        need_member=need.pairs.member, need_group=need.pairs.item,
        need_probability=need_probability.astype(np.float32),
        need_expected_day=expected_next_day(need.cycle, as_of, params.renewal_shape),
        need_weight=need.pairs.decayed[:, CHOICE_HALF_LIFE_COLUMN].astype(np.float32),
        need_interval_days=need.cycle.interval.astype(np.float32),
        product_choice_share=chain.choice_share,
        choice_slope=trained.choice_calibration.slope, choice_offset=trained.choice_calibration.offset,
        need_new_rate=trained.need_new_rate, member_expected_trips=_expected_trips(members, horizon),
        segments=segments, metrics=metrics, need_model=trained.need_model, sku_model=trained.sku_model,
    )


def score_task(source: HistorySource, shard: MemberRange, window: Window, params: ModelParams,
               chain: ChainModel) -> ModelState:
    return score_shard(window.cut(source.load(shard)), window, params, chain)


# --- combining the parts (client) ------------------------------------------------------------


def combine_parts(parts: list[ModelState], params: ModelParams) -> ModelState:
    """The chain's state from its shards' parts (contiguous member ranges, in order), with
    usage tiers and value tiers ranked over the whole chain."""
    state = concat_states(parts)
    seg, metrics = state.segments, state.metrics
    seg.usage_tier = chain_usage_tiers(seg.category, seg.units, seg.spend_cents, seg.purchase_days, params)
    metrics.value_tier = value_tiers(metrics.clv_cents, metrics.trips > 0, params.value_tier_shares)
    state.shopper_trips = mean_shopper_trips(state.member_expected_trips)
    return state


def score_and_write_task(source: HistorySource, shard: MemberRange, window: Window, params: ModelParams,
                         chain: ChainModel, folder: Path, index: int) -> PartSummary:
    """Score a shard and save it as part ``index`` of the state folder, on the worker: only
    the ranking inputs travel back."""
    part = score_task(source, shard, window, params, chain)
    if isinstance(source, SpilledSource):
        source.forget(shard)
    return write_part(folder, index, part)


# --- the whole fit ---------------------------------------------------------------------------


@dataclass
class _Fitted:
    """The chain-wide model, broadcast, and what the score round runs on."""

    window: Window
    shards: list[MemberRange]
    source: Any
    chain: Any


def _fit_chain_model(runner: Any, source: HistorySource, as_of: date | int, params: ModelParams,
                     n_shards: int, stats: dict[str, int] | None) -> _Fitted:
    """Rounds 1 and 2: summarize the shards, reduce, train; the chain model scattered."""
    started = time.perf_counter()
    window = Window.of(as_of, params)
    keys = source.member_keys()
    shards = member_ranges(keys, n_shards)
    shared_source = runner.scatter(source, broadcast=True, hash=False)
    summaries = runner.gather([runner.submit(summarize_task, shared_source, s, window, params, **_TASK)
                               for s in shards])
    need_stats, sku_stats, share, bg, per_trip = reduce_statistics(summaries, window, params)
    n_lines = sum(s.n_lines for s in summaries)
    if n_lines == 0:
        raise NoScans(f"no member scans before {as_of}")
    if stats is not None:
        stats.update(lines=n_lines, shards=len(shards))
    chain_counts = _total([s.cutoff_counts for s in summaries])
    rng = np.random.default_rng(params.seed)
    sample = training_members(int(keys.shape[0]), n_lines, params, rng)
    sample_keys = None if sample.all() else keys[sample]
    log.info("summarized %s shards, %s lines (%.1fs)", len(shards), n_lines, time.perf_counter() - started)
    trained = runner.gather([runner.submit(train_task, shared_source, sample_keys, window, params, chain_counts,
                                           rng, **_TASK)])[0]
    chain = runner.scatter(ChainModel(need_stats, sku_stats, share, trained, bg, per_trip), broadcast=True, hash=False)
    return _Fitted(window, shards, shared_source, chain)


_TASK = dict(pure=False, retries=2)


def fit_partitioned(runner: Any, source: HistorySource, as_of: date | int, params: ModelParams,
                    n_shards: int, stats: dict[str, int] | None = None) -> ModelState:
    """Fit the model on ``n_shards`` member shards run by ``runner`` (a ``distributed.Client``
    or :class:`LocalRunner`): the same state whatever ``n_shards``, put together here.
    ``stats`` (when given) receives the scan lines learned from and the shards used."""
    started = time.perf_counter()
    fitted = _fit_chain_model(runner, source, as_of, params, n_shards, stats)
    futures = [runner.submit(score_task, fitted.source, s, fitted.window, params, fitted.chain, **_TASK)
               for s in fitted.shards]
    parts = []
    for i in range(len(futures)):
        # Fetched one by one and let go of at once: a worker does not keep its finished parts
        # while the other shards run.
        parts.append(runner.gather(futures[i]))
        futures[i] = None
    state = combine_parts(parts, params)
    log.info("fitted on %s shards (%.1fs)", len(fitted.shards), time.perf_counter() - started)
    return state


def fit_to_parts(runner: Any, source: HistorySource, as_of: date | int, params: ModelParams,
                 n_shards: int, folder: Path, stats: dict[str, int] | None = None) -> Path:
    """The same fit, each shard's part saved by its worker into the state folder ``folder``
    (:mod:`.parts`): the whole state is never in one process. The folder appears complete
    or not at all."""
    started = time.perf_counter()
    building = building_folder(folder)
    spill = building / "histories"
    try:
        fitted = _fit_chain_model(runner, SpilledSource(source, spill), as_of, params, n_shards, stats)
        summaries = runner.gather([
            runner.submit(score_and_write_task, fitted.source, s, fitted.window, params, fitted.chain, building, i,
                          **_TASK)
            for i, s in enumerate(fitted.shards)])
        shutil.rmtree(spill, ignore_errors=True)
        finish_parts(building, params, summaries)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)  # nothing of a failed fit stays behind
        raise
    publish(building, folder)
    log.info("fitted on %s shards, saved in parts (%.1fs)", len(fitted.shards), time.perf_counter() - started)
    return folder
