"""Manufacturer analytics: what a funder's offers did with the members they reached, anonymized.

For one funder and list period, per offer (and per its cells, stores and weeks), per
category and for the funder's whole program, over the members whose list carried the offer:

* ``members``: members reached; ``buyers``: those who bought the offer's scope in the period
  (net units above zero, redeemed or not); ``penetration`` = buyers / members;
  ``units``, ``sales_cents`` (net of returns) and ``units_per_buyer``;
* ``trial``: buyers who had not bought the brand (any product of the scope's brands) in the
  ``trial_weeks`` before the period; ``repeat``: buyers who bought on two or more days;
* source of volume, per buyer, from the category in the weeks before: ``same_brand`` (had
  bought the brand), ``from_store_brand`` / ``from_national`` (had bought the category's store
  brand / another national brand, whichever more), ``new_to_category``: the switching
  between national and store brand that the offer won;
* ``redemptions``: net of returns and voids (ledger);
* the lift against the offer's randomized hold-out (``loyalty_engine.results.lift``).

Never a member key, member number, card, name, address or list number: only counts and
sums of groups. Any group with fewer than ``min_group_size`` distinct members (buyers, for a
week) is suppressed, with complementary suppression (:mod:`.suppression`) over the table's
sums (funder = categories, category = offers, offer = cells = stores = weeks).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Connection, text

from .analytics_inputs import FunderInputs, load_funder_inputs, pair_keys
from .inputs import CELL_NAMES
from .statements import StatementError, find_period
from .suppression import Relation, suppress

ADDITIVE = ("members", "buyers", "units", "sales_cents", "trial", "repeat", "same_brand", "from_store_brand",
            "from_national", "new_to_category", "redemptions")
LIFT_FIELDS = ("lift_units", "lift_units_low", "lift_units_high", "lift_sales_cents", "lift_sales_low",
               "lift_sales_high", "relative_lift_sales", "lift_significant", "control_members")
COLUMNS = ("level", "category", "offer_code", "offer_name", "group", "suppressed", *ADDITIVE, "penetration",
           "units_per_buyer", "trial_share", "repeat_share", *LIFT_FIELDS)


class AnalyticsError(StatementError):
    """Analytics cannot be computed as asked (unknown funder or period, no offers)."""


@dataclass
class AnalyticsReport:
    funder: str
    funder_name: str
    period_start: date
    period_end: date
    min_group_size: int
    trial_weeks: int
    rows: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {"funder": self.funder, "funder_name": self.funder_name, "period_start": self.period_start.isoformat(),
                "period_end": self.period_end.isoformat(), "min_group_size": self.min_group_size,
                "trial_weeks": self.trial_weeks, "rows": self.rows}


# --------------------------------------------------------------------------- per pair


def _pair_measures(inp: FunderInputs, n_weeks: int) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Per treated pair: units, sales, buyer, repeat, trial, source; plus per (pair, week) units/sales."""
    n_offers = len(inp.offers)
    n = len(inp.pair_member)
    pk = pair_keys(inp.pair_member, inp.pair_offer, n_offers)
    order = np.argsort(pk, kind="stable")
    sorted_pk = pk[order]
    bk = pair_keys(inp.buy_member, inp.buy_offer, n_offers)
    at = np.clip(np.searchsorted(sorted_pk, bk), 0, max(n - 1, 0))
    hit = (sorted_pk[at] == bk) if n else np.zeros(len(bk), dtype=bool)
    idx = order[at[hit]]
    units = np.bincount(idx, inp.buy_units[hit], minlength=n).astype(np.int64)
    sales = np.bincount(idx, inp.buy_sales[hit], minlength=n).astype(np.int64)
    days = np.bincount(idx, (inp.buy_units[hit] > 0).astype(np.int64), minlength=n)
    week = np.clip(inp.buy_day[hit] // 7, 0, n_weeks - 1)
    week_units = np.zeros((n, n_weeks), dtype=np.int64)
    week_sales = np.zeros((n, n_weeks), dtype=np.int64)
    np.add.at(week_units, (idx, week), inp.buy_units[hit])
    np.add.at(week_sales, (idx, week), inp.buy_sales[hit])
    buyer = units > 0
    brand, national, store = _pre_spend(inp)
    source_same = brand > 0
    source_new = ~source_same & (national <= 0) & (store <= 0)
    source_store = ~source_same & ~source_new & (store > national)
    source_national = ~source_same & ~source_new & ~source_store
    measures = {
        "members": np.ones(n, dtype=np.int64), "buyers": buyer.astype(np.int64), "units": units,
        "sales_cents": sales, "trial": (buyer & ~source_same).astype(np.int64),
        "repeat": (buyer & (days >= 2)).astype(np.int64),
        "same_brand": (buyer & source_same).astype(np.int64),
        "from_store_brand": (buyer & source_store).astype(np.int64),
        "from_national": (buyer & source_national).astype(np.int64),
        "new_to_category": (buyer & source_new).astype(np.int64),
        "redemptions": inp.pair_redemptions.astype(np.int64),
    }
    return measures, week_units, week_sales


def _pre_spend(inp: FunderInputs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pair: pre-period spend on the offer's brand, other national brands, the store brand."""
    n = len(inp.pair_member)
    brand, national, store = (np.zeros(n, dtype=np.int64) for _ in range(3))
    if not len(inp.pre_member) or not n:
        return brand, national, store
    prod_order = np.argsort(inp.product_key)
    at = np.clip(np.searchsorted(inp.product_key[prod_order], inp.pre_product), 0, len(inp.product_key) - 1)
    known = inp.product_key[prod_order][at] == inp.pre_product
    pos = prod_order[at]
    category = np.where(known, inp.product_category[pos], None)
    is_national = known & inp.product_national[pos]
    for o, offer in enumerate(inp.offers):  # per offer, all members at once
        pairs = np.flatnonzero(inp.pair_offer == o)
        if not len(pairs):
            continue
        in_brand = np.isin(inp.pre_product, inp.offer_brand_products[o])
        in_cat = category == offer["category"]
        for target, mask in ((brand, in_brand), (national, in_cat & ~in_brand & is_national),
                             (store, in_cat & ~in_brand & ~is_national)):
            target[pairs] = _member_sums(inp.pre_member[mask], inp.pre_spend[mask], inp.pair_member[pairs])
    return brand, national, store


def _member_sums(members: np.ndarray, values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    if not len(members):
        return np.zeros(len(wanted), dtype=np.int64)
    keys, inverse = np.unique(members, return_inverse=True)
    sums = np.bincount(inverse, values, minlength=len(keys)).astype(np.int64)
    at = np.clip(np.searchsorted(keys, wanted), 0, len(keys) - 1)
    return np.where(keys[at] == wanted, sums[at], 0)


# --------------------------------------------------------------------------- groups


def _sum_by(measures: dict[str, np.ndarray], group: np.ndarray, n_groups: int) -> dict[str, np.ndarray]:
    return {k: np.bincount(group, v, minlength=n_groups).astype(np.int64) for k, v in measures.items()}


def _row(level: str, offer: dict[str, Any] | None, category: str, group: str, values: dict[str, int]) -> dict[str, Any]:
    row: dict[str, Any] = {"level": level, "category": category, "offer_code": offer["offer_code"] if offer else "",
                           "offer_name": offer["name"] if offer else "", "group": group, "suppressed": False}
    row.update({k: values.get(k) for k in ADDITIVE})
    buyers, members = values.get("buyers"), values.get("members")
    row["penetration"] = round(buyers / members, 4) if buyers is not None and members else None
    row["units_per_buyer"] = round(values["units"] / buyers, 3) if buyers else None
    row["trial_share"] = round(values["trial"] / buyers, 4) if buyers and values.get("trial") is not None else None
    row["repeat_share"] = round(values["repeat"] / buyers, 4) if buyers and values.get("repeat") is not None else None
    row.update({k: None for k in LIFT_FIELDS})
    return row


def _build_rows(inp: FunderInputs, n_weeks: int, period_start: date) -> tuple[list[dict[str, Any]], list[Relation],
                                                                              dict[int, int]]:
    """All groups' rows (unsuppressed), the sums between them, and each row's member count."""
    n_offers, n_cells, n_stores = len(inp.offers), len(CELL_NAMES), len(inp.stores)
    measures, week_units, week_sales = _pair_measures(inp, n_weeks)
    rows: list[dict[str, Any]] = []
    size: dict[int, int] = {}
    relations: list[Relation] = []

    def add(row: dict[str, Any], members: int) -> int:
        rows.append(row)
        size[len(rows) - 1] = members
        return len(rows) - 1

    by_offer = _sum_by(measures, inp.pair_offer, n_offers)
    by_cell = _sum_by(measures, inp.pair_offer * n_cells + inp.pair_cell, n_offers * n_cells)
    by_store = _sum_by(measures, inp.pair_offer * max(n_stores, 1) + inp.pair_store, n_offers * max(n_stores, 1))
    week_buyers = np.zeros((n_offers, n_weeks), dtype=np.int64)
    np.add.at(week_buyers, inp.pair_offer, (week_units > 0).astype(np.int64))
    off_week_units = np.zeros((n_offers, n_weeks), dtype=np.int64)
    np.add.at(off_week_units, inp.pair_offer, week_units)
    off_week_sales = np.zeros((n_offers, n_weeks), dtype=np.int64)
    np.add.at(off_week_sales, inp.pair_offer, week_sales)

    total = add(_row("funder", None, "", "all", {}), 0)
    categories = sorted({o["category"] for o in inp.offers})
    cat_rows = []
    for cat in categories:
        offer_pos = [i for i, o in enumerate(inp.offers) if o["category"] == cat]
        cat_row = add(_row("category", None, cat, "all", {}), 0)
        cat_rows.append(cat_row)
        offer_rows = []
        for o in offer_pos:
            offer = inp.offers[o]
            values = {k: int(v[o]) for k, v in by_offer.items()}
            o_row = add(_row("offer", offer, cat, "all", values), values["members"])
            offer_rows.append(o_row)
            kids = []
            for c in range(n_cells):
                v = {k: int(arr[o * n_cells + c]) for k, arr in by_cell.items()}
                if v["members"]:
                    kids.append(add(_row("cell", offer, cat, CELL_NAMES[c], v), v["members"]))
            relations.append(Relation(o_row, tuple(kids)))
            kids = []
            for s in range(n_stores):
                v = {k: int(arr[o * n_stores + s]) for k, arr in by_store.items()}
                if v["members"]:
                    kids.append(add(_row("store", offer, cat, inp.stores[s] or "(no store)", v), v["members"]))
            relations.append(Relation(o_row, tuple(kids)))
            kids = []
            for w in range(n_weeks):
                v = {"buyers": int(week_buyers[o, w]), "units": int(off_week_units[o, w]),
                     "sales_cents": int(off_week_sales[o, w])}
                week = (period_start + timedelta(days=7 * w)).isoformat()
                kids.append(add(_row("week", offer, cat, week, v), v["buyers"]))
            relations.append(Relation(o_row, tuple(kids)))
        _fill_parent(rows, cat_row, offer_rows, inp, offer_pos)
        size[cat_row] = rows[cat_row]["members"]
        relations.append(Relation(cat_row, tuple(offer_rows)))
    _fill_parent(rows, total, cat_rows, inp, list(range(n_offers)))
    size[total] = rows[total]["members"]
    relations.append(Relation(total, tuple(cat_rows)))
    return rows, relations, size


def _fill_parent(rows: list[dict[str, Any]], parent: int, children: list[int], inp: FunderInputs,
                 offer_pos: list[int]) -> None:
    """A category's (or the funder's) row: sums of its children; members and buyers distinct."""
    values = {k: sum(rows[c][k] or 0 for c in children) for k in ADDITIVE}
    mask = np.isin(inp.pair_offer, offer_pos)
    values["members"] = int(len(np.unique(inp.pair_member[mask])))
    template = _row(rows[parent]["level"], None, rows[parent]["category"], "all", values)
    rows[parent].update(template)


def _attach_lift(conn: Connection, rows: list[dict[str, Any]], inp: FunderInputs, period_start: date, k: int) -> None:
    """The hold-out lift of each offer and cell, where the lift module is there and groups are big enough."""
    try:
        from .lift import offer_lift
    except ImportError:  # the lift estimator ships separately; analytics work without it
        return
    ids = [o["id"] for o in inp.offers]
    code = {o["id"]: o["offer_code"] for o in inp.offers}
    index = {(r["level"], r["offer_code"], r["group"]): r for r in rows}
    for by_cell in (False, True):
        for lr in offer_lift(conn, period_start, by_cell=by_cell, offer_ids=ids):
            row = index.get(("cell" if by_cell else "offer", code.get(lr.offer_id), lr.cell if by_cell else "all"))
            if row is None or lr.n_treated < k or lr.n_control < k:
                continue
            row["control_members"] = lr.n_control
            if lr.outcome == "units":
                row.update(lift_units=_r(lr.cuped_lift), lift_units_low=_r(lr.cuped_ci_low),
                           lift_units_high=_r(lr.cuped_ci_high))
            else:
                row.update(lift_sales_cents=_r(lr.cuped_lift), lift_sales_low=_r(lr.cuped_ci_low),
                           lift_sales_high=_r(lr.cuped_ci_high), relative_lift_sales=_r(lr.relative_lift),
                           lift_significant=bool(lr.significant))


def _r(value: float | None) -> float | None:
    return round(float(value), 4) if value is not None and np.isfinite(value) else None


def funder_analytics(conn: Connection, manufacturer_id: str, period_start: date, *, min_group_size: int = 10,
                     trial_weeks: int = 12) -> AnalyticsReport:
    """The funder's anonymized analytics for one list period (suppression applied)."""
    found = conn.execute(text("SELECT id, name FROM manufacturers WHERE id = :m"), {"m": manufacturer_id}).first()
    if found is None:
        raise AnalyticsError(f"unknown funder {manufacturer_id!r}: no manufacturer with that id")
    period = find_period(conn, period_start)
    if period is None:
        raise AnalyticsError(f"unknown period {period_start.isoformat()}: no lists were built for a period starting that day")
    inp = load_funder_inputs(conn, manufacturer_id, (period.start, period.end), trial_weeks)
    if not inp.offers:
        raise AnalyticsError(f"{manufacturer_id} has no offers on the lists of the period {period_start.isoformat()}")
    n_weeks = (period.end - period.start).days // 7 + 1
    rows, relations, size = _build_rows(inp, n_weeks, period.start)
    _attach_lift(conn, rows, inp, period.start, min_group_size)
    # complements: hide the funder's total, then a category, before any offer or its groups
    cost = {i: {"funder": 0, "category": 1}.get(r["level"], 2) for i, r in enumerate(rows)}
    for i in suppress(size, relations, min_group_size, cost):
        rows[i]["suppressed"] = True
        rows[i].update({k: None for k in (*ADDITIVE, "penetration", "units_per_buyer", "trial_share", "repeat_share",
                                          *LIFT_FIELDS)})
    return AnalyticsReport(manufacturer_id, found[1] or manufacturer_id, period.start, period.end, min_group_size,
                           trial_weeks, rows)
