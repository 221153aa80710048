"""Where the list builder gets its model: a saved state, or one fitted on the spot.

The nightly ``refresh_model`` job fits the purchase-cycle model on the scans before its run
date and saves it under ``<instance>/models/model-<as_of>/`` in member parts (on member
shards each worker saves its own: :mod:`loyalty_engine.model.parts`); builds, forecasts and the
lifecycle job use the saved state of their ``as_of`` date when there is one and fit one
otherwise, so a replay of a past date needs nothing saved. :func:`model_view_from_state`
turns a ``ModelState`` into the :class:`ModelView` the builder reads;
:func:`~.parts_view.model_view_from_parts` does the same for a saved state without ever
holding it whole.

Eligibility spend is read from the database for the configured window (not from the model),
so changing ``LOYALTY_ELIGIBILITY_WEEKS`` needs no refit.
"""
from __future__ import annotations

import logging
import re
import shutil
import time
import zipfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sqlalchemy import Engine, func, select

from ..config import Config
from ..model.params import ModelParams
from ..model.parts import PartitionedState, load_saved
from ..model.lifecycle import LIFECYCLE_STAGES as MODEL_STAGES
from ..model.state import ModelState
from ..models.offers import LIFECYCLE_STAGES
from ..models.scans import ScanLine
from .model_view import ModelView
from .parts_view import model_view_from_parts

log = logging.getLogger(__name__)

# a folder of parts (``model-DATE``) or, from earlier versions, one file (``model-DATE.npz``)
STATE_NAME = re.compile(r"^model-(\d{4}-\d{2}-\d{2})(\.npz)?$")
KEEP_STATES = 3


class ModelUnavailable(RuntimeError):
    """No model can be had for the date (no scans yet, or a saved state that does not load)."""


def model_params(config: Config) -> ModelParams:
    return ModelParams(horizon_days=config.list_period_days, segment_lookback_weeks=config.segment_lookback_weeks)


def state_dir(config: Config) -> Path:
    return Path(config.instance_path) / "models"


def state_path(config: Config, as_of: date) -> Path:
    return state_dir(config) / f"model-{as_of.isoformat()}"


def saved_dates(config: Config) -> list[date]:
    """Dates of the saved states, ascending."""
    return sorted({date.fromisoformat(m.group(1)) for p in state_dir(config).glob("model-*")
                   if (m := STATE_NAME.match(p.name))})


def _no_scans(as_of: date) -> ModelUnavailable:
    return ModelUnavailable(f"no member scans before {as_of}: import scans first (loyalty-engine import scans FILE)")


def fit_state(engine: Engine, config: Config, as_of: date) -> ModelState:
    """Fit the model on every member scan before ``as_of``: in this process for a small chain,
    on member shards (Dask) for a large one or when ``LOYALTY_WORKERS`` /
    ``LOYALTY_DASK_SCHEDULER`` say so (docs/scale.md); the state is the same."""
    from ..distributed.cluster import ClusterSettings
    from ..distributed.fit import NoScans, fit_chain

    try:
        return fit_chain(engine, as_of, model_params(config), ClusterSettings.from_config(config))
    except NoScans:
        raise _no_scans(as_of) from None


def load_or_fit(engine: Engine, config: Config, as_of: date, model_path: Path | None = None) -> tuple[ModelState, str]:
    """The whole state for ``as_of`` and where it came from."""
    state, source = _saved_or_fitted(engine, config, as_of, model_path)
    return (state.whole() if isinstance(state, PartitionedState) else state), source


def _saved_or_fitted(engine: Engine, config: Config, as_of: date,
                     model_path: Path | None) -> tuple[ModelState | PartitionedState, str]:
    """The saved state for ``as_of`` (as saved: whole or in parts) or one fitted now."""
    path = model_path or state_path(config, as_of)
    if path.exists():
        try:
            state = load_saved(path)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            if model_path is not None:
                raise ModelUnavailable(f"cannot read model state {path}: {exc}") from None
            log.warning("saved model %s does not load (%s); fitting a new one", path, exc)
        else:
            if model_path is not None or _fits_config(state, config):
                return state, f"saved model {path}"
            log.info("saved model %s was fitted with other settings; fitting a new one", path)
    elif model_path is not None:
        raise ModelUnavailable(f"no model state at {path}")
    started = time.perf_counter()
    fitted = fit_state(engine, config, as_of)
    return fitted, f"fitted as of {as_of} in {time.perf_counter() - started:.1f}s"


def _fits_config(state: ModelState | PartitionedState, config: Config) -> bool:
    wanted = model_params(config)
    return (state.horizon_days == wanted.horizon_days
            and state.params.segment_lookback_weeks == wanted.segment_lookback_weeks)


def model_provider(engine: Engine, config: Config, model_path: Path | None = None):  # type: ignore[no-untyped-def]
    """A ``ModelProvider`` (as_of -> ModelView) for builds and forecasts."""

    def provide(as_of: date) -> ModelView:
        state, source = _saved_or_fitted(engine, config, as_of, model_path)
        if isinstance(state, PartitionedState):
            spend = weekly_spend(engine, as_of, config.eligibility_weeks, state.member_key())
            return model_view_from_parts(state, *spend, source=source)
        spend = weekly_spend(engine, as_of, config.eligibility_weeks, state.member_key)
        return model_view_from_state(state, *spend, source=source)

    return provide


def weekly_spend(engine: Engine, as_of: date, weeks: int, member_key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Average weekly net spend (cents) per member over the last ``weeks`` and the ``weeks`` before.

    Aligned with ``member_key`` (ascending); members without scans spend 0.
    """
    recent_start = as_of - timedelta(weeks=weeks)
    prior_start = recent_start - timedelta(weeks=weeks)
    windows = ((recent_start, as_of), (prior_start, recent_start))
    out = []
    with engine.connect() as conn:
        for start, end in windows:
            rows = conn.execute(
                select(ScanLine.member_key, func.sum(ScanLine.amount_cents))
                .where(ScanLine.member_key.is_not(None), ScanLine.business_date >= start, ScanLine.business_date < end)
                .group_by(ScanLine.member_key)
            ).all()
            total = np.zeros(member_key.shape[0], dtype=np.int64)
            if rows:
                keys = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
                sums = np.fromiter((int(r[1] or 0) for r in rows), dtype=np.int64, count=len(rows))
                pos = np.searchsorted(member_key, keys)
                known = (pos < member_key.shape[0]) & (member_key[np.minimum(pos, member_key.shape[0] - 1)] == keys)
                total[pos[known]] = sums[known]
            # Integer cents: the weekly average rounds half up, never through float.
            out.append((total * 2 + weeks) // (2 * weeks))
    return out[0], out[1]


def model_view_from_state(state: ModelState, weekly_spend_cents: np.ndarray | None = None,
                          prior_weekly_spend_cents: np.ndarray | None = None, source: str = "") -> ModelView:
    """The builder's view of a fitted state: dense segment codes, lifecycle, value tier, scorer."""
    from ..model.scoring import score_offer_scopes

    seg, metrics = state.segments, state.metrics
    arrays = member_view_arrays(
        int(state.category_names.shape[0]), seg.member, seg.category, seg.brand_loyalty, seg.usage_tier,
        metrics.lifecycle_stage, metrics.value_tier, metrics.avg_weekly_spend_cents,
        weekly_spend_cents, prior_weekly_spend_cents)

    def scorer(scopes, horizon_days: int, member_positions: np.ndarray) -> sp.csr_matrix:  # type: ignore[no-untyped-def]
        return score_offer_scopes(state, scopes, horizon_days, member_positions)

    def for_members(positions: np.ndarray) -> ModelView:
        from ..distributed.state_slice import state_for_members

        return model_view_from_state(state_for_members(state, positions), arrays["weekly_spend_cents"][positions],
                                     arrays["prior_weekly_spend_cents"][positions], source=source)

    return ModelView(
        member_key=state.member_key.astype(np.int64), categories=[str(c) for c in state.category_names],
        **arrays, n_value_tiers=n_value_tiers(metrics.value_tier), scorer=scorer, as_of=state.as_of, source=source,
        for_members=for_members,
    )


def member_view_arrays(
    n_categories: int, seg_member: np.ndarray, seg_category: np.ndarray, seg_brand_loyalty: np.ndarray,
    seg_usage_tier: np.ndarray, lifecycle_stage: np.ndarray, value_tier: np.ndarray,
    model_weekly_spend_cents: np.ndarray, weekly_spend_cents: np.ndarray | None,
    prior_weekly_spend_cents: np.ndarray | None,
) -> dict[str, np.ndarray]:
    """The view's per-member arrays from the model's: the segment table as dense members x
    categories codes, the builder's stage codes, value tiers, and the spend (the model's own
    average weekly spend and no prior spend when none is given)."""
    n_members = value_tier.shape[0]
    brand_loyalty = np.full((n_members, n_categories), -1, dtype=np.int8)
    usage_tier = np.full((n_members, n_categories), -1, dtype=np.int8)
    brand_loyalty[seg_member, seg_category] = seg_brand_loyalty
    usage_tier[seg_member, seg_category] = seg_usage_tier
    if weekly_spend_cents is None:
        weekly_spend_cents = model_weekly_spend_cents
    if prior_weekly_spend_cents is None:
        prior_weekly_spend_cents = np.zeros(n_members, dtype=np.int64)
    return dict(
        brand_loyalty=brand_loyalty, usage_tier=usage_tier,
        lifecycle_stage=_stage_codes(np.asarray(MODEL_STAGES, dtype=object)[lifecycle_stage]),
        value_tier=value_tier.astype(np.int8),
        weekly_spend_cents=np.asarray(weekly_spend_cents, dtype=np.int64),
        prior_weekly_spend_cents=np.asarray(prior_weekly_spend_cents, dtype=np.int64),
    )


def n_value_tiers(value_tier: np.ndarray) -> int:
    return int(value_tier.max(initial=0)) + 1 if value_tier.shape[0] else 1


def _stage_codes(names: np.ndarray) -> np.ndarray:
    """Model stage names onto the builder's stage codes (the same words, looked up by name)."""
    uniques, inverse = np.unique(names.astype(str), return_inverse=True)
    table = np.array([LIFECYCLE_STAGES.index(u) for u in uniques], dtype=np.int8)
    return table[inverse].astype(np.int8)


def refresh_model_state(engine: Engine, config: Config, as_of: date) -> dict[str, Any]:
    """Fit and save the state of ``as_of`` in member parts (the nightly job); older saved
    states are pruned."""
    from ..distributed.cluster import ClusterSettings
    from ..distributed.fit import NoScans, fit_chain_to_parts

    started = time.perf_counter()
    stats: dict[str, int] = {}
    try:
        path = fit_chain_to_parts(engine, as_of, model_params(config), ClusterSettings.from_config(config),
                                  state_path(config, as_of), stats)
    except NoScans:
        raise _no_scans(as_of) from None
    saved = PartitionedState(path)
    removed = prune_states(config, keep=KEEP_STATES)
    return {"path": str(path), "members": saved.n_members, "sku_pairs": saved.sku_pairs, "parts": saved.n_parts,
            "lines": stats.get("lines", 0), "states_removed": removed,
            "seconds": round(time.perf_counter() - started, 2)}


def prune_states(config: Config, keep: int) -> int:
    folder = state_dir(config)
    dates = saved_dates(config)
    old = dates[:-keep] if keep else dates
    for day in old:
        for path in (folder / f"model-{day.isoformat()}", folder / f"model-{day.isoformat()}.npz"):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
    return len(old)


def recompute_lifecycle(engine: Engine, config: Config, as_of: date) -> dict[str, Any]:
    """Store every member's lifecycle stage, value tier and measures as of ``as_of``, and the
    console's aggregates (segment grids, redemptions per day) from the same state."""
    from ..analytics.nightly import store_console_aggregates
    from ..member_profiles import store_member_profiles

    saved, source = _saved_or_fitted(engine, config, as_of, None)
    # Member-level work: a state saved in parts is read without its pair arrays.
    state = saved.whole(pairs=False) if isinstance(saved, PartitionedState) else saved
    counts = store_member_profiles(engine, state)
    aggregates = store_console_aggregates(engine, config, state, as_of)
    return {"as_of": as_of.isoformat(), "source": source, **counts, **aggregates}


__all__ = [
    "ModelUnavailable", "fit_state", "load_or_fit", "model_params", "model_provider", "model_view_from_state",
    "prune_states", "recompute_lifecycle", "refresh_model_state", "saved_dates", "state_path", "weekly_spend",
]
