"""Members at risk: high-value members whose lifecycle stage is declining or lapsed, with why.

Reads ``member_profiles`` (written by the nightly lifecycle job), never scan lines. The reasons
restate the lifecycle rules (``loyalty_engine.model.lifecycle.lifecycle_stages``) on the stored
measures: the recent trip rate against the member's own norm, the chance the member is still
active (BG/NBD ``p_alive``) against the thresholds, and the days since the last trip.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..model.params import ModelParams
from ..models.members import Member
from ..models.model_state import MemberProfile

AT_RISK_STAGES = ("declining", "lapsed")
HIGH_VALUE_TIERS = ("gold", "silver")


@dataclass
class MemberAtRisk:
    member_id: str
    name: str
    home_store_id: str | None
    stage: str
    value_tier: str
    clv_cents: int
    weekly_spend_cents: int
    trips_per_week: float
    norm_trips_per_week: float | None
    p_alive: float
    days_since_last_trip: int | None
    reasons: list[str] = field(default_factory=list)


def risk_reasons(stage: str, trips_per_week: float, norm_trips_per_week: float | None, p_alive: float,
                 days_since_last_trip: int | None, params: ModelParams) -> list[str]:
    """Plain-language reasons for a declining or lapsed stage, from the stored measures."""
    reasons: list[str] = []
    if norm_trips_per_week and trips_per_week < params.declining_ratio * norm_trips_per_week:
        drop = 1 - trips_per_week / norm_trips_per_week
        reasons.append(f"trips fell to {trips_per_week:.2f} a week from a usual {norm_trips_per_week:.2f} "
                       f"({drop:.0%} fewer)")
    if p_alive < params.lapsed_p_alive:
        reasons.append(f"chance still shopping here {p_alive:.0%}, below {params.lapsed_p_alive:.0%}")
    elif p_alive < (1 + params.lapsed_p_alive) / 2:
        reasons.append(f"chance still shopping here fading: {p_alive:.0%}")
    if not reasons and stage == "declining":
        # neither the trip rate nor p_alive: the rule left is spend, the last 8 weeks below
        # ``declining_ratio`` of the member's own norm (the norm spend is not stored)
        reasons.append(f"spend over the last 8 weeks below {params.declining_ratio:.0%} of the member's norm")
    if days_since_last_trip is not None and (stage == "lapsed" or days_since_last_trip > 14):
        reasons.append(f"no trip for {days_since_last_trip} days")
    return reasons


@dataclass
class RiskPage:
    as_of: date | None
    counts: dict[str, int]  # members per at-risk stage among the high-value tiers
    members: list[MemberAtRisk]


def members_at_risk(session: Session, params: ModelParams, stage: str | None = None,
                    tiers: tuple[str, ...] = HIGH_VALUE_TIERS, limit: int = 100) -> RiskPage:
    """The most valuable at-risk members (by CLV), and how many there are per stage."""
    stages = (stage,) if stage in AT_RISK_STAGES else AT_RISK_STAGES
    where = (MemberProfile.lifecycle_stage.in_(AT_RISK_STAGES), MemberProfile.value_tier.in_(tiers))
    counts = dict.fromkeys(AT_RISK_STAGES, 0)
    counts.update({str(s): int(n) for s, n in session.execute(
        select(MemberProfile.lifecycle_stage, func.count()).where(*where)
        .group_by(MemberProfile.lifecycle_stage)).all()})
    as_of = session.execute(select(func.max(MemberProfile.as_of))).scalar_one_or_none()
    rows = session.execute(
        select(MemberProfile, Member.member_id, Member.first_name, Member.last_name, Member.home_store_id)
        .join(Member, Member.id == MemberProfile.member_key)
        .where(MemberProfile.lifecycle_stage.in_(stages), MemberProfile.value_tier.in_(tiers))
        .order_by(MemberProfile.clv_cents.desc(), MemberProfile.member_key).limit(limit)
    ).all()
    members = []
    for profile, member_id, first, last, store in rows:
        name = " ".join(p for p in (first, last) if p) or member_id
        members.append(MemberAtRisk(
            member_id, name, store, profile.lifecycle_stage, profile.value_tier, profile.clv_cents,
            profile.weekly_spend_cents, profile.trips_per_week, profile.norm_trips_per_week, profile.p_alive,
            profile.days_since_last_trip,
            risk_reasons(profile.lifecycle_stage, profile.trips_per_week, profile.norm_trips_per_week,
                         profile.p_alive, profile.days_since_last_trip, params),
        ))
    return RiskPage(as_of, counts, members)


def lapsing_count(session: Session, tiers: tuple[str, ...] = HIGH_VALUE_TIERS) -> int:
    """High-value members declining or lapsed (the dashboard's tile)."""
    return int(session.execute(select(func.count()).select_from(MemberProfile).where(
        MemberProfile.lifecycle_stage.in_(AT_RISK_STAGES), MemberProfile.value_tier.in_(tiers))).scalar_one())
