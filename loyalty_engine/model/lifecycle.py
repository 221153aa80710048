"""Member value and lifecycle as of a date: spend, trips, tenure, loyalty, p_alive, CLV, stage.

``p_alive`` and expected future trips come from a BG/NBD model (Fader, Hardie & Lee 2005)
fitted by maximum likelihood over all members at once (scipy), on shopping trips (days with a
basket) measured in weeks. Lifetime value is the discounted expected spend over
``clv_horizon_weeks``: expected trips per 4-week step from the BG/NBD conditional expectation
times the member's spend per trip shrunk toward the population's.

Lifecycle stage, in order of precedence:

* ``new``: first trip within the last ``new_member_weeks`` (or no trip yet and enrolled
  recently or at an unknown date);
* ``lapsed``: ``p_alive < lapsed_p_alive`` and no trip for ``lapsed_gap_multiple`` usual gaps
  (or never shopped though enrolled long ago);
* ``declining``: trip rate or spend over the last 8 weeks below ``declining_ratio`` of the
  member's own norm (the 26 weeks before those 8), or ``p_alive`` below the midpoint between
  ``lapsed_p_alive`` and 1;
* ``established``: tenure of at least ``established_weeks``; else ``developing``.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1

from .events import PurchaseEvents, first_last_trip, purchase_events, trip_days
from .exact import fixed_total, from_fixed, to_fixed
from .history import NO_DAY, ScanHistory
from .params import ModelParams
from .ranking import top_k
from .segments import SegmentTable, category_segments

LIFECYCLE_STAGES = ("new", "developing", "established", "declining", "lapsed")
NEW, DEVELOPING, ESTABLISHED, DECLINING, LAPSED = range(5)
VALUE_TIERS = ("bronze", "silver", "gold")
RECENT_WEEKS = 8
NORM_WEEKS = 26


@dataclass
class MemberMetrics:
    """Dense arrays over member positions."""

    avg_weekly_spend_cents: np.ndarray  # int64, last 8 weeks (list eligibility)
    trips_per_week: np.ndarray  # float32, last 8 weeks
    norm_trips_per_week: np.ndarray  # float32, the 26 weeks before the last 8
    tenure_days: np.ndarray  # int32, from first trip or enrolment, whichever is earlier
    days_since_last_trip: np.ndarray  # int32, -1 when never shopped
    trips: np.ndarray  # int32 trips ever (before as_of)
    repeat_rate: np.ndarray  # float32 share of sku purchase days (26 weeks) repeating an earlier purchase
    top_category_share: np.ndarray  # float32 share of 26-week spend in the member's top 3 categories
    p_alive: np.ndarray  # float32 BG/NBD probability the member is still active
    expected_trips_8w: np.ndarray  # float32 BG/NBD expected trips in the next 8 weeks
    clv_cents: np.ndarray  # int64 discounted expected spend over clv_horizon_weeks
    lifecycle_stage: np.ndarray  # int8 index into LIFECYCLE_STAGES
    value_tier: np.ndarray  # int8 index into VALUE_TIERS
    bgnbd: np.ndarray  # float64 (r, alpha, a, b)

    def to_arrays(self, prefix: str = "metric_") -> dict[str, np.ndarray]:
        return {f"{prefix}{f.name}": getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str = "metric_") -> "MemberMetrics":
        return cls(**{f.name: arrays[f"{prefix}{f.name}"] for f in fields(cls)})

    def stage_names(self) -> np.ndarray:
        return np.asarray(LIFECYCLE_STAGES, dtype=object)[self.lifecycle_stage]

    def value_tier_names(self) -> np.ndarray:
        return np.asarray(VALUE_TIERS, dtype=object)[self.value_tier]


# --- BG/NBD ----------------------------------------------------------------------------------


def bgnbd_log_likelihood(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Per-member log-likelihood; ``x`` repeat trips, ``t_x`` time of the last, ``T`` age (weeks)."""
    r, alpha, a, b = params
    base = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    term_alive = betaln(a, b + x) - betaln(a, b) - (r + x) * np.log(alpha + T)
    has_repeat = x > 0
    term_dead = np.where(
        has_repeat,
        betaln(a + 1, np.maximum(b + x - 1, 1e-9)) - betaln(a, b) - (r + x) * np.log(alpha + t_x),
        -np.inf,
    )
    return base + np.logaddexp(term_alive, term_dead)


BGNBD_FIT_MEMBERS = 20_000  # four population parameters: a sample this size pins them down


def _bgnbd_sample(eligible: np.ndarray, seed: int) -> np.ndarray:
    """Positions of the members the BG/NBD parameters are fitted on: all eligible members, or
    a seeded random sample of them on a large chain (the likelihood is a mean over members, so
    the sample's optimum is the population's up to sampling noise)."""
    rows = np.flatnonzero(eligible)
    if rows.shape[0] <= BGNBD_FIT_MEMBERS:
        return rows
    return np.sort(np.random.default_rng(seed).choice(rows, size=BGNBD_FIT_MEMBERS, replace=False))


def fit_bgnbd(x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Maximum-likelihood (r, alpha, a, b), on log scale with a weak ridge for stability."""
    if x.shape[0] == 0:
        return np.array([1.0, 1.0, 1.0, 1.0])

    def objective(log_params: np.ndarray) -> float:
        value = -bgnbd_log_likelihood(np.exp(log_params), x, t_x, T).mean()
        return float(value + 1e-4 * (log_params**2).sum())

    start = np.log(np.array([0.5, max(float(np.mean(T)), 1.0), 1.0, 3.0]))
    result = minimize(objective, start, method="Nelder-Mead", options={"maxiter": 2000, "xatol": 1e-4, "fatol": 1e-8})
    return np.exp(result.x)


def bgnbd_p_alive(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    r, alpha, a, b = params
    log_ratio = np.log(a) - np.log(np.maximum(b + x - 1, 1e-9)) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    return np.where(x > 0, 1.0 / (1.0 + np.exp(np.minimum(log_ratio, 700))), 1.0)


def bgnbd_expected_trips(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, t: float) -> np.ndarray:
    """E[trips in the next ``t`` weeks | history]."""
    r, alpha, a, b = params
    p_alive = bgnbd_p_alive(params, x, t_x, T)
    if a > 1.0:
        z = t / (alpha + T + t)
        hyper = hyp2f1(r + x, b + x, a + b + x - 1, z)
        value = (a + b + x - 1) / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyper) * p_alive
        fallback = p_alive * (r + x) / (alpha + T) * t
        return np.where(np.isfinite(value) & (value >= 0), value, fallback)
    # No closed form when a <= 1: expected rate while alive, for those still alive.
    return p_alive * (r + x) / (alpha + T) * t


# --- metrics ---------------------------------------------------------------------------------


def _sum_by(index: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Exact integer sums (bincount sums whole cents exactly below 2**53)."""
    return np.rint(np.bincount(index, weights=values, minlength=n)).astype(np.int64)


def member_metrics(
    history: ScanHistory,
    as_of_day: int,
    params: ModelParams,
    trip_member: np.ndarray | None = None,
    trip_day: np.ndarray | None = None,
    sku_events: PurchaseEvents | None = None,
    segments: SegmentTable | None = None,
    bgnbd: np.ndarray | None = None,
    population_per_trip: float | None = None,
) -> MemberMetrics:
    """Every member's metrics at ``as_of_day``; ``fit_model`` passes what it already computed
    (trip days, sku purchase events, segments) so nothing is recomputed over all lines.

    ``bgnbd`` and ``population_per_trip`` are chain-wide: a member shard gets them from the
    reduce step (:func:`chain_bgnbd`, :func:`population_spend_per_trip`); without them they
    are computed over ``history``'s members. Value tiers rank members against each other: on
    a shard they are recomputed over the chain afterwards (:func:`value_tiers`)."""
    n = len(history.members)
    history = history.before(as_of_day)
    if trip_member is None or trip_day is None:
        trip_member, trip_day = trip_days(history)
    keep = trip_day < as_of_day
    tm, td = trip_member[keep].astype(np.int64), trip_day[keep].astype(np.int64)
    trips, first, last = trip_span(trip_member, trip_day, n, as_of_day)
    shopped = trips > 0

    recent_start = as_of_day - 7 * RECENT_WEEKS
    norm_start = recent_start - 7 * NORM_WEEKS
    trips_recent = np.bincount(tm[td >= recent_start], minlength=n)
    trips_norm = np.bincount(tm[(td >= norm_start) & (td < recent_start)], minlength=n)
    # The norm covers only the weeks the member was already shopping.
    norm_weeks = np.clip((recent_start - np.maximum(first, norm_start)) / 7.0, 0.0, NORM_WEEKS)
    norm_rate = np.where(norm_weeks >= 4, trips_norm / np.maximum(norm_weeks, 1e-9), np.nan)
    recent_rate = trips_recent / RECENT_WEEKS

    member = history.member_pos.astype(np.int64)
    day = history.day.astype(np.int64)
    amount = history.amount_cents
    spend_recent = _sum_by(member[day >= recent_start], amount[day >= recent_start], n)
    in_norm = (day >= norm_start) & (day < recent_start)
    spend_norm = _sum_by(member[in_norm], amount[in_norm], n)
    avg_weekly_spend = (spend_recent + RECENT_WEEKS // 2) // RECENT_WEEKS  # whole cents, half up
    norm_weekly_spend = np.where(norm_weeks >= 4, spend_norm / np.maximum(norm_weeks, 1e-9), np.nan)

    enrolled = history.members.enrolled_day.astype(np.int64)
    known_enrolment = enrolled != NO_DAY
    start_day = np.where(known_enrolment & (enrolled < first), enrolled, first)
    tenure = np.where(shopped | known_enrolment, as_of_day - start_day, 0).astype(np.int32)
    since_last = np.where(shopped, as_of_day - last, -1).astype(np.int32)

    if sku_events is None:
        n_products = len(history.catalog)
        sku_events = purchase_events(history, np.arange(n_products, dtype=np.int32), n_products)
    if segments is None:
        segments = category_segments(history, as_of_day, params)
    repeat_rate = _repeat_rate(sku_events, as_of_day, params, n)
    top_share = _top_category_share(segments, n)

    x, t_x, T = bgnbd_inputs(trips, first, last, as_of_day)
    bg = chain_bgnbd(trips, first, last, as_of_day, params.seed) if bgnbd is None else bgnbd
    p_alive = np.where(shopped, bgnbd_p_alive(bg, x, t_x, T), 0.0)
    expected_8w = np.where(shopped, bgnbd_expected_trips(bg, x, t_x, T, RECENT_WEEKS), 0.0)

    per_trip = spend_per_trip(history, trips, n)
    if population_per_trip is None:
        total, count = population_spend_per_trip(per_trip, shopped)
        population_per_trip = from_fixed(total, PER_TRIP_BITS) / count if count else 0.0
    clv = _lifetime_value(per_trip, population_per_trip, bg, x, t_x, T, shopped, params, n)

    stage = lifecycle_stages(
        shopped=shopped, first_day=first, enrolled_day=np.where(known_enrolment, enrolled, NO_DAY),
        tenure_days=tenure, days_since_last=since_last, trips=trips, p_alive=p_alive,
        recent_rate=recent_rate, norm_rate=norm_rate,
        recent_weekly_spend=spend_recent / RECENT_WEEKS, norm_weekly_spend=norm_weekly_spend,
        as_of_day=as_of_day, params=params,
    )
    tier = value_tiers(clv, shopped, params.value_tier_shares)
    return MemberMetrics(
        avg_weekly_spend_cents=avg_weekly_spend.astype(np.int64),
        trips_per_week=recent_rate.astype(np.float32),
        norm_trips_per_week=np.nan_to_num(norm_rate, nan=-1.0).astype(np.float32),
        tenure_days=tenure,
        days_since_last_trip=since_last,
        trips=trips.astype(np.int32),
        repeat_rate=repeat_rate,
        top_category_share=top_share,
        p_alive=p_alive.astype(np.float32),
        expected_trips_8w=expected_8w.astype(np.float32),
        clv_cents=clv,
        lifecycle_stage=stage,
        value_tier=tier,
        bgnbd=bg,
    )


def lifecycle_stages(
    *,
    shopped: np.ndarray,
    first_day: np.ndarray,
    enrolled_day: np.ndarray,
    tenure_days: np.ndarray,
    days_since_last: np.ndarray,
    trips: np.ndarray,
    p_alive: np.ndarray,
    recent_rate: np.ndarray,
    norm_rate: np.ndarray,
    recent_weekly_spend: np.ndarray,
    norm_weekly_spend: np.ndarray,
    as_of_day: int,
    params: ModelParams,
) -> np.ndarray:
    """Stage codes (index into LIFECYCLE_STAGES) for all members at once."""
    new_window = 7 * params.new_member_weeks
    known_enrolment = enrolled_day != NO_DAY
    recently_enrolled = known_enrolment & (as_of_day - enrolled_day < new_window)
    # Usual gap between trips over the member's life (at least a day).
    usual_gap = np.where(trips > 1, (as_of_day - days_since_last - first_day) / np.maximum(trips - 1, 1), np.nan)
    usual_gap = np.maximum(np.nan_to_num(usual_gap, nan=7.0 * params.new_member_weeks), 1.0)
    with np.errstate(invalid="ignore"):
        overdue = days_since_last > params.lapsed_gap_multiple * usual_gap
        lapsed = shopped & (p_alive < params.lapsed_p_alive) & overdue
        rate_drop = np.nan_to_num(recent_rate < params.declining_ratio * norm_rate, nan=0).astype(bool)
        spend_drop = np.nan_to_num(recent_weekly_spend < params.declining_ratio * norm_weekly_spend, nan=0).astype(bool)
    fading = p_alive < (1.0 + params.lapsed_p_alive) / 2.0
    declining = shopped & (rate_drop | spend_drop | fading)
    is_new = np.where(shopped, as_of_day - first_day < new_window, recently_enrolled | ~known_enrolment)
    stage = np.where(tenure_days >= 7 * params.established_weeks, ESTABLISHED, DEVELOPING)
    stage = np.where(declining, DECLINING, stage)
    stage = np.where(lapsed | (~shopped & ~is_new), LAPSED, stage)
    stage = np.where(is_new, NEW, stage)
    return stage.astype(np.int8)


def value_tiers(clv_cents: np.ndarray, shopped: np.ndarray, cut_points: tuple[float, float]) -> np.ndarray:
    """bronze / silver / gold by the member's CLV rank among members who shopped."""
    tier = np.zeros(clv_cents.shape[0], dtype=np.int8)
    rows = np.flatnonzero(shopped)
    if rows.shape[0] == 0:
        return tier
    order = rows[np.argsort(clv_cents[rows], kind="stable")]
    percentile = (np.arange(order.shape[0]) + 0.5) / order.shape[0]
    tier[order] = np.digitize(percentile, cut_points).astype(np.int8)
    return tier


def _repeat_rate(events: PurchaseEvents, as_of_day: int, params: ModelParams, n: int) -> np.ndarray:
    """Share of the member's (sku, day) purchases in the segment look-back window that repeat
    an earlier purchase of the same sku (any but the first-ever purchase day of the pair)."""
    if len(events) == 0:
        return np.zeros(n, np.float32)
    start = as_of_day - 7 * params.segment_lookback_weeks
    pair = events.pair_key()
    first_of_pair = np.empty(pair.shape[0], dtype=bool)
    first_of_pair[0] = True
    np.not_equal(pair[1:], pair[:-1], out=first_of_pair[1:])
    in_window = (events.day >= start) & (events.day < as_of_day)
    purchases = np.bincount(events.member[in_window], minlength=n)
    repeats = np.bincount(events.member[in_window & ~first_of_pair], minlength=n)
    return np.where(purchases > 0, repeats / np.maximum(purchases, 1), 0.0).astype(np.float32)


def _top_category_share(segments: SegmentTable, n: int) -> np.ndarray:
    """Share of the member's look-back spend (net of returns) in their top 3 categories."""
    spend = np.maximum(segments.spend_cents, 0).astype(np.float64)
    top = top_k(segments.member, spend.astype(np.float32), 3)
    top_spend = np.bincount(segments.member[top], weights=spend[top], minlength=n)
    total = np.bincount(segments.member, weights=spend, minlength=n)
    return np.where(total > 0, top_spend / np.maximum(total, 1), 0.0).astype(np.float32)


def trip_span(trip_member: np.ndarray, trip_day: np.ndarray, n: int, as_of_day: int,
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per member: trips before ``as_of_day``, first and last trip day (as_of / NO_DAY when none)."""
    keep = trip_day < as_of_day
    tm, td = trip_member[keep].astype(np.int64), trip_day[keep].astype(np.int64)
    trips = np.bincount(tm, minlength=n)
    first, last = first_last_trip(tm, td, np.full(n, as_of_day, dtype=np.int64), np.full(n, NO_DAY, dtype=np.int64))
    return trips, first, last


def bgnbd_inputs(trips: np.ndarray, first: np.ndarray, last: np.ndarray, as_of_day: int,
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BG/NBD's (repeat trips, time of the last, age) in weeks since the first trip."""
    shopped = trips > 0
    x = np.maximum(trips - 1, 0).astype(np.float64)
    t_x = np.where(shopped, (last - first) / 7.0, 0.0)
    T = np.where(shopped, (as_of_day - first) / 7.0, 0.0)
    return x, t_x, T


def chain_bgnbd(trips: np.ndarray, first: np.ndarray, last: np.ndarray, as_of_day: int, seed: int) -> np.ndarray:
    """The four BG/NBD population parameters from every member's trip span (chain order)."""
    x, t_x, T = bgnbd_inputs(trips, first, last, as_of_day)
    fit_rows = _bgnbd_sample((trips > 0) & (T > 0), seed)
    return fit_bgnbd(x[fit_rows], t_x[fit_rows], T[fit_rows])


def spend_per_trip(history: ScanHistory, trips: np.ndarray, n: int) -> np.ndarray:
    """Each member's net spend per trip (cents, float; 0 without trips)."""
    member = history.member_pos.astype(np.int64)
    spend = np.bincount(member, weights=history.amount_cents, minlength=n)
    return np.where(trips > 0, spend / np.maximum(trips, 1), 0.0)


PER_TRIP_BITS = 16


def population_spend_per_trip(per_trip: np.ndarray, shopped: np.ndarray) -> tuple[int, int]:
    """(fixed-point sum, count) of spend per trip over members who shopped: exact, so member
    shards add up to the one-process mean. The mean is ``from_fixed(sum) / count``."""
    return fixed_total(to_fixed(per_trip[shopped], PER_TRIP_BITS)), int(shopped.sum())


def _lifetime_value(
    per_trip: np.ndarray, population: float, bg: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray,
    shopped: np.ndarray, params: ModelParams, n: int,
) -> np.ndarray:
    """Discounted expected spend (whole cents) over the CLV horizon."""
    trips = x + shopped
    strength = 3.0  # pseudo-trips at the population's spend per trip
    per_trip = (trips * per_trip + strength * population) / (trips + strength)
    steps = np.arange(4, params.clv_horizon_weeks + 4, 4, dtype=np.float64)
    steps = steps[steps <= params.clv_horizon_weeks]
    previous = np.zeros(n)
    value = np.zeros(n)
    for weeks in steps:  # a dozen 4-week steps, each vectorized over all members
        cumulative = bgnbd_expected_trips(bg, x, t_x, T, weeks)
        value += (cumulative - previous) * (1.0 - params.clv_weekly_discount) ** weeks
        previous = cumulative
    return np.where(shopped, np.rint(value * per_trip), 0).astype(np.int64)
