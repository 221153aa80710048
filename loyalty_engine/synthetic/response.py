"""Members respond to their lists: one list period simulated after the lists are built.

Every member buys each offer's scope at the rate they bought it over the ``pre_weeks``
weeks before the period (Poisson, so the pre-period predicts the period, as in a real
chain). A member whose list carries an offer buys on top a planted uplift that depends on
the offer and the member's cell; a member held out of the offer (or of the whole period)
behaves as if the offer did not exist. Who buys what is decided in numpy for all
(member, offer) pairs at once; each member's basket is then rung up at a lane through the
checkout service (quote, complete), which redeems the list's lines as it does for a POS.

The planted truth (``planted_uplift``: expected extra units per member sent the offer, by
offer and cell) is written beside the data as ``truth_uplift_<period>.csv`` and returned,
so tests and benchmarks check the lift estimator against it.

The period should come after the imported scan history (as in the demo): the simulated
baskets are the period's purchases of the offers' scopes.
"""
from __future__ import annotations

import csv
import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import Engine, bindparam, text

from ..checkout.lanes import authenticate, issue_key
from ..checkout.schemas import CompleteRequest, QuoteRequest
from ..checkout.service import CheckoutService
from ..clock import Clock, FixedClock, SystemClock
from ..results.inputs import CELL_NAMES, UNSEGMENTED, lookup_pairs, scope_sums, targeted_pairs
from ..shopping_lists.selection import uniform_hash

# Offer effect classes: a third of the offers do nothing, a third a little, a third a lot.
EFFECT_UNITS = (0.0, 0.15, 0.6)
# The effect scales with the member's usage tier in the offer's category (unsegmented: 1).
TIER_MULTIPLIER = {"low": 0.5, "medium": 1.0, "high": 1.6}
SIM_LANE = "SIM"


def planted_uplift(offer_ids: np.ndarray, seed: int) -> np.ndarray:
    """(n_offers, n_cells) expected extra units of the scope per member sent the offer."""
    draw = uniform_hash(seed ^ 0x0FFE5, np.asarray(offer_ids, dtype=np.int64))
    base = np.asarray(EFFECT_UNITS)[np.minimum((draw * 3).astype(np.int64), 2)]
    mult = np.array([TIER_MULTIPLIER[name.split(":")[1]] if ":" in name else 1.0 for name in CELL_NAMES])
    return base[:, None] * mult[None, :]


@dataclass(frozen=True)
class PairResponse:
    """Units each (member, offer) pair buys in the period: baseline plus the planted extra."""

    baseline_units: np.ndarray
    extra_units: np.ndarray

    @property
    def units(self) -> np.ndarray:
        return self.baseline_units + self.extra_units


def draw_response(
    pre_units: np.ndarray, pre_days: int, period_days: int, treated: np.ndarray, uplift: np.ndarray,
    rng: np.random.Generator,
) -> PairResponse:
    """Poisson baseline at the pre-period rate; members sent the offer add Poisson(uplift)."""
    rate = np.maximum(np.asarray(pre_units, dtype=np.float64), 0.0) * (period_days / pre_days)
    baseline = rng.poisson(rate)
    extra = np.where(treated, rng.poisson(np.maximum(uplift, 0.0)), 0)
    return PairResponse(baseline.astype(np.int64), extra.astype(np.int64))


@dataclass
class SimulationResult:
    period_start: date
    period_end: date
    pairs: int
    baskets: int
    redemptions: int
    discount_cents: int
    already_recorded: int
    truth_path: Path | None
    # per (offer, cell): planted units per member sent, and targeted members (truth table rows)
    truth: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {"period_start": self.period_start.isoformat(), "period_end": self.period_end.isoformat(),
                "pairs": self.pairs, "baskets": self.baskets, "redemptions": self.redemptions,
                "discount_cents": self.discount_cents, "already_recorded": self.already_recorded,
                "truth_path": str(self.truth_path) if self.truth_path else None}


class SimulationError(ValueError):
    """The period cannot be simulated (no lists built for it)."""


_PERIOD = text("""
    SELECT MIN(period_end), COUNT(*) FROM list_builds WHERE period_start = :p AND status = 'complete'
""")
_MEMBER_HOLDOUTS = text("""
    SELECT h.member_key FROM list_holdouts h JOIN list_builds b ON b.id = h.build_id
    WHERE b.period_start = :p AND b.status = 'complete' AND h.offer_id IS NULL
""")
_LISTS = text("""
    SELECT l.member_key, l.list_number, l.store_id FROM shopping_lists l
    WHERE l.period_start = :p AND l.status <> 'replaced'
""")
_MEMBERS = text("SELECT id, card_number, home_store_id FROM members WHERE id IN :ids").bindparams(
    bindparam("ids", expanding=True))
_SCOPE = text("""
    SELECT op.offer_id, p.id, p.sku, p.regular_price_cents FROM offer_products op JOIN products p ON p.id = op.product_key
    WHERE op.offer_id IN :ids AND p.regular_price_cents > 0 ORDER BY op.offer_id, p.id
""").bindparams(bindparam("ids", expanding=True))
_STORES = text("SELECT id, timezone FROM stores")
_RUNG_UP = text("SELECT pos_transaction_id FROM checkouts WHERE lane_code = :lane AND pos_transaction_id LIKE :prefix")


def simulate_period(
    engine: Engine, period_start: date, *, seed: int = 0, pre_weeks: int = 8, out_dir: Path | None = None,
    clock: Clock | None = None,
) -> SimulationResult:
    """Simulate the list period starting ``period_start``: baskets rung up at lanes, truth written.

    ``clock`` stamps the simulation lanes' keys; each basket is rung up with the lane's clock
    set to the basket's own time (in the period), as a lane in the period would have.
    """
    clock = clock or SystemClock()
    with engine.connect() as conn:
        period_end, builds = conn.execute(_PERIOD, {"p": period_start}).one()
        if not builds:
            raise SimulationError(f"no lists were built for the period starting {period_start}")
        period_end = period_end if isinstance(period_end, date) else date.fromisoformat(str(period_end))
        pairs = targeted_pairs(conn, period_start, period_start)
        population = _population(conn, period_start, pairs)
        offer_ids = np.unique(pairs["offer_id"]) if pairs else np.empty(0, np.int64)
        pre_start = period_start - timedelta(weeks=pre_weeks)
        m, o, u, _s = scope_sums(conn, pre_start, period_start - timedelta(days=1), offer_ids.tolist())
        scope = _scope(conn, offer_ids)
        lists = {r[0]: (r[1], r[2]) for r in conn.execute(_LISTS, {"p": period_start})}
        members = {r[0]: (r[1], r[2]) for r in conn.execute(_MEMBERS, {"ids": population.tolist() or [-1]})}
        zones = {r[0]: r[1] for r in conn.execute(_STORES)}

    period_days = (period_end - period_start).days + 1
    uplift_table = planted_uplift(offer_ids, seed)
    # Every member of the period (lists and hold-outs) buys every offer's scope at their
    # pre-period rate; the pairs with a line add the uplift. Pairs that bought nothing before
    # and were not targeted have rate 0, so the grid is the pre-period buyers plus the targeted.
    in_pop = np.isin(m, population)
    all_m = np.concatenate([m[in_pop], pairs["member_key"] if pairs else np.empty(0, np.int64)])
    all_o = np.concatenate([o[in_pop], pairs["offer_id"] if pairs else np.empty(0, np.int64)])
    scale = np.int64(int(all_o.max(initial=0)) + 1)
    _, first = np.unique(all_m * scale + all_o, return_index=True)
    all_m, all_o = all_m[first], all_o[first]
    (pre_units,) = lookup_pairs(m, o, [u], all_m, all_o)
    treated, cell = _treatment(pairs, all_m, all_o)
    offer_pos = np.searchsorted(offer_ids, all_o)
    rng = np.random.default_rng([seed, period_start.toordinal()])
    response = draw_response(pre_units, pre_weeks * 7, period_days, treated,
                             uplift_table[offer_pos, cell] if offer_ids.shape[0] else np.zeros(0), rng)
    buys = np.flatnonzero(response.units > 0)
    product_key, sku, price = _products_for(scope, all_m[buys], all_o[buys], seed)
    baskets = _baskets(all_m[buys], product_key, sku, price, response.units[buys], period_start, period_days, seed)
    stats = _ring_up(engine, baskets, lists, members, zones, period_start, clock.now())

    truth = _truth_rows(pairs, offer_ids, uplift_table, period_start)
    truth_path = _write_truth(truth, out_dir, period_start) if out_dir is not None else None
    n_pairs = int(pairs["member_key"].shape[0]) if pairs else 0
    return SimulationResult(period_start, period_end, n_pairs, len(baskets), stats["redemptions"],
                            stats["discount_cents"], stats["already_recorded"], truth_path, truth)


def _population(conn: Any, period_start: date, pairs: dict[str, np.ndarray]) -> np.ndarray:
    """Members of the period: those with a list, offer hold-outs, and the member-level hold-out."""
    keys = [r[0] for r in conn.execute(_LISTS, {"p": period_start})]
    keys += [r[0] for r in conn.execute(_MEMBER_HOLDOUTS, {"p": period_start})]
    parts = [np.asarray(keys, dtype=np.int64)]
    if pairs:
        parts.append(pairs["member_key"])
    return np.unique(np.concatenate(parts))


def _treatment(pairs: dict[str, np.ndarray], all_m: np.ndarray, all_o: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every (member, offer) of the grid: was the line sent, and the pair's cell."""
    if not pairs:
        return np.zeros(all_m.shape, bool), np.full(all_m.shape, UNSEGMENTED, np.int64)
    treated_flag, cell = lookup_pairs(pairs["member_key"], pairs["offer_id"],
                                      [pairs["treated"].astype(np.int64) + 1, pairs["cell"] + 1], all_m, all_o)
    return treated_flag == 2, np.where(cell > 0, cell - 1, UNSEGMENTED)


def _scope(conn: Any, offer_ids: np.ndarray) -> dict[str, np.ndarray]:
    rows = conn.execute(_SCOPE, {"ids": offer_ids.tolist() or [-1]}).all()
    if not rows:
        return {"offer": np.empty(0, np.int64), "key": np.empty(0, np.int64), "sku": np.empty(0, object),
                "price": np.empty(0, np.int64)}
    o, k, s, p = zip(*rows)
    return {"offer": np.array(o, np.int64), "key": np.array(k, np.int64), "sku": np.array(s, object),
            "price": np.array(p, np.int64)}


def _products_for(scope: dict[str, np.ndarray], member: np.ndarray, offer: np.ndarray,
                  seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The product of the scope each buying pair takes: a fixed pseudo-random one per pair
    (product key -1 where the offer has no priced product)."""
    first = np.searchsorted(scope["offer"], offer, side="left")
    count = np.searchsorted(scope["offer"], offer, side="right") - first
    if scope["key"].shape[0] == 0:
        return np.full(member.shape, -1, np.int64), np.full(member.shape, "", object), np.zeros(member.shape, np.int64)
    pick = first + (uniform_hash(seed ^ 0x5C0E, member, offer) * np.maximum(count, 1)).astype(np.int64)
    pick = np.minimum(pick, scope["key"].shape[0] - 1)
    has = count > 0
    return (np.where(has, scope["key"][pick], -1), np.where(has, scope["sku"][pick], ""),
            np.where(has, scope["price"][pick], 0))


def _baskets(member: np.ndarray, product_key: np.ndarray, sku: np.ndarray, price: np.ndarray, units: np.ndarray,
             period_start: date, period_days: int, seed: int) -> list[dict[str, Any]]:
    """One basket per member on a pseudo-random day of the period; one line per product."""
    keep = product_key >= 0
    member, product_key, sku, price, units = member[keep], product_key[keep], sku[keep], price[keep], units[keep]
    order = np.lexsort((product_key, member))
    member, product_key, sku, price, units = member[order], product_key[order], sku[order], price[order], units[order]
    # two offers can share a product: one line with the summed units
    new = np.ones(member.shape[0], bool)
    new[1:] = (member[1:] != member[:-1]) | (product_key[1:] != product_key[:-1])
    starts = np.flatnonzero(new)
    units = np.add.reduceat(units, starts) if starts.shape[0] else units
    member, sku, price = member[starts], sku[starts], price[starts]
    units = np.minimum(units, 999)
    day = (uniform_hash(seed ^ 0xDA7, member) * period_days).astype(np.int64)
    out: list[dict[str, Any]] = []
    bounds = np.flatnonzero(np.r_[True, member[1:] != member[:-1]]) if member.shape[0] else np.empty(0, np.int64)
    for b, e in zip(bounds.tolist(), np.r_[bounds[1:], member.shape[0]].tolist()):
        out.append({
            "member_key": int(member[b]), "day": period_start + timedelta(days=int(day[b])),
            "lines": [{"sku": str(sku[i]), "quantity": int(units[i]), "unit_price_cents": int(price[i]),
                       "amount_cents": int(price[i] * units[i])} for i in range(b, e)],
        })
    return out


def _ring_up(engine: Engine, baskets: list[dict[str, Any]], lists: dict[int, tuple[str, str | None]],
             members: dict[int, tuple[str, str | None]], zones: dict[str, str], period_start: date,
             now: datetime) -> dict[str, int]:
    """Quote and complete each basket at the member's store's simulation lane (the lane's edge)."""
    service = CheckoutService(engine, FixedClock(now))
    lanes: dict[str, Any] = {}
    redemptions = discount = skipped = 0
    prefix = f"SIM{period_start:%Y%m%d}-"
    with engine.connect() as conn:
        # a re-run leaves the baskets already recorded as they are (the lanes' idempotency key)
        done = set(conn.execute(_RUNG_UP, {"lane": SIM_LANE, "prefix": prefix + "%"}).scalars())
    for basket in baskets:
        pos_id = f"{prefix}{basket['member_key']}"
        if pos_id in done:
            skipped += 1
            continue
        card, home = members.get(basket["member_key"], (None, None))
        number, list_store = lists.get(basket["member_key"], (None, None))
        store = list_store or home
        if store is None or card is None:
            continue
        if store not in lanes:
            with engine.begin() as conn:
                key = issue_key(conn, store, SIM_LANE, now, rotate=True).api_key
                lanes[store] = authenticate(conn, key)
        zone = ZoneInfo(zones.get(store) or "UTC")
        at = datetime.combine(basket["day"], time(17, 0), tzinfo=zone)
        service.clock = FixedClock(at + timedelta(minutes=1))
        body = {"store": store, "lane": SIM_LANE,
                "pos_transaction_id": pos_id,
                "scanned_at": at.isoformat(), "identifier": number or card, "lines": basket["lines"]}
        quote = service.quote(lanes[store], QuoteRequest.model_validate(body))
        due = json.loads(quote)["total_due_cents"]
        answer, _replayed = service.complete(
            lanes[store], CompleteRequest.model_validate({**body, "tender": {"method": "card", "amount_cents": due}}),
            request_id=f"sim-{uuid.uuid4().hex[:16]}")
        done = json.loads(answer)
        redemptions += len(done.get("redemptions", []))
        discount += sum(int(r["discount_cents"]) for r in done.get("redemptions", []))
    return {"redemptions": redemptions, "discount_cents": discount, "already_recorded": skipped}


def _truth_rows(pairs: dict[str, np.ndarray], offer_ids: np.ndarray, uplift: np.ndarray,
                period_start: date) -> list[dict[str, Any]]:
    """Planted units per member sent, per offer x cell and per offer (weighted by targeted members)."""
    rows: list[dict[str, Any]] = []
    if not pairs:
        return rows
    pos = np.searchsorted(offer_ids, pairs["offer_id"])
    counts = np.zeros((offer_ids.shape[0], len(CELL_NAMES)), np.int64)
    np.add.at(counts, (pos, pairs["cell"]), 1)
    for i, offer_id in enumerate(offer_ids.tolist()):
        total = int(counts[i].sum())
        planted = float((counts[i] * uplift[i]).sum() / total) if total else 0.0
        rows.append({"period_start": period_start.isoformat(), "offer_id": offer_id, "cell": "all",
                     "targeted": total, "planted_units_per_member": round(planted, 6)})
        for c in np.flatnonzero(counts[i]).tolist():
            rows.append({"period_start": period_start.isoformat(), "offer_id": offer_id, "cell": CELL_NAMES[c],
                         "targeted": int(counts[i, c]), "planted_units_per_member": round(float(uplift[i, c]), 6)})
    return rows


def _write_truth(rows: list[dict[str, Any]], out_dir: Path, period_start: date) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"truth_uplift_{period_start.isoformat()}.csv"
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, ["period_start", "offer_id", "cell", "targeted", "planted_units_per_member"])
        writer.writeheader()
        writer.writerows(rows)
    return path


__all__ = ["EFFECT_UNITS", "PairResponse", "SimulationError", "SimulationResult", "TIER_MULTIPLIER",
           "draw_response", "planted_uplift", "simulate_period"]
