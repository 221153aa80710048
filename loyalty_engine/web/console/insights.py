"""Dashboard, segments (the 3 x 3 grid per category) and members at risk: read-only pages over
stored aggregates (``loyalty_engine.analytics``), never scan lines."""
from __future__ import annotations

from flask import current_app, render_template, request

from ...analytics.at_risk import AT_RISK_STAGES, members_at_risk as find_members_at_risk
from ...analytics.charts import BurnRow, bar_chart, burn_chart, day_points, heat_map
from ...analytics.dashboard import dashboard as dashboard_figures
from ...analytics.segment_cells import segment_categories, segment_grid
from ...analytics.segment_moves import category_moves
from ...app import app_config, db_session
from ...console.results_view import program_lift
from ...money import format_money
from ...shopping_lists.model_source import model_params
from ..authz import now, requires
from . import bp


@bp.app_template_global("money")
def money(cents: int | float | None) -> str:
    """Integer cents as the chain's money ("$1,234.50")."""
    return "—" if cents is None else format_money(int(round(cents)))


@bp.get("/dashboard")
@requires("console.view")
def dashboard() -> str:
    board = dashboard_figures(db_session(), now().date())
    redemptions = bar_chart(day_points([(d.day, d.applications) for d in board.days]),
                            "Redemptions per day, last 8 weeks")
    burn = burn_chart([BurnRow(n, s, b) for n, s, b in board.burn_offers], "Budget burn of the live offers")
    lift = program_lift(db_session())  # the latest computed period's stored results, pooled over its offers
    return render_template("console/dashboard.html", board=board, redemptions_chart=redemptions, burn_chart=burn,
                           lift=lift)


@bp.get("/segments")
@requires("console.view")
def segments() -> str:
    db = db_session()
    categories = segment_categories(db)
    names = [c for c, _ in categories]
    category = request.args.get("category", "")
    if category not in names:
        category = names[0] if names else ""
    grid = segment_grid(db, category, app_config(current_app).list_period_days) if category else None
    chart = heat_map(grid, f"{category}: members per cell") if grid else None
    moves_since, moves = category_moves(db, category, grid.as_of if grid else None)
    return render_template("console/segments.html", categories=categories, category=category, grid=grid,
                           chart=chart, moves=moves, moves_since=moves_since)


@bp.get("/members-at-risk")
@requires("members.view")
def members_at_risk() -> str:
    stage = request.args.get("stage", "")
    stage = stage if stage in AT_RISK_STAGES else ""
    page = find_members_at_risk(db_session(), model_params(app_config(current_app)), stage or None)
    return render_template("console/members_at_risk.html", page=page, stage=stage, stages=AT_RISK_STAGES)
