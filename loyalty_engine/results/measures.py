"""Delivery, redemption and money measures of a list period, by offer, cell, store, stage and week.

One SQL aggregate per dimension over the period's list lines, each joined to its line's net
ledger sums (the ``redemptions`` ledger is signed, so returns and voids are already netted).
Money stays integer cents.
"""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, text

from .inputs import CELL_NAMES, LiftInputs
from .period_lines import PeriodLines, read_period_lines

# what a row of each dimension is keyed by: offer id, cell name, store id, lifecycle stage
DIMENSIONS = ("offer", "cell", "store", "stage")

_BY_DAY = """
    SELECT r.business_date, COUNT(DISTINCT r.member_key), SUM(r.applications), SUM(r.discount_cents),
           SUM(CASE WHEN r.funder_kind = 'manufacturer' THEN r.funded_cents ELSE 0 END), SUM(r.handling_fee_cents)
    FROM redemptions r
    WHERE r.list_id IN (SELECT id FROM shopping_lists WHERE period_start BETWEEN :a AND :b AND status <> 'replaced')
    GROUP BY r.business_date
"""

_MEASURES = ("lists_delivered", "lists_printed", "lists_web", "lines_printed", "members_reached",
             "face_value_printed_cents", "redemptions", "lines_redeemed", "discount_cents", "funded_cents",
             "handling_fee_cents")


def _money(d: dict[str, Any]) -> dict[str, Any]:
    """Derived measures: retailer cost, total due to the retailer from funders, redemption rate."""
    d["retailer_cost_cents"] = d["discount_cents"] - d["funded_cents"]
    lines = d.get("lines_printed") or 0
    d["redemption_rate"] = round(d["lines_redeemed"] / lines, 4) if lines else None
    return d


def by_dimensions(conn: Connection, a: date, b: date, lines: PeriodLines | None = None) -> dict[str, list[dict[str, Any]]]:
    """Every dimension's rows ('offer', 'cell', 'store', 'stage') from one pass over the lines.

    The period's lines are read once with their net ledger sums (or taken from ``lines``, read
    by the caller) and grouped in numpy (one aggregate query per dimension would re-read the
    lines and the ledger each time)."""
    lines = read_period_lines(conn, a, b) if lines is None else lines
    if not len(lines):
        return {d: [] for d in DIMENSIONS}
    n_ = lines.ints
    list_id, member, mail, app = n_["list_id"], n_["member"], n_["mail"], n_["app"]
    apps = n_["apps"]
    keys = {
        "offer": n_["offer"],
        "cell": np.asarray(CELL_NAMES, dtype=object)[lines.cell],
        "store": lines.store,
        "stage": lines.stage,
    }
    sums = {"face_value_printed_cents": n_["face"], "redemptions": apps, "lines_redeemed": (apps > 0).astype(np.int64),
            "discount_cents": n_["discount"], "funded_cents": n_["funded"], "handling_fee_cents": n_["fee"]}
    out: dict[str, list[dict[str, Any]]] = {}
    for dimension, key in keys.items():
        codes, names = pd.factorize(key, sort=True)
        n = len(names)
        # a list's opt-ins are its member's: one distinct (group, list) pass counts all three
        group, first = _distinct_rows(codes, list_id)
        counts: dict[str, np.ndarray] = {
            "lists_delivered": np.bincount(group, minlength=n),
            "lists_printed": np.bincount(group, weights=(mail[first] > 0), minlength=n).astype(np.int64),
            "lists_web": np.bincount(group, weights=(app[first] > 0), minlength=n).astype(np.int64),
            "lines_printed": np.bincount(codes, minlength=n),
            "members_reached": np.bincount(_distinct_rows(codes, member)[0], minlength=n),
        }
        counts.update({name: np.bincount(codes, weights=v, minlength=n).astype(np.int64) for name, v in sums.items()})
        out[dimension] = [_money({"key": str(names[i]), **{m: int(counts[m][i]) for m in _MEASURES}})
                          for i in range(n)]
        out[dimension].sort(key=lambda r: r["key"])
    return out


def _distinct_rows(codes: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each distinct (group code, value): its group code and the position of a row holding it."""
    scale = int(values.max(initial=0)) + 1
    _, first = np.unique(codes.astype(np.int64) * scale + values, return_index=True)
    return codes[first].astype(np.int64), first


def by_dimension(conn: Connection, dimension: str, a: date, b: date) -> list[dict[str, Any]]:
    """Rows of one dimension ('offer', 'cell', 'store', 'stage'), each with every measure."""
    return by_dimensions(conn, a, b)[dimension]


def by_week(conn: Connection, a: date, b: date) -> list[dict[str, Any]]:
    """Net redemptions and money by the week (Monday) the ledger rows were rung up."""
    weeks: dict[date, dict[str, Any]] = {}
    for day, members, apps, discount, funded, fee in conn.execute(text(_BY_DAY), {"a": a, "b": b}):
        day = day if isinstance(day, date) else date.fromisoformat(str(day))
        week = day - timedelta(days=day.weekday())
        w = weeks.setdefault(week, {"key": week.isoformat(), "members_redeeming_days": 0, "redemptions": 0,
                                    "discount_cents": 0, "funded_cents": 0, "handling_fee_cents": 0})
        w["members_redeeming_days"] += int(members or 0)
        w["redemptions"] += int(apps or 0)
        w["discount_cents"] += int(discount or 0)
        w["funded_cents"] += int(funded or 0)
        w["handling_fee_cents"] += int(fee or 0)
    for w in weeks.values():
        w["retailer_cost_cents"] = w["discount_cents"] - w["funded_cents"]
    return [weeks[k] for k in sorted(weeks)]


CALIBRATION_BINS = np.linspace(0.0, 1.0, 11)


def accuracy(inputs: LiftInputs, probability: np.ndarray) -> dict[str, Any]:
    """List accuracy: share of lines whose scope the member bought in the period, and a
    calibration table of that hit rate against the lines' predicted probability."""
    sent = inputs.treated
    bought = inputs.units[sent] > 0
    p = probability[sent]
    table = []
    if bought.shape[0]:
        bins = np.clip(np.digitize(p, CALIBRATION_BINS[1:-1]), 0, len(CALIBRATION_BINS) - 2)
        n = np.bincount(bins, minlength=len(CALIBRATION_BINS) - 1)
        hits = np.bincount(bins, weights=bought.astype(np.float64), minlength=len(CALIBRATION_BINS) - 1)
        mean_p = np.bincount(bins, weights=p, minlength=len(CALIBRATION_BINS) - 1)
        for i in np.flatnonzero(n).tolist():
            table.append({"key": f"{CALIBRATION_BINS[i]:.1f}-{CALIBRATION_BINS[i + 1]:.1f}", "lines": int(n[i]),
                          "predicted": round(float(mean_p[i] / n[i]), 4), "bought": round(float(hits[i] / n[i]), 4)})
    return {
        "lines": int(bought.shape[0]),
        "hit_rate": round(float(bought.mean()), 4) if bought.shape[0] else None,
        "mean_predicted": round(float(p.mean()), 4) if p.shape[0] else None,
        "calibration": table,
    }


def accuracy_by_offer(inputs: LiftInputs) -> dict[int, float]:
    """Hit rate (share of sent lines whose scope was bought) per offer id."""
    sent = inputs.treated
    n = np.bincount(inputs.offer_pos[sent], minlength=len(inputs.offers))
    hits = np.bincount(inputs.offer_pos[sent], weights=(inputs.units[sent] > 0).astype(np.float64),
                       minlength=len(inputs.offers))
    return {int(o["id"]): round(float(hits[i] / n[i]), 4) for i, o in enumerate(inputs.offers) if n[i]}


__all__ = ["CALIBRATION_BINS", "DIMENSIONS", "accuracy", "accuracy_by_offer", "by_dimension", "by_dimensions", "by_week"]
