"""Redemptions over time, budget burn and the offers' live counters, from stored aggregates.

``refresh_redemption_days`` sums the signed redemption ledger per business day and offer for a
window of days (the nightly job redoes the last few days, so late reversals are counted on
their own day). Pages read ``redemption_days`` for past days and the offers' counters, which
checkout moves on every redemption, for what happened since.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from ..models.analytics import RedemptionDay
from ..models.checkout import Redemption
from ..models.offers import Offer

REFRESH_DAYS = 14


def refresh_redemption_days(session: Session, first_day: date, last_day: date) -> int:
    """Recompute ``redemption_days`` for ``first_day..last_day`` (inclusive); rows written."""
    session.execute(delete(RedemptionDay).where(
        RedemptionDay.business_date >= first_day, RedemptionDay.business_date <= last_day))
    totals = (
        select(Redemption.business_date, Redemption.offer_id,
               func.sum(Redemption.applications), func.sum(Redemption.discount_cents),
               func.sum(Redemption.funded_cents), func.sum(Redemption.handling_fee_cents))
        .where(Redemption.business_date >= first_day, Redemption.business_date <= last_day)
        .group_by(Redemption.business_date, Redemption.offer_id)
    )
    result = session.execute(insert(RedemptionDay).from_select(
        ["business_date", "offer_id", "applications", "discount_cents", "funded_cents", "handling_fee_cents"],
        totals))
    return int(result.rowcount or 0)


def refresh_recent_redemption_days(session: Session, as_of: date, days: int = REFRESH_DAYS) -> int:
    """The nightly pass: the ``days`` business days before ``as_of``."""
    return refresh_redemption_days(session, as_of - timedelta(days=days), as_of - timedelta(days=1))


@dataclass
class DayTotal:
    day: date
    applications: int
    discount_cents: int
    funded_cents: int


def daily_totals(session: Session, first_day: date, last_day: date,
                 offer_ids: list[int] | None = None) -> list[DayTotal]:
    """One total per day of the window (zeros included), over all offers or the given ones."""
    query = (
        select(RedemptionDay.business_date, func.sum(RedemptionDay.applications),
               func.sum(RedemptionDay.discount_cents), func.sum(RedemptionDay.funded_cents))
        .where(RedemptionDay.business_date >= first_day, RedemptionDay.business_date <= last_day)
        .group_by(RedemptionDay.business_date)
    )
    if offer_ids is not None:
        query = query.where(RedemptionDay.offer_id.in_(offer_ids))
    found = {d: (int(a or 0), int(c or 0), int(f or 0)) for d, a, c, f in session.execute(query).all()}
    out = []
    day = first_day
    while day <= last_day:
        a, c, f = found.get(day, (0, 0, 0))
        out.append(DayTotal(day, a, c, f))
        day += timedelta(days=1)
    return out


@dataclass
class BudgetBurn:
    offers: int
    budget_cents: int  # over offers with a budget
    spent_cents: int  # funded so far by those offers
    redeemed: int  # live counter, every offer counted

    @property
    def share(self) -> float | None:
        return None if not self.budget_cents else self.spent_cents / self.budget_cents


def budget_burn(session: Session, offer_ids: list[int] | None = None,
                statuses: tuple[str, ...] = ("active", "paused")) -> BudgetBurn:
    """Budget used by live offers, from the counters checkout keeps on ``offers``."""
    budgeted = Offer.budget_cents.isnot(None)
    query = select(
        func.count(), func.coalesce(func.sum(Offer.budget_cents), 0),
        func.coalesce(func.sum(Offer.funded_spent_cents).filter(budgeted), 0),
        func.coalesce(func.sum(Offer.redeemed_count), 0),
    ).where(Offer.status.in_(statuses))
    if offer_ids is not None:
        query = query.where(Offer.id.in_(offer_ids))
    n, budget, spent, redeemed = session.execute(query).one()
    return BudgetBurn(int(n), int(budget), int(spent), int(redeemed))


__all__ = ["BudgetBurn", "DayTotal", "budget_burn", "daily_totals", "refresh_recent_redemption_days",
           "refresh_redemption_days"]
