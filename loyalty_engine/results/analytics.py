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

import csv
import io
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Connection, text

from .analytics_inputs import AnalyticsInputs, FundedOffers, load_analytics_inputs, pair_keys, read_funded_offers
from .analytics_lift import LiftIndex, analytics_lift, scope_rows
from .inputs import CELL_NAMES
from .period_lines import PeriodLines
from .scan_window import ScanWindows
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


@dataclass
class PairMeasures:
    """Per treated pair (aligned with the inputs' pairs), and per offer and week."""

    values: dict[str, np.ndarray]
    week_buyers: np.ndarray  # (offers, weeks)
    week_units: np.ndarray
    week_sales: np.ndarray


def _table(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sums of ``values`` by ``keys``: (sorted distinct keys, sums)."""
    uniq, inverse = np.unique(keys, return_inverse=True)
    return uniq, np.bincount(inverse, values, minlength=len(uniq)).astype(np.int64)


def _get(table: tuple[np.ndarray, np.ndarray], keys: np.ndarray) -> np.ndarray:
    uniq, sums = table
    if not len(uniq):
        return np.zeros(len(keys), dtype=np.int64)
    at = np.clip(np.searchsorted(uniq, keys), 0, len(uniq) - 1)
    return np.where(uniq[at] == keys, sums[at], 0)


def _expand(left: np.ndarray, right_sorted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (i, j) with ``left[i] == right_sorted[j]`` (a join on a sorted column)."""
    lo = np.searchsorted(right_sorted, left, "left")
    count = np.searchsorted(right_sorted, left, "right") - lo
    i = np.repeat(np.arange(len(left)), count)
    j = np.repeat(lo, count) + (np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count))
    return i, j


def pair_measures(inp: AnalyticsInputs, n_weeks: int) -> PairMeasures:
    """Units, sales, buyer, repeat, trial and source of volume of every treated pair at once."""
    n_offers, n = len(inp.offers), len(inp.pair_member)
    pk = pair_keys(inp.pair_member, inp.pair_offer, n_offers)
    order = np.argsort(pk, kind="stable")
    # the period's scan lines joined to the offers whose scope holds the product, then to the pairs
    member, offer, day, units_row, cents_row = scope_rows(inp, 0, inp.period_days - 1)
    bk = pair_keys(member, offer, n_offers)
    at = np.clip(np.searchsorted(pk[order], bk), 0, max(n - 1, 0))
    hit = (pk[order][at] == bk) if n else np.zeros(len(bk), dtype=bool)
    idx, day, units_row, cents_row = order[at[hit]], day[hit], units_row[hit], cents_row[hit]
    units = np.bincount(idx, units_row, minlength=n).astype(np.int64)
    sales = np.bincount(idx, cents_row, minlength=n).astype(np.int64)
    n_days = 7 * n_weeks
    by_day = _table(idx * n_days + np.clip(day, 0, n_days - 1), units_row)
    days = np.bincount(by_day[0] // n_days, (by_day[1] > 0).astype(np.int64), minlength=n)
    week = np.clip(day // 7, 0, n_weeks - 1)
    pair_week = _table(idx * n_weeks + week, units_row)
    week_sales_t = _table(idx * n_weeks + week, cents_row)
    w_pair, w_week = pair_week[0] // n_weeks, pair_week[0] % n_weeks
    w_offer = inp.pair_offer[w_pair]
    week_buyers = np.zeros((n_offers, n_weeks), dtype=np.int64)
    np.add.at(week_buyers, (w_offer, w_week), (pair_week[1] > 0).astype(np.int64))
    week_units = np.zeros((n_offers, n_weeks), dtype=np.int64)
    np.add.at(week_units, (w_offer, w_week), pair_week[1])
    week_sales = np.zeros((n_offers, n_weeks), dtype=np.int64)
    np.add.at(week_sales, (inp.pair_offer[week_sales_t[0] // n_weeks], week_sales_t[0] % n_weeks), week_sales_t[1])
    buyer = units > 0
    brand, national, store = _pre_spend(inp)
    source_same = brand > 0
    source_new = ~source_same & (national <= 0) & (store <= 0)
    source_store = ~source_same & ~source_new & (store > national)
    source_national = ~source_same & ~source_new & ~source_store
    values = {
        "members": np.ones(n, dtype=np.int64), "buyers": buyer.astype(np.int64), "units": units,
        "sales_cents": sales, "trial": (buyer & ~source_same).astype(np.int64),
        "repeat": (buyer & (days >= 2)).astype(np.int64),
        "same_brand": (buyer & source_same).astype(np.int64),
        "from_store_brand": (buyer & source_store).astype(np.int64),
        "from_national": (buyer & source_national).astype(np.int64),
        "new_to_category": (buyer & source_new).astype(np.int64),
        "redemptions": inp.pair_redemptions.astype(np.int64),
    }
    return PairMeasures(values, week_buyers, week_units, week_sales)


def _pre_spend(inp: AnalyticsInputs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pair, before the period: spend on the offer's brand, on other national brands and on
    store brands of the offer's category."""
    n = len(inp.pair_member)
    pre = (inp.scan_day < 0) & (inp.scan_day >= -7 * inp.trial_weeks)
    member, cents = inp.scan_member[pre], inp.scan_cents[pre]
    pos = np.clip(np.searchsorted(inp.product_key, inp.scan_product[pre]), 0, max(len(inp.product_key) - 1, 0))
    n_brands = int(max(inp.product_brand.max(initial=0), inp.brand_id.max(initial=0))) + 1
    n_cats = int(inp.product_category.max(initial=0)) + 1
    by_brand = _table(member * n_brands + inp.product_brand[pos], cents)
    by_category = _table((member * n_cats + inp.product_category[pos]) * 2 + inp.product_national[pos], cents)
    # the offer's brand(s): expand each pair by its offer's brands, sum back
    brand_order = np.argsort(inp.brand_offer, kind="stable")
    i, j = _expand(inp.pair_offer, inp.brand_offer[brand_order])
    brand = np.bincount(i, _get(by_brand, inp.pair_member[i] * n_brands + inp.brand_id[brand_order[j]]),
                        minlength=n).astype(np.int64)
    cat = inp.offer_category[inp.pair_offer]
    national_all = _get(by_category, (inp.pair_member * n_cats + cat) * 2 + 1)
    store_all = _get(by_category, (inp.pair_member * n_cats + cat) * 2)
    offer_national = np.array([o["brand_type"] != "store" for o in inp.offers], dtype=bool)[inp.pair_offer] \
        if n else np.zeros(0, dtype=bool)
    national = np.where(offer_national, national_all - brand, national_all)
    store = np.where(offer_national, store_all, store_all - brand)
    return brand, national, store


# --------------------------------------------------------------------------- groups


def _sum_by(measures: dict[str, np.ndarray], group: np.ndarray, n_groups: int) -> dict[str, np.ndarray]:
    return {k: np.bincount(group, v, minlength=n_groups).astype(np.int64) for k, v in measures.items()}


@dataclass
class GroupSums:
    """Every group's sums for every funder at once; rows are then cut per funder."""

    by_offer: dict[str, np.ndarray]
    by_cell: dict[str, np.ndarray]
    by_store: dict[str, np.ndarray]
    measures: PairMeasures
    category_members: dict[tuple[str, str], int]  # (funder, category) -> distinct members
    funder_members: dict[str, int]


def group_sums(inp: AnalyticsInputs, pm: PairMeasures) -> GroupSums:
    n_offers, n_cells, n_stores = len(inp.offers), len(CELL_NAMES), max(len(inp.stores), 1)
    funders = sorted({o["manufacturer_id"] for o in inp.offers})
    f_index = {f: i for i, f in enumerate(funders)}
    offer_funder = _ints([f_index[o["manufacturer_id"]] for o in inp.offers])
    n_cats = int(inp.offer_category.max(initial=0)) + 1
    span = int(inp.pair_member.max(initial=0)) + 1

    def distinct(group: np.ndarray, n_groups: int) -> np.ndarray:
        uniq = np.unique(group * span + inp.pair_member)
        return np.bincount(uniq // span, minlength=n_groups)

    fc = offer_funder[inp.pair_offer] * n_cats + inp.offer_category[inp.pair_offer]
    per_fc = distinct(fc, len(funders) * n_cats)
    per_f = distinct(offer_funder[inp.pair_offer], len(funders))
    categories: dict[tuple[str, str], int] = {}
    for pos, o in enumerate(inp.offers):
        categories[(o["manufacturer_id"], o["category"])] = int(
            per_fc[f_index[o["manufacturer_id"]] * n_cats + inp.offer_category[pos]])
    return GroupSums(
        by_offer=_sum_by(pm.values, inp.pair_offer, n_offers),
        by_cell=_sum_by(pm.values, inp.pair_offer * n_cells + inp.pair_cell, n_offers * n_cells),
        by_store=_sum_by(pm.values, inp.pair_offer * n_stores + inp.pair_store, n_offers * n_stores),
        measures=pm, category_members=categories,
        funder_members={f: int(per_f[i]) for i, f in enumerate(funders)},
    )


def _ints(values: list[int]) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


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


@dataclass
class _Table:
    rows: list[dict[str, Any]]
    relations: list[Relation]
    size: dict[int, int]

    def add(self, row: dict[str, Any], members: int) -> int:
        self.rows.append(row)
        self.size[len(self.rows) - 1] = members
        return len(self.rows) - 1


def _offer_rows(t: _Table, inp: AnalyticsInputs, gs: GroupSums, o: int, period_start: date) -> int:
    """The offer's row and its cells, stores and weeks, each partition summing to the offer."""
    n_cells, n_stores = len(CELL_NAMES), max(len(inp.stores), 1)
    offer, cat = inp.offers[o], inp.offers[o]["category"]
    values = {k: int(v[o]) for k, v in gs.by_offer.items()}
    o_row = t.add(_row("offer", offer, cat, "all", values), values["members"])
    kids = []
    for c in range(n_cells):
        v = {k: int(arr[o * n_cells + c]) for k, arr in gs.by_cell.items()}
        if v["members"]:
            kids.append(t.add(_row("cell", offer, cat, CELL_NAMES[c], v), v["members"]))
    t.relations.append(Relation(o_row, tuple(kids)))
    kids = []
    for s in range(len(inp.stores)):
        v = {k: int(arr[o * n_stores + s]) for k, arr in gs.by_store.items()}
        if v["members"]:
            kids.append(t.add(_row("store", offer, cat, inp.stores[s] or "(no store)", v), v["members"]))
    t.relations.append(Relation(o_row, tuple(kids)))
    kids = []
    pm = gs.measures
    for w in range(pm.week_buyers.shape[1]):
        v = {"buyers": int(pm.week_buyers[o, w]), "units": int(pm.week_units[o, w]),
             "sales_cents": int(pm.week_sales[o, w])}
        week = (period_start + timedelta(days=7 * w)).isoformat()
        kids.append(t.add(_row("week", offer, cat, week, v), v["buyers"]))
    t.relations.append(Relation(o_row, tuple(kids)))
    return o_row


def _parent_row(t: _Table, level: str, category: str, children: list[int], members: int) -> int:
    """A category's (or the funder's) row: sums of its children; members distinct."""
    values = {k: sum(t.rows[c][k] or 0 for c in children) for k in ADDITIVE}
    values["members"] = members
    row = t.add(_row(level, None, category, "all", values), members)
    t.relations.append(Relation(row, tuple(children)))
    return row


def funder_table(inp: AnalyticsInputs, gs: GroupSums, funder: str, period_start: date) -> _Table:
    """The funder's rows, unsuppressed: total, categories, offers and their groups."""
    t = _Table([], [], {})
    cat_rows = []
    categories = sorted({o["category"] for o in inp.offers if o["manufacturer_id"] == funder})
    for cat in categories:
        offer_rows = [_offer_rows(t, inp, gs, o, period_start) for o, offer in enumerate(inp.offers)
                      if offer["manufacturer_id"] == funder and offer["category"] == cat]
        cat_rows.append(_parent_row(t, "category", cat, offer_rows, gs.category_members[(funder, cat)]))
    _parent_row(t, "funder", "", cat_rows, gs.funder_members[funder])
    # the total first, then each category before its offers, reads best
    order = sorted(range(len(t.rows)), key=lambda i: (t.rows[i]["level"] != "funder", t.rows[i]["category"],
                                                      t.rows[i]["level"] != "category", t.rows[i]["offer_code"], i))
    return _reorder(t, order)


def _reorder(t: _Table, order: list[int]) -> _Table:
    new = {old: i for i, old in enumerate(order)}
    return _Table([t.rows[i] for i in order], [Relation(new[r.parent], tuple(new[c] for c in r.children))
                                                for r in t.relations], {new[i]: n for i, n in t.size.items()})


def _attach_lift(rows: list[dict[str, Any]], offers: list[dict[str, Any]], lifts: LiftIndex, k: int) -> None:
    """Lift on offer and cell rows whose treated and held-out groups both have ``k`` members."""
    by_code = {o["offer_code"]: o["id"] for o in offers}
    for row in rows:
        if row["level"] not in ("offer", "cell"):
            continue
        found = lifts.get((by_code[row["offer_code"]], row["group"]), {})
        for outcome, lr in found.items():
            if lr.n_treated < k or lr.n_control < k:
                continue
            row["control_members"] = lr.n_control
            if outcome == "units":
                row.update(lift_units=_r(lr.cuped_lift), lift_units_low=_r(lr.cuped_ci_low),
                           lift_units_high=_r(lr.cuped_ci_high))
            else:
                row.update(lift_sales_cents=_r(lr.cuped_lift), lift_sales_low=_r(lr.cuped_ci_low),
                           lift_sales_high=_r(lr.cuped_ci_high), relative_lift_sales=_r(lr.relative_lift),
                           lift_significant=bool(lr.significant))


def _r(value: float | None) -> float | None:
    return round(float(value), 4) if value is not None and np.isfinite(value) else None


def _suppressed(t: _Table, k: int) -> list[dict[str, Any]]:
    # complements: hide the funder's total, then a category, before any offer or its groups
    cost = {i: {"funder": 0, "category": 1}.get(r["level"], 2) for i, r in enumerate(t.rows)}
    for i in suppress(t.size, t.relations, k, cost):
        t.rows[i]["suppressed"] = True
        t.rows[i].update({c: None for c in (*ADDITIVE, "penetration", "units_per_buyer", "trial_share",
                                            "repeat_share", *LIFT_FIELDS)})
    return t.rows


def period_analytics(conn: Connection, period_start: date, funders: list[str] | None = None, *,
                     min_group_size: int = 10, trial_weeks: int = 12, scans: ScanWindows | None = None,
                     lines: PeriodLines | None = None, funded: FundedOffers | None = None) -> dict[str, AnalyticsReport]:
    """Every funder's (or the given funders') anonymized analytics for one list period, in one
    pass (the scan lines through ``scans``, the list lines from ``lines`` and the period's
    funded offers of ``funders`` from ``funded`` when given: reads shared with the results)."""
    if funded is None:
        found = find_period(conn, period_start)
        if found is None:
            raise AnalyticsError(
                f"unknown period {period_start.isoformat()}: no lists were built for a period starting that day")
        funded = read_funded_offers(conn, (found.start, found.end), funders, lines)
    start, end = funded.period
    inp = load_analytics_inputs(conn, funded, trial_weeks, scans, lines)
    n_weeks = (end - start).days // 7 + 1
    gs = group_sums(inp, pair_measures(inp, n_weeks))
    lifts = analytics_lift(conn, inp)
    names = dict(conn.execute(text("SELECT id, name FROM manufacturers")).all())
    reports = {}
    for funder in sorted({o["manufacturer_id"] for o in inp.offers}):
        table = funder_table(inp, gs, funder, start)
        _attach_lift(table.rows, [o for o in inp.offers if o["manufacturer_id"] == funder], lifts, min_group_size)
        reports[funder] = AnalyticsReport(funder, names.get(funder) or funder, start, end,
                                          min_group_size, trial_weeks, _suppressed(table, min_group_size))
    return reports


def funder_analytics(conn: Connection, manufacturer_id: str, period_start: date, *, min_group_size: int = 10,
                     trial_weeks: int = 12) -> AnalyticsReport:
    """One funder's anonymized analytics for one list period (suppression applied)."""
    found = conn.execute(text("SELECT id FROM manufacturers WHERE id = :m"), {"m": manufacturer_id}).first()
    if found is None:
        raise AnalyticsError(f"unknown funder {manufacturer_id!r}: no manufacturer with that id")
    reports = period_analytics(conn, period_start, [manufacturer_id], min_group_size=min_group_size,
                               trial_weeks=trial_weeks)
    if manufacturer_id not in reports:
        raise AnalyticsError(f"{manufacturer_id} has no offers on the lists of the period {period_start.isoformat()}")
    return reports[manufacturer_id]


def report_csv(report: AnalyticsReport) -> str:
    """The report as CSV text: the funder and period on every row, then the published columns."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["funder", "period_start", *COLUMNS], extrasaction="ignore")
    writer.writeheader()
    for row in report.rows:
        writer.writerow({"funder": report.funder, "period_start": report.period_start.isoformat(),
                         **{k: ("" if v is None else v) for k, v in row.items()}})
    return out.getvalue()

