"""The scheduled tasks: thin calls into the domain with an ``as_of`` date. Each returns counts."""
from __future__ import annotations

import os
from datetime import date, timedelta
from typing import Any, Callable

from loyalty_engine.db import session_scope
from loyalty_engine.offers.service import expire_offers
from loyalty_engine.shopping_lists.build import build_lists, expire_lists
from loyalty_engine.shopping_lists.settings import ListSettings

from .runtime import RunContext

Task = Callable[[RunContext, date], dict[str, Any]]


def lead_days(environ: dict[str, str] | None = None) -> int:
    """Days between building a cohort's lists and the start of their period (print and mail)."""
    env = os.environ if environ is None else environ
    return int(env.get("LOYALTY_LIST_LEAD_DAYS", "7"))


def expire_ended(context: RunContext, as_of: date) -> dict[str, Any]:
    """End offers whose window closed and expire lists whose period is over."""
    with session_scope(context.engine) as session:
        offers = expire_offers(session, as_of)
        lists = expire_lists(session, as_of)
    return {"offers_ended": offers, "lists_expired": lists}


def weekly_lists(context: RunContext, as_of: date) -> dict[str, Any]:
    """Build the lists of the cohort whose period starts ``lead_days`` after the run."""
    from loyalty_engine.distributed.build import ShardedBuild
    from loyalty_engine.distributed.cluster import ClusterSettings
    from loyalty_engine.shopping_lists.model_source import model_provider

    settings = ListSettings.from_config(context.config)
    period_start = as_of + timedelta(days=lead_days())
    with ShardedBuild(ClusterSettings.from_config(context.config)) as sharded, session_scope(context.engine) as session:
        result = build_lists(session, period_start, model_provider(context.engine, context.config), settings,
                             as_of=as_of, clock=context.clock, select=sharded.select, write=sharded.write)
    counts = {k: v for k, v in result.counts.items() if k != "timings"}
    return {"period_start": period_start.isoformat(), "cohort": result.cohort, "build_id": result.build_id,
            "created": result.created, **counts}


def refresh_model(context: RunContext, as_of: date) -> dict[str, Any]:
    """Fit the purchase-cycle model on the scans before ``as_of`` and save it for the day's builds."""
    from loyalty_engine.shopping_lists.model_source import refresh_model_state

    return refresh_model_state(context.engine, context.config, as_of)


def recompute_lifecycle(context: RunContext, as_of: date) -> dict[str, Any]:
    """Recompute every member's lifecycle stage and value tier as of ``as_of``."""
    from loyalty_engine.shopping_lists.model_source import recompute_lifecycle as recompute

    return recompute(context.engine, context.config, as_of)


def issue_statements(context: RunContext, as_of: date) -> dict[str, Any]:
    """Issue the manufacturer statements of periods closed longer than the grace period for returns."""
    from loyalty_engine.results.statement_files import issue_due_statements

    written = issue_due_statements(context.config, context.engine, as_of=as_of, now=context.clock.now(),
                                   grace_days=context.config.statement_grace_days)
    return {"statements_issued": len(written), "statements": [doc.number for doc, _files in written],
            "total_due_cents": sum(doc.total_due_cents for doc, _files in written)}


def compute_results(context: RunContext, as_of: date) -> dict[str, Any]:
    """Measure and store the results of the list periods under way or recently ended."""
    from loyalty_engine.results.store import compute_recent_periods

    periods = compute_recent_periods(context.engine, as_of, now=context.clock.now(),
                                     min_group_size=context.config.min_group_size,
                                     trial_weeks=context.config.trial_weeks)
    return {"periods": [p.isoformat() for p in periods]}


TASKS: dict[str, Task] = {
    "weekly_lists": weekly_lists,
    "refresh_model": refresh_model,
    "expire": expire_ended,
    "lifecycle": recompute_lifecycle,
    "statements": issue_statements,
    "results": compute_results,
}
