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
import pandas as pd
from sqlalchemy import Connection, bindparam, text

from ..models.offers import BRAND_LOYALTIES, LIFECYCLE_STAGES, USAGE_TIERS
from .period_lines import PeriodLines, ordinal_days
from .scan_window import ScanWindows

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
_OFFER_PRODUCTS = text("""
    SELECT product_key, offer_id FROM offer_products WHERE offer_id IN :offers ORDER BY product_key, offer_id
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


def targeted_pairs(conn: Connection, a: date, b: date, lines: PeriodLines | None = None) -> dict[str, np.ndarray]:
    """Treated (list line) and control (offer hold-out) pairs of the periods starting in [a, b]
    (the treated ones from ``lines`` when the caller read them already)."""
    parts = []
    for query, treated in ((_TREATED, True), (_CONTROL, False)):
        if treated and lines is not None:
            continue
        result = conn.execute(query, {"a": a, "b": b})
        rows = result.cursor.fetchall() if result.cursor is not None else []
        if rows:
            parts.append((rows, treated))
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("member_key", "offer_id", "cell", "stage", "start", "end",
                                                          "treated", "probability")}
    if lines is not None and len(lines):
        codes, distinct = pd.factorize(lines.stage, sort=False)
        for name, values in (("member_key", lines.ints["member"]), ("offer_id", lines.ints["offer"]),
                             ("cell", lines.cell), ("stage", stage_index(list(distinct))[codes]),
                             ("start", lines.start), ("end", lines.end),
                             ("treated", np.ones(len(lines), dtype=bool)), ("probability", lines.probability)):
            cols[name].append(values)
    elif not parts:
        return {}
    for rows, treated in parts:
        member, offer, loyalty, tier, stage, start, end, probability = zip(*rows)
        cols["member_key"].append(np.array(member, dtype=np.int64))
        cols["offer_id"].append(np.array(offer, dtype=np.int64))
        cols["cell"].append(_coded(cell_index, loyalty, tier))
        cols["stage"].append(_coded(stage_index, stage))
        cols["start"].append(ordinal_days(start))
        cols["end"].append(ordinal_days(end))
        cols["treated"].append(np.full(len(rows), treated))
        cols["probability"].append(np.nan_to_num(np.array(probability, dtype=np.float64)))
    if not cols["member_key"]:
        return {}
    return {k: np.concatenate(v) for k, v in cols.items()}


def _coded(fn, *columns: Sequence[Any]) -> np.ndarray:  # type: ignore[no-untyped-def]
    """``fn`` applied to the distinct value combinations only (a handful), then spread
    (hash-based factorizing: sorting a million strings would cost seconds)."""
    combined = np.zeros(len(columns[0]), dtype=np.int64)
    for column in columns:
        codes, distinct = pd.factorize(pd.Series(column, dtype=object).fillna(""), sort=False)
        combined = combined * (len(distinct) + 1) + codes
    keys, first, inverse = np.unique(combined, return_index=True, return_inverse=True)
    firsts = [[("" if column[i] is None else str(column[i])) for i in first.tolist()] for column in columns]
    values = fn(*firsts) if keys.shape[0] else np.empty(0, np.int64)
    return np.asarray(values, dtype=np.int64)[inverse]


def window_sums(conn: Connection, pre_start: date, start: date, end: date,
                offer_ids: Sequence[int], scans: ScanWindows | None = None) -> dict[int, tuple[np.ndarray, ...]]:
    """Every member's buying of each offer's scope, from scan lines (returns netted; voided
    baskets are gone): ``{1: period [start, end], 0: pre-period [pre_start, start)}``, each
    (member_key, offer_id, units, net cents) with one row per (member, offer) that bought.

    The lines come from ``scans`` (a read shared with analytics) when given; the product ->
    offer expansion and the sums happen in numpy (joining ``offer_products`` in SQL let SQLite
    drive the join from the products, one scan of the window per product; grouping in SQL
    cost more than handing the lines over on both databases)."""
    empty = np.empty(0, np.int64)
    out = {flag: (empty, empty, empty, empty) for flag in (0, 1)}
    if not len(offer_ids):
        return out
    links = conn.execute(_OFFER_PRODUCTS, {"offers": [int(o) for o in offer_ids]}).all()
    if not links:
        return out
    link_product, link_offer = (np.array(c, dtype=np.int64) for c in zip(*links))
    member, product, day, units, cents = (scans or ScanWindows()).window(conn, pre_start, end, start, link_product)
    if not member.shape[0]:
        return out
    flag = (day >= 0).astype(np.int64)
    # each line counts once for every offer whose scope holds its product
    first = np.searchsorted(link_product, product, side="left")
    count = np.searchsorted(link_product, product, side="right") - first
    row = np.repeat(np.arange(member.shape[0]), count)
    offset = np.arange(row.shape[0]) - np.repeat(np.cumsum(count) - count, count)
    offer = link_offer[first[row] + offset]
    scale = np.int64(int(link_offer.max()) + 1)
    keys, inverse = np.unique((member[row] * scale + offer) * 2 + flag[row], return_inverse=True)
    units_sum = np.bincount(inverse, weights=units[row], minlength=keys.shape[0]).astype(np.int64)
    cents_sum = np.bincount(inverse, weights=cents[row], minlength=keys.shape[0]).astype(np.int64)
    pair, in_period = keys // 2, keys % 2
    for f in (0, 1):
        sel = in_period == f
        out[f] = (pair[sel] // scale, pair[sel] % scale, units_sum[sel], cents_sum[sel])
    return out


def scope_sums(conn: Connection, start: date, end: date, offer_ids: Sequence[int]) -> tuple[np.ndarray, ...]:
    """(member_key, offer_id, units, net cents) of every member's buying of each offer's scope
    in ``[start, end]``."""
    return window_sums(conn, start, start, end, offer_ids)[1]


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
    offer_ids: Sequence[int] | None = None, scans: ScanWindows | None = None, lines: PeriodLines | None = None,
) -> LiftInputs:
    """Pairs of the list periods starting in ``[period_start, period_end]`` with their outcomes
    (scan lines read through ``scans`` when given: a read shared with analytics; the list
    lines and their ledger sums from ``lines`` when the caller read them already)."""
    pairs = targeted_pairs(conn, period_start, period_end, lines)
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
        sums = window_sums(conn, start - timedelta(weeks=pre_weeks), start, end, window_ids, scans)
        m, o, u, s = sums[1]
        got_u, got_s = lookup_pairs(m, o, [u, s], pairs["member_key"][sel], pairs["offer_id"][sel])
        units[sel], sales[sel] = got_u, got_s
        pm, po, pu, ps = sums[0]
        got_pu, got_ps = lookup_pairs(pm, po, [pu, ps], pairs["member_key"][sel], pairs["offer_id"][sel])
        pre[sel], pre_units[sel] = got_ps, got_pu
    offers = [dict(id=r[0], slug=r[1], name=r[2], manufacturer_id=r[3], category=r[4] or "")
              for r in conn.execute(_OFFERS, {"ids": ids.tolist()})]
    offer_pos = np.searchsorted(ids, pairs["offer_id"])
    ledger = np.zeros((ids.shape[0], len(CELL_NAMES), 3), np.int64)
    if lines is not None:
        _ledger_from_lines(ledger, ids, lines)
        ledger_rows = []
    else:
        ledger_rows = conn.execute(_LEDGER, {"a": period_start, "b": period_end}).all()
    if ledger_rows:
        offer_col, loyalty, tier, *money = zip(*ledger_rows)
        offer_col = np.array(offer_col, dtype=np.int64)
        pos = np.minimum(np.searchsorted(ids, offer_col), ids.shape[0] - 1)
        known = ids[pos] == offer_col
        cells = _coded(cell_index, loyalty, tier)
        amounts = np.array([[int(v or 0) for v in col] for col in money], dtype=np.int64).T
        np.add.at(ledger, (pos[known], cells[known]), amounts[known])
    return LiftInputs(
        member_key=pairs["member_key"], offer_pos=offer_pos.astype(np.int64), cell=pairs["cell"],
        stage=pairs["stage"], treated=pairs["treated"], units=units, sales_cents=sales, pre_sales_cents=pre,
        offers=offers, ledger_by_cell=ledger, probability=pairs["probability"], pre_units=pre_units,
    )


def _ledger_from_lines(ledger: np.ndarray, ids: np.ndarray, lines: PeriodLines) -> None:
    """Add the lines' net discount, funded and handling-fee cents into ``ledger`` per (offer, cell)."""
    if not len(lines) or not ids.shape[0]:
        return
    offer = lines.ints["offer"]
    pos = np.minimum(np.searchsorted(ids, offer), ids.shape[0] - 1)
    known = ids[pos] == offer
    amounts = np.stack([lines.ints["discount"], lines.ints["funded"], lines.ints["fee"]], axis=1)
    np.add.at(ledger, (pos[known], lines.cell[known]), amounts[known])


def _empty() -> LiftInputs:
    e = np.empty(0, np.int64)
    return LiftInputs(member_key=e, offer_pos=e, cell=e, stage=e, treated=np.empty(0, bool),
                      units=np.empty(0, np.float64), sales_cents=e, pre_sales_cents=e, offers=[],
                      ledger_by_cell=np.zeros((0, len(CELL_NAMES), 3), np.int64))


__all__ = ["CELL_NAMES", "LiftInputs", "UNSEGMENTED", "cell_index", "load_lift_inputs", "lookup_pairs",
           "scope_sums", "stage_index", "targeted_pairs", "window_sums"]
