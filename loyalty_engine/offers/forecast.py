"""Forecast an offer before activating it: who would get it next period and what it would cost.

The forecast runs the real list selection for the period's two cohort builds (the period's
own cohort, then the other one a week later) with the offer added to the active offers as
if it were active, and reads off this offer's lines. Competition with other offers, face
caps, hold-outs and budget pacing are all accounted for. Nothing is written.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from ..models.offers import BRAND_LOYALTIES, USAGE_TIERS, Offer
from ..offers.service import offers_valid_in
from ..shopping_lists.build import ModelProvider, choose_members, member_arrays, score_members, selection_params
from ..shopping_lists.cadence import cohort_for_date, holdout_seed, period_end
from ..shopping_lists.offer_inputs import prepare_offers
from ..shopping_lists.selection import candidates, select_lines
from ..shopping_lists.settings import ListSettings

CELLS = [f"{lo}:{ti}" for lo in BRAND_LOYALTIES for ti in USAGE_TIERS] + ["unsegmented"]
_FIELDS = ("targeted", "members", "held_out", "expected_redemptions", "face_cents",
           "funder_cents", "retailer_cents", "handling_fee_cents")


@dataclass
class CellForecast:
    cell: str
    targeted: int = 0  # candidate members: in the cell, above the minimum probability
    members: int = 0  # members whose list would carry the offer
    held_out: int = 0  # members held back as the offer's control group
    expected_redemptions: float = 0.0
    face_cents: float = 0.0  # expected face value redeemed
    funder_cents: float = 0.0  # funded share of the face value + handling fees
    retailer_cents: float = 0.0  # unfunded share of the face value
    handling_fee_cents: float = 0.0  # paid by the funder to the retailer

    def as_dict(self) -> dict[str, Any]:
        return {
            "cell": self.cell, "targeted": self.targeted, "members": self.members, "held_out": self.held_out,
            "expected_redemptions": round(self.expected_redemptions, 2),
            "expected_face_cents": int(round(self.face_cents)),
            "expected_funder_cost_cents": int(round(self.funder_cents)),
            "expected_retailer_cost_cents": int(round(self.retailer_cents)),
            "expected_handling_fee_cents": int(round(self.handling_fee_cents)),
        }


@dataclass
class OfferForecast:
    offer_id: int
    slug: str
    period_start: date
    period_end: date
    cells: list[CellForecast]
    budget_limited: bool = False
    remaining_budget_cents: int | None = None  # budget left once live lists' expected cost is set aside
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> CellForecast:
        total = CellForecast("total")
        for c in self.cells:
            for name in _FIELDS:
                setattr(total, name, getattr(total, name) + getattr(c, name))
        return total

    def as_dict(self) -> dict[str, Any]:
        return {
            "offer_id": self.offer_id, "slug": self.slug, "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(), "budget_limited": self.budget_limited,
            "remaining_budget_cents": self.remaining_budget_cents,
            "cells": [c.as_dict() for c in self.cells], "total": self.total.as_dict(), "notes": self.notes,
        }


def _cells(loyalty: np.ndarray, tier: np.ndarray) -> np.ndarray:
    return np.where((loyalty >= 0) & (tier >= 0), loyalty.astype(np.int64) * 3 + tier, len(CELLS) - 1)


def forecast_offer(
    session: Session, offer: Offer, period_start: date, model: ModelProvider, settings: ListSettings,
    as_of: date | None = None,
) -> OfferForecast:
    end = period_end(period_start, settings.period_days)
    cells = [CellForecast(c) for c in CELLS]
    result = OfferForecast(offer.id, offer.slug, period_start, end, cells)
    if offer.valid_to < period_start or offer.valid_from > end:
        result.notes.append(f"the offer is not valid in {period_start}..{end} "
                            f"(valid {offer.valid_from}..{offer.valid_to})")
        return result
    if offer.status != "active":
        result.notes.append(f"forecast as if the {offer.status} offer were active")
    view = model(as_of or period_start)
    used_budget = 0.0
    used_redemptions = 0.0
    first = cohort_for_date(period_start, settings.cohort_anchor)
    for step, cohort in enumerate((first, "B" if first == "A" else "A")):
        start = period_start + timedelta(days=7 * step)
        cohort_end = period_end(start, settings.period_days)
        if offer.valid_to < start or offer.valid_from > cohort_end:
            continue
        offers = [o for o in offers_valid_in(session, start, cohort_end) if o.id != offer.id] + [offer]
        me = len(offers) - 1
        prepared = prepare_offers(session, start, cohort_end, view.category_index(), settings.redemption_rate,
                                  offers=offers, min_probability=settings.min_probability)
        arrays = prepared.arrays
        arrays.remaining_budget_cents[me] = max(0.0, arrays.remaining_budget_cents[me] - used_budget)
        arrays.remaining_redemptions[me] = max(0.0, arrays.remaining_redemptions[me] - used_redemptions)
        if step == 0 and np.isfinite(arrays.remaining_budget_cents[me]):
            # The pacing arrays are expectations (float); the amount shown is whole cents.
            result.remaining_budget_cents = int(arrays.remaining_budget_cents[me])

        seed = holdout_seed(start, cohort, settings.holdout_salt)
        members, _, _ = choose_members(session, view, cohort, seed, settings, as_of or start)
        probabilities = score_members(view, prepared, members, settings.period_days)
        marr = member_arrays(view, members)
        params = selection_params(settings, seed)
        selection = select_lines(probabilities, marr, arrays, params)
        pool = candidates(probabilities, marr, arrays, params)
        result.budget_limited |= bool(selection.budget_limited[me])

        mine = selection.offer == me
        cell = _cells(selection.brand_loyalty[mine], selection.usage_tier[mine])
        p = selection.probability[mine] * settings.redemption_rate
        face = selection.face_cents[mine] * p
        fee = p * offer.handling_fee_cents
        share = offer.funded_share_bp / 10_000
        targeted = _cells(pool.loyalty[pool.offer == me], pool.tier[pool.offer == me])
        # hold-outs are drawn among the chosen; their cell is read like the pool's
        held_keys = selection.holdout_member[selection.holdout_offer == me]
        held_in_pool = np.isin(pool.member[pool.offer == me], held_keys)
        for i, c in enumerate(cells):
            in_cell = cell == i
            c.targeted += int((targeted == i).sum())
            c.members += int(in_cell.sum())
            c.held_out += int(((targeted == i) & held_in_pool).sum())
            c.expected_redemptions += float(p[in_cell].sum())
            c.face_cents += float(face[in_cell].sum())
            c.funder_cents += float(face[in_cell].sum() * share + fee[in_cell].sum())
            c.retailer_cents += float(face[in_cell].sum() * (1 - share))
            c.handling_fee_cents += float(fee[in_cell].sum())
        used_budget += float(selection.expected_funded_cents[mine].sum())
        used_redemptions += float(p.sum())
    return result
