"""The console's nightly aggregates, written by the lifecycle job from the state it already has."""
from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from ..config import Config
from ..db import session_scope
from ..model.state import ModelState
from .redemptions import refresh_recent_redemption_days
from .segment_cells import store_segment_cells
from .segment_moves import store_segment_moves


def store_console_aggregates(engine: Engine, config: Config, state: ModelState, as_of: date) -> dict[str, Any]:
    """The 3 x 3 grids of the state's run, the moves between their cells, and the ledger's
    recent days; row counts."""
    with session_scope(engine) as session:
        cells = store_segment_cells(session, state.segments, state.category_names, state.as_of)
        moves = store_segment_moves(session, Path(config.instance_path) / "segments", state.as_of,
                                    state.member_key, state.segments, state.category_names,
                                    config.list_period_days)
        days = refresh_recent_redemption_days(session, as_of)
    return {"segment_cells": cells, "segment_moves": moves, "redemption_days": days}
