"""Incremental lift of offers from their randomized hold-outs (intention to treat).

Public API (other modules import these; the signatures are stable):

    offer_lift(conn, period_start, period_end=None, *, by_cell=False, offer_ids=None,
               pre_weeks=8) -> list[LiftRow]
        One row per offer and outcome ("units", "net_sales_cents"); with ``by_cell=True``
        one row per offer x cell instead ("national:high", ..., "unsegmented").
        ``period_start``/``period_end`` select the list periods whose ``period_start`` lies in
        that range (``period_end`` None = just that one period). ``conn`` is a SQLAlchemy
        Connection (or Engine).

    pooled_lift(rows, key) -> list[PooledRow]
        Inverse-variance pooling of ``offer_lift`` rows (offer level) by a key of the row,
        e.g. ``key=lambda r: r.manufacturer_id`` (per funder) or ``lambda r: r.category``.

    lift_from_inputs(inputs, by_cell=False) -> list[LiftRow]
        The same estimate from arrays (``LiftInputs``), no database: tests and benchmarks.

``LiftRow`` fields: offer_id, offer_slug, offer_name, manufacturer_id, category, cell
("all" at offer level), outcome, n_treated, n_control, mean_treated, mean_control, lift,
relative_lift, ci_low, ci_high, cuped_lift, cuped_ci_low, cuped_ci_high, variance_reduction,
significant, incremental_total, discount_cents, funded_cents, retailer_cents,
sales_per_funded_dollar, sales_per_retailer_dollar. ``lift`` is per targeted member (treated
mean minus control mean); the interval is 95 %; the ``cuped_*`` figures are the reported
ones (``variance_reduction`` = share of the lift's variance the pre-period covariate removed).

Who is compared: for each offer, members whose list for the period carries the offer's line
(treated) against members the builder drew as the offer's hold-out (``list_holdouts`` rows
with the offer id): both were targeted, a pseudo-random draw decided. What: the member's
units and net sales (``scan_lines.amount_cents``, net of returns; voided baskets are deleted)
of the offer's scope over the list's period, whether or not a coupon was redeemed. CUPED
covariate: the same scope's buying over the ``pre_weeks`` weeks before the period (net sales
for the sales outcome, units for the units outcome).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, timedelta
from typing import Any, Callable, Hashable, Sequence

import numpy as np
from sqlalchemy import Connection, Engine

from .estimators import cuped, inverse_variance_pool
from .inputs import LiftInputs, load_lift_inputs

OUTCOMES = ("units", "net_sales_cents")


@dataclass(frozen=True)
class LiftRow:
    offer_id: int
    offer_slug: str
    offer_name: str
    manufacturer_id: str | None
    category: str
    cell: str
    outcome: str
    n_treated: int
    n_control: int
    mean_treated: float
    mean_control: float
    lift: float
    relative_lift: float | None
    ci_low: float
    ci_high: float
    cuped_lift: float
    cuped_ci_low: float
    cuped_ci_high: float
    cuped_se: float
    variance_reduction: float | None
    significant: bool
    # lift x treated members: the offer's incremental units / net sales cents in the period
    incremental_total: float
    # the offer's redemptions on these lists, net of returns and voids (ledger sums)
    discount_cents: int
    funded_cents: int
    retailer_cents: int
    # incremental net sales per dollar of discount the funder / the retailer paid
    sales_per_funded_dollar: float | None
    sales_per_retailer_dollar: float | None

    def as_dict(self) -> dict[str, Any]:
        return _shallow(self)


@dataclass(frozen=True)
class PooledRow:
    key: str
    outcome: str
    offers: int
    estimate: float
    ci_low: float
    ci_high: float

    def as_dict(self) -> dict[str, Any]:
        return _shallow(self)


def _shallow(row: Any) -> dict[str, Any]:
    """The row's fields as a dict (every field is a scalar: ``dataclasses.asdict`` would
    deep-copy each one, most of the time of storing ten thousand rows)."""
    return {f.name: clean_value(getattr(row, f.name)) for f in fields(row)}


def clean_value(value: Any) -> Any:
    """A row's value as stored: None for a non-finite float (JSON has no NaN)."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _f(value: float, digits: int = 4) -> float:
    return round(float(value), digits) if np.isfinite(value) else float("nan")


def offer_lift(
    conn: Connection | Engine,
    period_start: date,
    period_end: date | None = None,
    *,
    by_cell: bool = False,
    offer_ids: Sequence[int] | None = None,
    pre_weeks: int = 8,
) -> list[LiftRow]:
    """Per-offer (or per offer x cell) lift for the list periods starting in the range."""
    if isinstance(conn, Engine):
        with conn.connect() as c:
            return offer_lift(c, period_start, period_end, by_cell=by_cell, offer_ids=offer_ids,
                              pre_weeks=pre_weeks)
    inputs = load_lift_inputs(conn, period_start, period_end or period_start, pre_weeks=pre_weeks,
                              offer_ids=offer_ids)
    return lift_from_inputs(inputs, by_cell=by_cell)


def lift_from_inputs(inputs: LiftInputs, by_cell: bool = False) -> list[LiftRow]:
    """Lift rows from targeted-pair arrays: one CUPED estimate per group, all groups at once."""
    if len(inputs) == 0:
        return []
    n_cells = len(inputs.cell_names)
    group = inputs.offer_pos * n_cells + inputs.cell if by_cell else inputs.offer_pos
    n_groups = len(inputs.offers) * (n_cells if by_cell else 1)
    ledger = inputs.ledger_by_cell if by_cell else inputs.ledger_by_cell.sum(axis=1, keepdims=True)
    ledger = ledger.reshape(n_groups, 3)
    present = np.bincount(group, minlength=n_groups) > 0
    rows: list[LiftRow] = []
    # each outcome is adjusted by the same measure of the scope in the pre-period
    pre_units = inputs.pre_units if inputs.pre_units is not None else inputs.pre_sales_cents
    estimates = {name: cuped(values, covariate, inputs.treated, group, n_groups)
                 for name, values, covariate in (("units", inputs.units, pre_units),
                                                 ("net_sales_cents", inputs.sales_cents, inputs.pre_sales_cents))}
    # the derived arrays once (they are properties computed over every group on each access)
    derived = {name: (est.raw.relative_lift, est.adjusted.significant) for name, est in estimates.items()}
    for g in np.flatnonzero(present).tolist():
        offer = inputs.offers[g // n_cells if by_cell else g]
        cell = inputs.cell_names[g % n_cells] if by_cell else "all"
        discount, funded = int(ledger[g, 0]), int(ledger[g, 1])
        retailer = discount - funded
        for outcome, est in estimates.items():
            raw, adj = est.raw, est.adjusted
            total = float(adj.lift[g] * raw.n_treated[g]) if np.isfinite(adj.lift[g]) else float("nan")
            per_funded = per_retailer = None
            if outcome == "net_sales_cents" and np.isfinite(total):
                per_funded = round(total / funded, 4) if funded > 0 else None
                per_retailer = round(total / retailer, 4) if retailer > 0 else None
            rel = derived[outcome][0][g]
            rows.append(LiftRow(
                offer_id=int(offer["id"]), offer_slug=offer["slug"], offer_name=offer["name"],
                manufacturer_id=offer["manufacturer_id"], category=offer["category"], cell=cell,
                outcome=outcome, n_treated=int(raw.n_treated[g]), n_control=int(raw.n_control[g]),
                mean_treated=_f(raw.mean_treated[g]), mean_control=_f(raw.mean_control[g]),
                lift=_f(raw.lift[g]), relative_lift=_f(rel) if np.isfinite(rel) else None,
                ci_low=_f(raw.ci_low[g]), ci_high=_f(raw.ci_high[g]),
                cuped_lift=_f(adj.lift[g]), cuped_ci_low=_f(adj.ci_low[g]), cuped_ci_high=_f(adj.ci_high[g]),
                cuped_se=_f(adj.se[g]),
                variance_reduction=_f(est.variance_reduction[g]) if np.isfinite(est.variance_reduction[g]) else None,
                significant=bool(derived[outcome][1][g]), incremental_total=_f(total, 2),
                discount_cents=discount, funded_cents=funded, retailer_cents=retailer,
                sales_per_funded_dollar=per_funded, sales_per_retailer_dollar=per_retailer,
            ))
    return rows


def pooled_lift(rows: Sequence[LiftRow], key: Callable[[LiftRow], Hashable]) -> list[PooledRow]:
    """Inverse-variance pooled CUPED lift of offer-level rows, per ``key`` and outcome."""
    out: list[PooledRow] = []
    for outcome in OUTCOMES:
        chosen = [r for r in rows if r.outcome == outcome and r.cell == "all"]
        keys = sorted({str(key(r)) for r in chosen})
        if not keys:
            continue
        index = {k: i for i, k in enumerate(keys)}
        pool = np.array([index[str(key(r))] for r in chosen], dtype=np.int64)
        pooled = inverse_variance_pool(np.array([r.cuped_lift for r in chosen]),
                                       np.array([r.cuped_se for r in chosen]), pool, len(keys))
        for i, k in enumerate(keys):
            out.append(PooledRow(key=k, outcome=outcome, offers=int(pooled.n_groups[i]),
                                 estimate=_f(pooled.estimate[i]), ci_low=_f(pooled.ci_low[i]),
                                 ci_high=_f(pooled.ci_high[i])))
    return out


def pre_window(period_start: date, pre_weeks: int) -> tuple[date, date]:
    """The CUPED covariate's window: the ``pre_weeks`` weeks before the period (inclusive ends)."""
    return period_start - timedelta(weeks=pre_weeks), period_start - timedelta(days=1)


__all__ = ["LiftInputs", "LiftRow", "OUTCOMES", "PooledRow", "clean_value", "lift_from_inputs", "offer_lift", "pooled_lift",
           "pre_window"]
