"""The console's dashboard: what is live now, from stored aggregates only.

* lists delivered: the complete builds whose period covers today (``list_builds`` counts);
* redemption rate: redemptions since those periods started (nightly ``redemption_days`` for past
  days, the ledger for today through its (offer, day) index) per list line delivered;
* budget burn: the live offers' counters;
* members lapsing: high-value members declining or lapsed (``member_profiles``).
Lift is not computed here: it needs the hold-out comparison of the results pages.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models.checkout import Redemption
from ..models.lists import ListBuild
from ..models.offers import Offer
from .at_risk import lapsing_count
from .redemptions import BudgetBurn, DayTotal, budget_burn, daily_totals

CHART_DAYS = 56


@dataclass
class Dashboard:
    today: date
    lists_delivered: int
    lines_delivered: int
    periods: list[tuple[date, date, str]]  # (start, end, cohort) of the live builds
    redemptions_in_periods: int
    burn: BudgetBurn
    members_lapsing: int
    days: list[DayTotal] = field(default_factory=list)
    burn_offers: list[tuple[str, int, int | None]] = field(default_factory=list)  # (name, spent, budget)

    @property
    def redemption_rate(self) -> float | None:
        return None if not self.lines_delivered else self.redemptions_in_periods / self.lines_delivered


def live_builds(session: Session, today: date) -> list[ListBuild]:
    return list(session.execute(
        select(ListBuild).where(ListBuild.status == "complete", ListBuild.period_start <= today,
                                ListBuild.period_end >= today).order_by(ListBuild.period_start)).scalars())


def live_offer_ids(session: Session) -> list[int]:
    return list(session.execute(select(Offer.id).where(Offer.status.in_(("active", "paused")))).scalars())


def ledger_day(session: Session, day: date, offer_ids: list[int]) -> DayTotal:
    """Today's redemptions straight from the ledger, offer by offer through its (offer, day) index."""
    if not offer_ids:
        return DayTotal(day, 0, 0, 0)
    a, c, f = session.execute(
        select(func.coalesce(func.sum(Redemption.applications), 0), func.coalesce(func.sum(Redemption.discount_cents), 0),
               func.coalesce(func.sum(Redemption.funded_cents), 0))
        .where(Redemption.offer_id.in_(offer_ids), Redemption.business_date == day)).one()
    return DayTotal(day, int(a), int(c), int(f))


def offer_days(session: Session, offer_id: int, today: date, days: int = CHART_DAYS) -> list[DayTotal]:
    """One offer's redemptions per day: nightly totals for past days, the ledger for today."""
    out = daily_totals(session, today - timedelta(days=days - 1), today - timedelta(days=1), [offer_id])
    out.append(ledger_day(session, today, [offer_id]))
    return out


def dashboard(session: Session, today: date, burn_top: int = 10) -> Dashboard:
    builds = live_builds(session, today)
    offer_ids = live_offer_ids(session)
    days = daily_totals(session, today - timedelta(days=CHART_DAYS - 1), today - timedelta(days=1))
    days.append(ledger_day(session, today, offer_ids))
    first = min((b.period_start for b in builds), default=today)
    in_periods = sum(d.applications for d in days if d.day >= first) if builds else 0
    offers = session.execute(
        select(Offer.name, Offer.funded_spent_cents, Offer.budget_cents).where(Offer.id.in_(offer_ids))
        .order_by(Offer.budget_cents.is_(None), (Offer.funded_spent_cents * 1.0 / func.coalesce(func.nullif(Offer.budget_cents, 0), 1)).desc(),
                  Offer.id).limit(burn_top)).all() if offer_ids else []
    return Dashboard(
        today=today,
        lists_delivered=sum(b.lists_built for b in builds),
        lines_delivered=sum(b.lines_built for b in builds),
        periods=[(b.period_start, b.period_end, b.cohort) for b in builds],
        redemptions_in_periods=in_periods,
        burn=budget_burn(session),
        members_lapsing=lapsing_count(session),
        days=days,
        burn_offers=[(str(n), int(s), None if b is None else int(b)) for n, s, b in offers],
    )
