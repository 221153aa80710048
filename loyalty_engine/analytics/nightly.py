"""The console's nightly aggregates, written by the lifecycle job from the state it already has."""
from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Engine

from ..db import session_scope
from ..model.state import ModelState
from .redemptions import refresh_recent_redemption_days
from .segment_cells import store_segment_cells


def store_console_aggregates(engine: Engine, state: ModelState, as_of: date) -> dict[str, Any]:
    """The 3 x 3 grids of the state's run, and the ledger's recent days; row counts."""
    with session_scope(engine) as session:
        cells = store_segment_cells(session, state.segments, state.category_names, state.as_of)
        days = refresh_recent_redemption_days(session, as_of)
    return {"segment_cells": cells, "redemption_days": days}
