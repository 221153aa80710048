"""Small hand-made scan histories for the model tests (built with ``history_from_frames``).

A seeded background population of shoppers with regular habits gives the re-rankers and the
population priors something to learn from; the tests then add hand-written members whose
behaviour they check.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from loyalty_engine.model.history import ScanHistory, history_from_frames

START = date(2017, 1, 2)
AS_OF = date(2017, 10, 2)
END = date(2017, 10, 30)  # scans continue past AS_OF so backtests have a window

# sku, department, category, subcategory, brand_type, typical cycle (days) of the subcategory
PRODUCTS = [
    ("MILK-S", "Dairy", "Milk", "Milk", "store", 7),
    ("MILK-A", "Dairy", "Milk", "Milk", "national", 7),
    ("MILK-B", "Dairy", "Milk", "Milk", "national", 7),
    ("YOG-S", "Dairy", "Yogurt", "Yogurt", "store", 10),
    ("YOG-A", "Dairy", "Yogurt", "Yogurt", "national", 10),
    ("BREAD-S", "Bakery", "Bread", "Sandwich bread", "store", 5),
    ("BREAD-A", "Bakery", "Bread", "Sandwich bread", "national", 5),
    ("BAGEL-A", "Bakery", "Bread", "Bagels", "national", 12),
    ("COFFEE-S", "Pantry", "Coffee", "Ground coffee", "store", 21),
    ("COFFEE-A", "Pantry", "Coffee", "Ground coffee", "national", 21),
    ("COFFEE-B", "Pantry", "Coffee", "Ground coffee", "national", 21),
    ("BULB-S", "Household", "Lighting", "Light bulbs", "store", 180),
    ("BULB-A", "Household", "Lighting", "Light bulbs", "national", 180),
    ("DET-S", "Household", "Laundry", "Detergent", "store", 30),
    ("DET-A", "Household", "Laundry", "Detergent", "national", 30),
    ("CHIPS-S", "Snacks", "Chips", "Potato chips", "store", 14),
    ("CHIPS-A", "Snacks", "Chips", "Potato chips", "national", 14),
]


def products_frame() -> pd.DataFrame:
    rows = [p[:5] for p in PRODUCTS]
    return pd.DataFrame(rows, columns=["sku", "department", "category", "subcategory", "brand_type"])


def day(offset_from_as_of: int) -> date:
    return AS_OF + timedelta(days=offset_from_as_of)


@dataclass
class HistoryBuilder:
    """Collects scan rows; one basket per (member, day)."""

    rows: list[tuple[str, str, str, str, int, float]] = field(default_factory=list)
    members: list[tuple[str, str]] = field(default_factory=list)  # member_id, enrolled_at

    def buy(self, member_id: str, when: date, skus: list[str], quantity: int = 1) -> None:
        basket = f"{member_id}-{when.isoformat()}"
        stamp = when.isoformat() + "T10:00:00"
        for sku in skus:
            self.rows.append((basket, member_id, stamp, sku, quantity, 2.49 * quantity))

    def member(self, member_id: str, enrolled_at: date = START - timedelta(days=400)) -> None:
        self.members.append((member_id, enrolled_at.isoformat()))

    def background(self, n_members: int, seed: int = 7) -> None:
        """Regular shoppers: a trip every few days, each buys a personal set of subcategories
        on gamma cycles around the subcategory's typical one, mostly a favourite sku."""
        rng = np.random.default_rng(seed)
        by_need: dict[str, list[tuple[str, str]]] = {}
        for sku, _, _, sub, brand, cycle in PRODUCTS:
            by_need.setdefault(sub, []).append((sku, brand))
        cycles = {p[3]: p[5] for p in PRODUCTS}
        total_days = (END - START).days
        for i in range(n_members):
            member_id = f"B{i:04d}"
            self.member(member_id)
            trip_gap = rng.uniform(2.0, 6.0)
            trips = np.unique(np.cumsum(rng.exponential(trip_gap, size=200)).astype(int))
            trips = trips[trips < total_days]
            baskets: dict[int, list[str]] = {}
            needs = [n for n in by_need if rng.random() < 0.7] or ["Milk"]
            for need in needs:
                skus = by_need[need]
                favourite = skus[rng.integers(len(skus))][0]
                mean = cycles[need] * rng.uniform(0.7, 1.4)
                due = rng.uniform(0, mean)
                while True:
                    at = np.searchsorted(trips, due)
                    if at >= trips.shape[0]:
                        break
                    trip = int(trips[at])
                    choice = favourite if rng.random() < 0.85 else skus[rng.integers(len(skus))][0]
                    baskets.setdefault(trip, []).append(choice)
                    due = trip + rng.gamma(4.0, mean / 4.0)
            for trip, skus_bought in baskets.items():
                self.buy(member_id, START + timedelta(days=trip), sorted(set(skus_bought)))

    def history(self, as_of: date | None = None) -> ScanHistory:
        scans = pd.DataFrame(
            self.rows, columns=["transaction_id", "member_id", "scanned_at", "sku", "quantity", "amount"]
        )
        members = pd.DataFrame(self.members, columns=["member_id", "enrolled_at"])
        return history_from_frames(scans, products_frame(), members, as_of=as_of)


def every(member_id: str, builder: HistoryBuilder, skus: list[str], first: date, last: date, step: int) -> None:
    """``member_id`` buys ``skus`` every ``step`` days from ``first`` through ``last``."""
    when = first
    while when <= last:
        builder.buy(member_id, when, skus)
        when += timedelta(days=step)
