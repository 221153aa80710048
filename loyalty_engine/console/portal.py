"""What a manufacturer's portal shows: its own offers and their redemption totals, from stored aggregates.

Every function takes the funder's id and reads only its offers (``funder_kind='manufacturer'``
and its ``manufacturer_id``); nothing here reads members, lists or baskets. Totals come from
``redemption_days`` (the ledger summed per day and offer by the nightly job) and, for today,
the ledger itself through its (offer, day) index.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..analytics.dashboard import ledger_day
from ..analytics.redemptions import DayTotal, daily_totals
from ..models.analytics import RedemptionDay
from ..models.checkout import Redemption
from ..models.offers import Offer

CHART_DAYS = 56


def funder_offers(session: Session, manufacturer_id: str) -> list[Offer]:
    return list(session.execute(
        select(Offer).where(Offer.funder_kind == "manufacturer", Offer.manufacturer_id == manufacturer_id)
        .order_by(Offer.valid_from.desc(), Offer.id.desc())
    ).scalars())


@dataclass(frozen=True)
class OfferTotals:
    offer: Offer
    applications: int
    discount_cents: int
    funded_cents: int
    handling_fee_cents: int

    @property
    def due_cents(self) -> int:
        return self.funded_cents + self.handling_fee_cents


def funder_totals(session: Session, manufacturer_id: str, today: date) -> list[OfferTotals]:
    """Each of the funder's offers with its redemptions so far (stored days before today, plus today's ledger)."""
    offers = funder_offers(session, manufacturer_id)
    ids = [o.id for o in offers]
    sums: dict[int, tuple[int, int, int, int]] = {}
    if ids:
        for offer_id, a, d, f, h in session.execute(
            select(RedemptionDay.offer_id, func.sum(RedemptionDay.applications), func.sum(RedemptionDay.discount_cents),
                   func.sum(RedemptionDay.funded_cents), func.sum(RedemptionDay.handling_fee_cents))
            .where(RedemptionDay.offer_id.in_(ids), RedemptionDay.business_date < today)
            .group_by(RedemptionDay.offer_id)
        ):
            sums[int(offer_id)] = (int(a or 0), int(d or 0), int(f or 0), int(h or 0))
        for offer_id, a, d, f, h in session.execute(
            select(Redemption.offer_id, func.sum(Redemption.applications), func.sum(Redemption.discount_cents),
                   func.sum(Redemption.funded_cents), func.sum(Redemption.handling_fee_cents))
            .where(Redemption.offer_id.in_(ids), Redemption.business_date == today)
            .group_by(Redemption.offer_id)
        ):  # today is not in redemption_days yet
            before = sums.get(int(offer_id), (0, 0, 0, 0))
            sums[int(offer_id)] = (before[0] + int(a or 0), before[1] + int(d or 0), before[2] + int(f or 0),
                                   before[3] + int(h or 0))
    return [OfferTotals(offer, *sums.get(offer.id, (0, 0, 0, 0))) for offer in offers]


def funder_days(session: Session, manufacturer_id: str, today: date, days: int = CHART_DAYS) -> list[DayTotal]:
    """The funder's redemptions per day over the last ``days`` days (zeros included), today from the ledger."""
    ids = [o.id for o in funder_offers(session, manufacturer_id)]
    if not ids:
        return []
    out = daily_totals(session, today - timedelta(days=days - 1), today - timedelta(days=1), ids)
    out.append(ledger_day(session, today, ids))
    return out
