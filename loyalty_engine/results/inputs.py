"""Reading what the lift estimators need: targeted (member, offer) pairs and their outcomes.

A few set-wise queries, then numpy: the pairs (list lines = treated, offer hold-outs =
control), the scope's units and net sales per (member, offer) in the list's period and in
the pre-period (one aggregate over scan lines per window, joined to the offers' products in
SQL), and the ledger's net redemptions per offer and cell.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Sequence

import numpy as np
from sqlalchemy import Connection, bindparam, text

from ..models.offers import BRAND_LOYALTIES, LIFECYCLE_STAGES, USAGE_TIERS

CELL_NAMES: tuple[str, ...] = tuple(f"{lo}:{ti}" for lo in BRAND_LOYALTIES for ti in USAGE_TIERS) + ("unsegmented",)
UNSEGMENTED = len(CELL_NAMES) - 1


@dataclass
class LiftInputs:
    """Targeted (member, offer) pairs as aligned arrays, plus the offers and their ledger sums."""

    member_key: np.ndarray  # int64
    offer_pos: np.ndarray  # int64 index into ``offers``
    cell: np.ndarray  # int64 index into ``cell_names``
    stage: np.ndarray  # int64 index into LIFECYCLE_STAGES (-1 unknown)
    treated: np.ndarray  # bool: the line was on the member's list (False: held out)
    units: np.ndarray  # float64: the scope's units bought in the list's period (net of returns)
    sales_cents: np.ndarray  # int64: the scope's net sales in the period
    pre_sales_cents: np.ndarray  # int64: the scope's net sales in the pre-period (CUPED covariate of sales)
    offers: list[dict[str, Any]]  # id, slug, name, manufacturer_id, category
    # (n_offers, n_cells, 3): net discount, funded and handling-fee cents of the offer's redemptions
    ledger_by_cell: np.ndarray
    cell_names: tuple[str, ...] = CELL_NAMES
    extra: dict[str, Any] = field(default_factory=dict)
    probability: np.ndarray | None = None  # the line's (or hold-out's) predicted purchase probability
    pre_units: np.ndarray | None = None  # the scope's units in the pre-period (CUPED covariate of units)

    def __len__(self) -> int:
        return int(self.member_key.shape[0])


def cell_index(loyalty: Sequence[str], tier: Sequence[str]) -> np.ndarray:
    """Cell positions from the lines' brand loyalty and usage tier names ('' = unsegmented)."""
    lo = {name: i for i, name in enumerate(BRAND_LOYALTIES)}
    ti = {name: i for i, name in enumerate(USAGE_TIERS)}
    a = np.array([lo.get(x or "", -1) for x in loyalty], dtype=np.int64)
    b = np.array([ti.get(x or "", -1) for x in tier], dtype=np.int64)
    return np.where((a >= 0) & (b >= 0), a * len(USAGE_TIERS) + b, UNSEGMENTED)


def stage_index(stages: Sequence[str]) -> np.ndarray:
    index = {name: i for i, name in enumerate(LIFECYCLE_STAGES)}
    return np.array([index.get(s or "", -1) for s in stages], dtype=np.int64)


_TREATED = text("""
    SELECT l.member_key, ln.offer_id, ln.brand_loyalty, ln.usage_tier, l.lifecycle_stage,
           l.period_start, l.period_end, ln.probability
    FROM shopping_list_lines ln JOIN shopping_lists l ON l.id = ln.list_id
    WHERE l.period_start BETWEEN :a AND :b AND l.status <> 'replaced'
""")
_CONTROL = text("""
    SELECT h.member_key, h.offer_id, h.brand_loyalty, h.usage_tier, h.lifecycle_stage,
           b.period_start, b.period_end, h.probability
    FROM list_holdouts h JOIN list_builds b ON b.id = h.build_id
    WHERE b.period_start BETWEEN :a AND :b AND b.status = 'complete' AND h.offer_id IS NOT NULL
""")
_SCOPE_SUMS = text("""
    SELECT s.member_key, op.offer_id, SUM(s.quantity), SUM(s.amount_cents)
    FROM transactions t
    JOIN scan_lines s ON s.transaction_id = t.transaction_id
    JOIN offer_products op ON op.product_key = s.product_key
    WHERE t.business_date BETWEEN :a AND :b AND t.member_key IS NOT NULL AND op.offer_id IN :offers
    GROUP BY s.member_key, op.offer_id
""").bindparams(bindparam("offers", expanding=True))
_LEDGER = text("""
    SELECT ln.offer_id, ln.brand_loyalty, ln.usage_tier, SUM(r.discount_cents),
           SUM(CASE WHEN r.funder_kind = 'manufacturer' THEN r.funded_cents ELSE 0 END), SUM(r.handling_fee_cents)
    FROM redemptions r
    JOIN shopping_list_lines ln ON ln.id = r.list_line_id
    JOIN shopping_lists l ON l.id = ln.list_id
    WHERE l.period_start BETWEEN :a AND :b AND l.status <> 'replaced'
    GROUP BY ln.offer_id, ln.brand_loyalty, ln.usage_tier
""")
_OFFERS = text("""
    SELECT id, slug, name, manufacturer_id, segment_category FROM offers WHERE id IN :ids ORDER BY id
""").bindparams(bindparam("ids", expanding=True))


def targeted_pairs(conn: Connection, a: date, b: date) -> dict[str, np.ndarray]:
    """Treated (list line) and control (offer hold-out) pairs of the periods starting in [a, b]."""
    rows = [(*r, True) for r in conn.execute(_TREATED, {"a": a, "b": b})]
    rows += [(*r, False) for r in conn.execute(_CONTROL, {"a": a, "b": b})]
    if not rows:
        return {}
    member, offer, loyalty, tier, stage, start, end, probability, treated = zip(*rows)
    return {
        "member_key": np.array(member, dtype=np.int64), "offer_id": np.array(offer, dtype=np.int64),
        "cell": cell_index(loyalty, tier), "stage": stage_index(stage),
        "start": np.array([_day(d) for d in start], dtype=np.int64),
        "end": np.array([_day(d) for d in end], dtype=np.int64),
        "treated": np.array(treated, dtype=bool),
        "probability": np.array([p or 0.0 for p in probability], dtype=np.float64),
    }


def _day(value: Any) -> int:
    return (value if isinstance(value, date) else date.fromisoformat(str(value))).toordinal()


def scope_sums(conn: Connection, start: date, end: date, offer_ids: Sequence[int]) -> tuple[np.ndarray, ...]:
    """(member_key, offer_id, units, net cents) of every member's buying of each offer's scope
    in ``[start, end]`` (from scan lines, returns netted; voided baskets are gone)."""
    rows = conn.execute(_SCOPE_SUMS, {"a": start, "b": end, "offers": list(offer_ids)}).all()
    if not rows:
        empty = np.empty(0, np.int64)
        return empty, empty, empty, empty
    m, o, u, s = zip(*rows)
    return (np.array(m, np.int64), np.array(o, np.int64), np.array(u, np.int64), np.array(s, np.int64))


def lookup_pairs(keys_m: np.ndarray, keys_o: np.ndarray, values: Sequence[np.ndarray],
                 want_m: np.ndarray, want_o: np.ndarray) -> list[np.ndarray]:
    """Values of (member, offer) pairs looked up in a sparse sum table; 0 where absent."""
    if keys_m.shape[0] == 0:
        return [np.zeros(want_m.shape, v.dtype) for v in values]
    scale = np.int64(max(int(keys_o.max()), int(want_o.max(initial=0))) + 1)
    have = keys_m * scale + keys_o
    order = np.argsort(have)
    have = have[order]
    want = want_m * scale + want_o
    pos = np.minimum(np.searchsorted(have, want), have.shape[0] - 1)
    found = have[pos] == want
    return [np.where(found, v[order][pos], 0) for v in values]


def load_lift_inputs(
    conn: Connection, period_start: date, period_end: date, *, pre_weeks: int = 8,
    offer_ids: Sequence[int] | None = None,
) -> LiftInputs:
    """Pairs of the list periods starting in ``[period_start, period_end]`` with their outcomes."""
    pairs = targeted_pairs(conn, period_start, period_end)
    if pairs and offer_ids is not None:
        keep = np.isin(pairs["offer_id"], np.asarray(list(offer_ids), dtype=np.int64))
        pairs = {k: v[keep] for k, v in pairs.items()}
    if not pairs or pairs["member_key"].shape[0] == 0:
        return _empty()
    ids = np.unique(pairs["offer_id"])
    n = pairs["member_key"].shape[0]
    units = np.zeros(n, np.float64)
    sales = np.zeros(n, np.int64)
    pre = np.zeros(n, np.int64)
    pre_units = np.zeros(n, np.int64)
    # one pass per list period (a range holds a few): the windows differ by period
    for s_day, e_day in sorted(set(zip(pairs["start"].tolist(), pairs["end"].tolist()))):
        sel = (pairs["start"] == s_day) & (pairs["end"] == e_day)
        start, end = date.fromordinal(s_day), date.fromordinal(e_day)
        window_ids = np.unique(pairs["offer_id"][sel]).tolist()
        m, o, u, s = scope_sums(conn, start, end, window_ids)
        got_u, got_s = lookup_pairs(m, o, [u, s], pairs["member_key"][sel], pairs["offer_id"][sel])
        units[sel], sales[sel] = got_u, got_s
        pm, po, pu, ps = scope_sums(conn, start - timedelta(weeks=pre_weeks), start - timedelta(days=1), window_ids)
        got_pu, got_ps = lookup_pairs(pm, po, [pu, ps], pairs["member_key"][sel], pairs["offer_id"][sel])
        pre[sel], pre_units[sel] = got_ps, got_pu
    offers = [dict(id=r[0], slug=r[1], name=r[2], manufacturer_id=r[3], category=r[4] or "")
              for r in conn.execute(_OFFERS, {"ids": ids.tolist()})]
    offer_pos = np.searchsorted(ids, pairs["offer_id"])
    ledger = np.zeros((ids.shape[0], len(CELL_NAMES), 3), np.int64)
    for offer_id, loyalty, tier, discount, funded, fee in conn.execute(_LEDGER, {"a": period_start, "b": period_end}):
        pos = int(np.searchsorted(ids, offer_id))
        if pos < ids.shape[0] and ids[pos] == offer_id:
            ledger[pos, int(cell_index([loyalty], [tier])[0])] += (int(discount or 0), int(funded or 0), int(fee or 0))
    return LiftInputs(
        member_key=pairs["member_key"], offer_pos=offer_pos.astype(np.int64), cell=pairs["cell"],
        stage=pairs["stage"], treated=pairs["treated"], units=units, sales_cents=sales, pre_sales_cents=pre,
        offers=offers, ledger_by_cell=ledger, probability=pairs["probability"], pre_units=pre_units,
    )


def _empty() -> LiftInputs:
    e = np.empty(0, np.int64)
    return LiftInputs(member_key=e, offer_pos=e, cell=e, stage=e, treated=np.empty(0, bool),
                      units=np.empty(0, np.float64), sales_cents=e, pre_sales_cents=e, offers=[],
                      ledger_by_cell=np.zeros((0, len(CELL_NAMES), 3), np.int64))


__all__ = ["CELL_NAMES", "LiftInputs", "UNSEGMENTED", "cell_index", "load_lift_inputs", "lookup_pairs",
           "scope_sums", "stage_index", "targeted_pairs"]
