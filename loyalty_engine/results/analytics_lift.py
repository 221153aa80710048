"""The hold-out lift for analytics, estimated by ``loyalty_engine.results.lift`` from the arrays
analytics already read (one pass over the scans serves both).

Same design as the results' lift: for each offer, members whose list carried it (treated)
against members drawn as its hold-out (control); outcome the scope's units and net sales in
the period, CUPED on the scope's net sales over the ``pre_weeks`` before it. Only the
reading differs: here it comes from :class:`AnalyticsInputs`.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import Connection, bindparam, text

from .analytics_inputs import AnalyticsInputs, pair_keys
from .inputs import CELL_NAMES, cell_index

_CONTROL = text("""
    SELECT h.member_key, h.offer_id, h.brand_loyalty, h.usage_tier
    FROM list_holdouts h JOIN list_builds b ON b.id = h.build_id
    WHERE b.period_start = :p AND b.status = 'complete' AND h.offer_id IN :offers
""").bindparams(bindparam("offers", expanding=True))

LiftIndex = dict[tuple[int, str], dict[str, Any]]


def scope_rows(inp: AnalyticsInputs, first_day: int, last_day: int) -> tuple[np.ndarray, ...]:
    """Scan lines of days ``[first_day, last_day]`` joined to every offer whose scope holds the
    product: (member, offer position, day, units, net cents). Kept on the inputs: the measures
    and the lift both need the period's."""
    cached = inp.cache.get((first_day, last_day))
    if cached is None:
        cached = inp.cache[(first_day, last_day)] = _scope_rows(inp, first_day, last_day)
    return cached


def _scope_rows(inp: AnalyticsInputs, first_day: int, last_day: int) -> tuple[np.ndarray, ...]:
    keep = (inp.scan_day >= first_day) & (inp.scan_day <= last_day)
    order = np.argsort(inp.scope_product, kind="stable")
    right = inp.scope_product[order]
    left = inp.scan_product[keep]
    lo = np.searchsorted(right, left, "left")
    count = np.searchsorted(right, left, "right") - lo
    i = np.repeat(np.arange(len(left)), count)
    j = np.repeat(lo, count) + (np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count))
    return (inp.scan_member[keep][i], inp.scope_offer[order[j]], inp.scan_day[keep][i], inp.scan_units[keep][i],
            inp.scan_cents[keep][i])


def _sums(keys: np.ndarray, values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    if not len(keys):
        return np.zeros(len(wanted), dtype=np.int64)
    uniq, inverse = np.unique(keys, return_inverse=True)
    sums = np.bincount(inverse, values, minlength=len(uniq)).astype(np.int64)
    at = np.clip(np.searchsorted(uniq, wanted), 0, len(uniq) - 1)
    return np.where(uniq[at] == wanted, sums[at], 0)


def analytics_lift(conn: Connection, inp: AnalyticsInputs, pre_weeks: int = 8) -> LiftIndex:
    """Lift rows of every offer (cell "all") and offer x cell, keyed by (offer id, cell)."""
    try:
        from .inputs import LiftInputs
        from .lift import lift_from_inputs
    except ImportError:  # the lift estimator ships separately; analytics work without it
        return {}
    if not inp.offers:
        return {}
    position = {o["id"]: i for i, o in enumerate(inp.offers)}
    control = conn.execute(_CONTROL, {"p": inp.period_start, "offers": [o["id"] for o in inp.offers]}).all()
    c_member = np.asarray([r[0] for r in control], dtype=np.int64)
    c_offer = np.asarray([position[int(r[1])] for r in control], dtype=np.int64)
    member = np.concatenate([inp.pair_member, c_member])
    offer = np.concatenate([inp.pair_offer, c_offer])
    cell = np.concatenate([inp.pair_cell, cell_index([r[2] for r in control], [r[3] for r in control])])
    treated = np.concatenate([np.ones(len(inp.pair_member), dtype=bool), np.zeros(len(control), dtype=bool)])
    n_offers = len(inp.offers)
    wanted = pair_keys(member, offer, n_offers)
    m, o, _d, u, c = scope_rows(inp, 0, inp.period_days - 1)
    pm, po, _pd, _pu, pc = scope_rows(inp, -7 * pre_weeks, -1)
    inputs = LiftInputs(
        member_key=member, offer_pos=offer, cell=cell, stage=np.full(len(member), -1, dtype=np.int64),
        treated=treated, units=_sums(pair_keys(m, o, n_offers), u, wanted).astype(np.float64),
        sales_cents=_sums(pair_keys(m, o, n_offers), c, wanted),
        pre_sales_cents=_sums(pair_keys(pm, po, n_offers), pc, wanted),
        offers=[dict(id=x["id"], slug=x["offer_code"], name=x["name"], manufacturer_id=x["manufacturer_id"],
                     category=x["category"]) for x in inp.offers],
        ledger_by_cell=np.zeros((n_offers, len(CELL_NAMES), 3), dtype=np.int64),
    )
    out: LiftIndex = {}
    for by_cell in (False, True):
        for lr in lift_from_inputs(inputs, by_cell=by_cell):
            out.setdefault((lr.offer_id, lr.cell if by_cell else "all"), {})[lr.outcome] = lr
    return out
