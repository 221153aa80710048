"""Storing the model's per-member measures (lifecycle stage, value tier, loyalty) in the database.

The nightly lifecycle job replaces every row in one transaction, so readers see either the
old run or the new one, never a mix.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import Engine, delete, func, select

from .db import session_scope
from .model.state import ModelState
from .models.model_state import MemberProfile
from .results.lifecycle import record_stage_history
from .shopping_lists.bulk import bulk_insert_columns

def profile_columns(state: ModelState) -> dict[str, list[Any]]:
    """Column lists, one entry per member of the state (plain Python values for the drivers)."""
    m = state.metrics
    n = state.n_members
    since = m.days_since_last_trip.astype(np.int64)
    return {
        "member_key": state.member_key.astype(np.int64).tolist(),
        "as_of": [state.as_of] * n,
        "lifecycle_stage": m.stage_names().astype(str).tolist(),
        "value_tier": m.value_tier_names().astype(str).tolist(),
        "weekly_spend_cents": m.avg_weekly_spend_cents.astype(np.int64).tolist(),
        "clv_cents": m.clv_cents.astype(np.int64).tolist(),
        "trips_per_week": np.round(m.trips_per_week.astype(np.float64), 4).tolist(),
        "norm_trips_per_week": [None if r < 0 else r for r in
                                np.round(m.norm_trips_per_week.astype(np.float64), 4).tolist()],
        "repeat_rate": np.round(m.repeat_rate.astype(np.float64), 4).tolist(),
        "top_category_share": np.round(m.top_category_share.astype(np.float64), 4).tolist(),
        "p_alive": np.round(m.p_alive.astype(np.float64), 4).tolist(),
        "trips": m.trips.astype(np.int64).tolist(),
        "days_since_last_trip": [None if d < 0 else d for d in since.tolist()],
    }


def store_member_profiles(engine: Engine, state: ModelState) -> dict[str, Any]:
    """Replace all profiles with the state's; returns counts per stage and tier."""
    columns = profile_columns(state)
    with session_scope(engine) as session:
        session.execute(delete(MemberProfile))
        written = bulk_insert_columns(session, MemberProfile.__table__, columns)  # type: ignore[arg-type]
        # profiles keep only the latest run; the history keeps each member's stage per week
        record_stage_history(session, state.as_of, columns["member_key"], columns["lifecycle_stage"],
                             columns["value_tier"])
        stages = dict(session.execute(
            select(MemberProfile.lifecycle_stage, func.count()).group_by(MemberProfile.lifecycle_stage)
        ).all())
        tiers = dict(session.execute(
            select(MemberProfile.value_tier, func.count()).group_by(MemberProfile.value_tier)
        ).all())
    return {"profiles": written, "stages": stages, "value_tiers": tiers}
