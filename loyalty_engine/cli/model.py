"""``loyalty-engine predict | segments | members``: the purchase-cycle model (``backtest`` in ``cli.backtest``).

Thin edges over ``loyalty_engine.model``: each command loads the scan history before its
``--as-of`` date, fits the model (or loads a saved state with ``--model``) and prints or writes
what the model says. Nothing here reads "today" except through the module's ``clock``, so
tests and replays can pin the date.
"""
from __future__ import annotations

import difflib
import json
import math
import sys
import time
import zipfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import click
import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from ..clock import Clock, SystemClock
from ..model.arrays import rank_in_runs
from ..money import format_money
from .context import CliContext, InputError, pass_cli

# The date commands default to when --as-of is left out; tests replace it with a FixedClock.
clock: Clock = SystemClock()

LEVELS = ("sku", "subcategory")
METHODS = ("model", "top_frequency", "decayed_frequency")
METHOD_LABELS = {"model": "model", "top_frequency": "top frequency", "decayed_frequency": "recency-decayed"}
# The lifecycle check compares the stage with the trips of the 8 weeks after the date.
LIFECYCLE_WEEKS = 8
MAX_HORIZON_DAYS = 182


def _console() -> Console:
    """Rich console; wide enough for tables when output is a pipe or a file."""
    return Console() if sys.stdout.isatty() else Console(width=160)


def _parse_date(option: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{option} must be a date YYYY-MM-DD, got {value!r}") from None


def _check_range(option: str, value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise InputError(f"{option} must be between {low} and {high}, got {value}")
    return value


def _iso(day: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=int(day))).isoformat()


def _number(value: float) -> float | None:
    """JSON has no NaN: a metric with nothing to measure is null."""
    return None if value is None or not math.isfinite(value) else float(value)


def _pct(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value:.1%}"


# --- getting a model --------------------------------------------------------------------------


@dataclass
class Fitted:
    state: Any  # loyalty_engine.model.state.ModelState (imported lazily: numpy/scipy start-up cost)
    scan_lines: int | None  # lines the model learned from (None for a loaded state)
    seconds: float
    source: str  # "fitted" or the saved file


def _params(cli: CliContext, horizon_days: int):  # type: ignore[no-untyped-def]
    from ..model.params import ModelParams

    # The chain's configured segment window is the one lists and managers see.
    return ModelParams(horizon_days=horizon_days, segment_lookback_weeks=cli.config.segment_lookback_weeks)


def _load_history(cli: CliContext, before: date):  # type: ignore[no-untyped-def]
    from ..model.history import load_history

    return load_history(cli.engine, before)


def _cluster(cli: CliContext):  # type: ignore[no-untyped-def]
    """Where a fit runs: ``LOYALTY_WORKERS`` / ``LOYALTY_DASK_SCHEDULER``, overridden by the
    command's ``--workers`` / ``--scheduler`` (docs/scale.md)."""
    from ..distributed.cluster import ClusterSettings

    return ClusterSettings.from_config(cli.config)


def _fit(cli: CliContext, as_of: date, horizon_days: int) -> Fitted:
    from ..distributed.fit import NoScans, fit_chain

    started = time.perf_counter()
    stats: dict[str, int] = {}
    try:
        state = fit_chain(cli.engine, as_of, _params(cli, horizon_days), _cluster(cli), stats)
    except NoScans:
        raise InputError(f"no member scans before {as_of}: import scans first, or pick a later --as-of") from None
    return Fitted(state, stats.get("lines"), time.perf_counter() - started, "fitted")


def cluster_options(command):  # type: ignore[no-untyped-def]
    """``--workers N`` and ``--scheduler ADDRESS`` for a command that fits the model; they
    override ``LOYALTY_WORKERS`` / ``LOYALTY_DASK_SCHEDULER`` for this run."""

    def apply(ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        if value is not None:
            cli = ctx.ensure_object(CliContext)
            name = "workers" if _param.name == "workers" else "dask_scheduler"
            cli.config = cli.config.with_overrides(**{name: value})
        return value

    command = click.option("--scheduler", default=None, expose_value=False, callback=apply,
                           help="Dask scheduler address for the model fit, e.g. tcp://host:8786 "
                                "(default: LOYALTY_DASK_SCHEDULER).")(command)
    return click.option("--workers", type=click.IntRange(min=1), default=None, expose_value=False, callback=apply,
                        help="Worker processes for the model fit on member shards (1: this process; "
                             "default: LOYALTY_WORKERS, else by chain size).")(command)


def _load_state(path: Path, as_of: date | None, horizon_days: int | None) -> Fitted:
    from ..model.parts import PartitionedState, load_saved

    started = time.perf_counter()
    try:
        saved = load_saved(path)
        state = saved.whole() if isinstance(saved, PartitionedState) else saved
    except (ValueError, KeyError, OSError, zipfile.BadZipFile) as exc:
        raise InputError(f"--model {path}: not a saved model state ({exc})") from None
    # A saved state's probabilities belong to its own date and horizon; mixing them up would
    # silently score the wrong period.
    if as_of is not None and state.as_of != as_of:
        raise InputError(f"--model {path} was fitted as of {state.as_of}, not {as_of} (drop --as-of or refit)")
    if horizon_days is not None and state.horizon_days != horizon_days:
        raise InputError(f"--model {path} has a {state.horizon_days}-day horizon, not {horizon_days}")
    return Fitted(state, None, time.perf_counter() - started, str(path))


def _model(cli: CliContext, as_of: str | None, model_path: Path | None, horizon_days: int | None,
           default_today: bool) -> Fitted:
    """The state the command works on: loaded from ``--model`` or fitted as of the date."""
    day = _parse_date("--as-of", as_of) if as_of else None
    if model_path is not None:
        return _load_state(model_path, day, horizon_days)
    if day is None:
        if not default_today:
            raise InputError("--as-of is required (or --model with a saved state)")
        day = clock.today()
    horizon_days = horizon_days or cli.config.list_period_days
    saved = _saved_state(cli, day, horizon_days)
    return saved if saved is not None else _fit(cli, day, horizon_days)


def _saved_state(cli: CliContext, day: date, horizon_days: int) -> Fitted | None:
    """The nightly job's state of that date (``jobs run refresh_model``), when it fits the ask."""
    from ..shopping_lists.model_source import state_path

    path = state_path(cli.config, day)
    if not path.exists():
        return None
    try:
        fitted = _load_state(path, day, horizon_days)
    except InputError:
        return None  # another horizon, or unreadable: fitting anew is the right answer
    if fitted.state.params.segment_lookback_weeks != cli.config.segment_lookback_weeks:
        return None
    return fitted


def _model_note(fitted: Fitted) -> str:
    if fitted.scan_lines is None:
        return f"model loaded from {fitted.source}"
    return f"model fitted on {fitted.scan_lines:,} scan lines in {fitted.seconds:.1f} s"


_model_option = click.option(
    "--model", "model_path", type=click.Path(exists=True, path_type=Path), default=None,
    help="Use this saved model state (.npz from predict --save-model, or the nightly job's "
         "model-DATE folder) instead of fitting one.")
_as_of_help = "Data cut-off: the model learns from scans before this date (YYYY-MM-DD)"


# --- predict ----------------------------------------------------------------------------------


def ranked_predictions(state: Any, level: str, top: int) -> pd.DataFrame:
    """Each member's ``top`` items by probability: member_id, item, score, expected_date.

    Sorted by member id, then score (highest first); ties go to the earlier expected date,
    then the item name, so the file is the same on every run.
    """
    if level == "sku":
        member, item, score, day, names = (state.sku_member, state.sku_product, state.sku_probability,
                                           state.sku_expected_day, state.sku)
    else:
        member, item, score, day, names = (state.need_member, state.need_group, state.need_probability,
                                           state.need_expected_day, state.need_names)
    member_id = np.asarray(state.member_id, dtype=str)[member]
    item_name = np.asarray(names, dtype=str)[item]
    order = np.lexsort((item_name, day, -score.astype(np.float64), member_id))
    member_id, item_name, score, day = member_id[order], item_name[order], score[order], day[order]
    keep = rank_in_runs(member_id) < top
    days = np.asarray(day[keep], dtype=np.int64)
    return pd.DataFrame({
        "member_id": member_id[keep],
        "item": item_name[keep],
        "score": np.clip(score[keep].astype(np.float64), 0.0, 1.0),
        "expected_date": (np.datetime64("1970-01-01") + days.astype("timedelta64[D]")).astype(str),
    })


@click.command("predict")
@cluster_options
@click.option("--as-of", default=None, help=f"{_as_of_help}. Required unless --model is given.")
@click.option("--horizon", type=int, default=None,
              help="Days ahead the scores cover: P(buys in [as-of, as-of + DAYS)). Default 14 (or the saved state's).")
@click.option("--level", type=click.Choice(LEVELS), default="sku", show_default=True,
              help="Predict skus or subcategories.")
@click.option("--top", type=int, default=15, show_default=True, help="Items per member at most.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="CSV to write: member_id,item,score,expected_date.")
@_model_option
@click.option("--save-model", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also save the fitted model state here (.npz) for lists build --model or later runs.")
@pass_cli
def predict(cli: CliContext, as_of: str | None, horizon: int | None, level: str, top: int, out: Path,
            model_path: Path | None, save_model: Path | None) -> None:
    """Write each member's most likely next purchases (top K skus or subcategories) to a CSV."""
    _check_range("--top", top, 1, 1000)
    if horizon is not None:
        _check_range("--horizon", horizon, 1, MAX_HORIZON_DAYS)
    if model_path is not None and save_model is not None:
        raise InputError("--save-model saves a freshly fitted model: leave it out with --model")
    fitted = _model(cli, as_of, model_path, horizon, default_today=False)
    state = fitted.state
    if save_model is not None:
        state.save(save_model)
    frame = ranked_predictions(state, level, top)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False, float_format="%.4f", lineterminator="\n")

    members = int(frame["member_id"].nunique())
    full = int((frame.groupby("member_id").size() == top).sum()) if len(frame) else 0
    click.echo(f"{len(frame):,} predictions for {members:,} of {state.n_members:,} members written to {out}")
    click.echo(f"  {level} level, top {top}, horizon {state.horizon_days} days from {state.as_of}; "
               f"{full:,} members have a full {top}, {state.n_members - members:,} have no purchase history")
    if len(frame):
        click.echo(f"  mean score {frame['score'].mean():.3f}; {_model_note(fitted)}")
    if save_model is not None:
        click.echo(f"  model state saved to {save_model}")


# --- segments ---------------------------------------------------------------------------------


def segment_matrix(state: Any, category: int) -> dict[str, Any]:
    """The 3 x 3 of one category: members, spend and mean purchase interval per cell."""
    from ..model.segments import BRAND_LOYALTY, USAGE_TIERS

    seg = state.segments
    rows = seg.rows_for_category(category)
    loyalty, tier = seg.brand_loyalty[rows].astype(np.int64), seg.usage_tier[rows].astype(np.int64)
    segmented = (loyalty >= 0) & (tier >= 0)
    n_cells = len(BRAND_LOYALTY) * len(USAGE_TIERS)
    cell = loyalty[segmented] * len(USAGE_TIERS) + tier[segmented]
    members = np.bincount(cell, minlength=n_cells)
    spend = np.bincount(cell, weights=seg.spend_cents[rows][segmented], minlength=n_cells)
    interval = seg.interval_days[rows][segmented].astype(np.float64)
    known = np.isfinite(interval)
    interval_sum = np.bincount(cell[known], weights=interval[known], minlength=n_cells)
    interval_n = np.bincount(cell[known], minlength=n_cells)
    cells = []
    for b, brand in enumerate(BRAND_LOYALTY):
        for u, usage in enumerate(USAGE_TIERS):
            i = b * len(USAGE_TIERS) + u
            cells.append({
                "brand_loyalty": brand, "usage_tier": usage, "members": int(members[i]),
                "spend_cents": int(round(spend[i])),
                "avg_interval_days": round(float(interval_sum[i] / interval_n[i]), 1) if interval_n[i] else None,
            })
    lookback = state.params.segment_lookback_weeks
    return {
        "category": str(state.category_names[category]),
        "as_of": state.as_of.isoformat(),
        "window_start": (state.as_of - timedelta(weeks=lookback)).isoformat(),
        "window_end": (state.as_of - timedelta(days=1)).isoformat(),
        "lookback_weeks": lookback,
        "buyers": int(rows.shape[0]),
        "segmented": int(segmented.sum()),
        "unsegmented": int((~segmented).sum()),
        "min_purchase_days": state.params.segment_min_purchases,
        "cells": cells,
    }


def _category_code(state: Any, name: str) -> int:
    code = state.category_code(name)
    if code >= 0:
        return int(code)
    names = sorted({str(n) for n in state.category_names})
    by_lower = {n.lower(): n for n in names}
    close = [by_lower[n] for n in difflib.get_close_matches(name.strip().lower(), list(by_lower), n=5, cutoff=0.5)]
    hint = f"close names: {', '.join(close)}" if close else f"categories include: {', '.join(names[:8])}"
    raise InputError(f"unknown category {name!r}; {hint}")


@click.command("segments")
@cluster_options
@click.argument("category")
@click.option("--as-of", default=None, help=f"{_as_of_help}. Default: today.")
@_model_option
@click.option("--json", "as_json", is_flag=True, help="Print the matrix as JSON.")
@pass_cli
def segments(cli: CliContext, category: str, as_of: str | None, model_path: Path | None, as_json: bool) -> None:
    """Show CATEGORY's 3 x 3 segments: brand loyalty (national, store, switcher) x usage tier
    (low, medium, high), with members, spend and mean days between purchases per cell."""
    from ..model.segments import BRAND_LOYALTY, USAGE_TIERS

    fitted = _model(cli, as_of, model_path, None, default_today=True)
    matrix = segment_matrix(fitted.state, _category_code(fitted.state, category))
    if as_json:
        click.echo(json.dumps(matrix, indent=2))
        return
    table = Table(title=f"{matrix['category']}: segments as of {matrix['as_of']} "
                        f"(scans {matrix['window_start']} to {matrix['window_end']}, {matrix['lookback_weeks']} weeks)",
                  title_justify="left", header_style="bold", show_lines=True)
    table.add_column("brand loyalty \\ usage")
    for usage in USAGE_TIERS:
        table.add_column(usage, justify="right")
    table.add_column("all tiers", justify="right")
    cells = {(c["brand_loyalty"], c["usage_tier"]): c for c in matrix["cells"]}
    for brand in BRAND_LOYALTY:
        row = [cells[(brand, usage)] for usage in USAGE_TIERS]
        table.add_row(brand, *(_cell_text(c) for c in row),
                      f"{sum(c['members'] for c in row)} members\n{format_money(sum(c['spend_cents'] for c in row))}")
    table.add_row("all", *(f"{sum(cells[(b, u)]['members'] for b in BRAND_LOYALTY)} members" for u in USAGE_TIERS),
                  f"{matrix['segmented']} members")
    console = _console()
    console.print(table)
    console.print(f"  {matrix['buyers']} members bought {matrix['category']} in the window: {matrix['segmented']} "
                  f"segmented, {matrix['unsegmented']} unsegmented (fewer than {matrix['min_purchase_days']} "
                  f"purchase days); {_model_note(fitted)}")
    if matrix["buyers"] == 0:
        console.print(f"  nobody bought {matrix['category']} in those {matrix['lookback_weeks']} weeks: "
                      "do the scans reach that far? (--as-of defaults to today)")


def _cell_text(cell: dict[str, Any]) -> str:
    interval = cell["avg_interval_days"]
    every = "" if interval is None else f"\nevery {interval:.1f} days"
    return f"{cell['members']} members\n{format_money(cell['spend_cents'])}{every}"


# --- members ----------------------------------------------------------------------------------


def member_summary(state: Any) -> dict[str, Any]:
    """Members per lifecycle stage and value tier, and the stage x tier cross table."""
    from ..model.lifecycle import LIFECYCLE_STAGES, VALUE_TIERS

    m = state.metrics
    stage = m.lifecycle_stage.astype(np.int64)
    tier = m.value_tier.astype(np.int64)
    weekly = m.avg_weekly_spend_cents.astype(np.float64)
    n_stages, n_tiers = len(LIFECYCLE_STAGES), len(VALUE_TIERS)

    def group(codes: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
        count = np.bincount(codes, minlength=n)
        total = lambda values: np.bincount(codes, weights=values, minlength=n)  # noqa: E731
        return count, total(weekly), total(m.p_alive.astype(np.float64)), total(m.clv_cents.astype(np.float64))

    def rows(names: tuple[str, ...], codes: np.ndarray) -> dict[str, Any]:
        count, spend, alive, clv = group(codes, len(names))
        return {name: {"members": int(count[i]),
                       "avg_weekly_spend_cents": int(round(spend[i] / count[i])) if count[i] else None,
                       "avg_p_alive": round(float(alive[i] / count[i]), 4) if count[i] else None,
                       "avg_clv_cents": int(round(clv[i] / count[i])) if count[i] else None}
                for i, name in enumerate(names)}

    cross_count, cross_spend, _, _ = group(stage * n_tiers + tier, n_stages * n_tiers)
    cross = {s: {t: {"members": int(cross_count[i * n_tiers + j]),
                     "avg_weekly_spend_cents": int(round(cross_spend[i * n_tiers + j] / cross_count[i * n_tiers + j]))
                     if cross_count[i * n_tiers + j] else None}
                 for j, t in enumerate(VALUE_TIERS)}
             for i, s in enumerate(LIFECYCLE_STAGES)}
    n = int(stage.shape[0])
    return {
        "as_of": state.as_of.isoformat(),
        "members": n,
        "shopped": int((m.trips > 0).sum()),
        "avg_weekly_spend_cents": int(round(weekly.mean())) if n else None,
        "stages": rows(LIFECYCLE_STAGES, stage),
        "value_tiers": rows(VALUE_TIERS, tier),
        "stage_by_tier": cross,
    }


@click.command("members")
@cluster_options
@click.option("--as-of", default=None, help=f"{_as_of_help}. Default: today.")
@_model_option
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@pass_cli
def members(cli: CliContext, as_of: str | None, model_path: Path | None, as_json: bool) -> None:
    """Count members per lifecycle stage and value tier, with average weekly spend (last 8 weeks)."""
    from ..model.lifecycle import LIFECYCLE_STAGES, VALUE_TIERS

    fitted = _model(cli, as_of, model_path, None, default_today=True)
    summary = member_summary(fitted.state)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    n = summary["members"]
    console = _console()
    for title, key in (("Lifecycle stage", "stages"), ("Value tier", "value_tiers")):
        table = Table(title=f"{title} as of {summary['as_of']}" if key == "stages" else title,
                      title_justify="left", header_style="bold")
        for name, justify in ((title.lower(), "left"), ("members", "right"), ("share", "right"),
                              ("avg weekly spend", "right"), ("avg p alive", "right"), ("avg CLV", "right")):
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
        for name, row in summary[key].items():
            count = row["members"]
            table.add_row(name, str(count), f"{count / n:.1%}" if n else "-",
                          "-" if row["avg_weekly_spend_cents"] is None else format_money(row["avg_weekly_spend_cents"]),
                          "-" if row["avg_p_alive"] is None else f"{row['avg_p_alive']:.2f}",
                          "-" if row["avg_clv_cents"] is None else format_money(row["avg_clv_cents"]))
        table.add_row("all", str(n), "100.0%" if n else "-",
                      "-" if summary["avg_weekly_spend_cents"] is None else format_money(summary["avg_weekly_spend_cents"]),
                      "", "", style="bold")
        console.print(table)
    cross = Table(title="Members (avg weekly spend) by stage and tier", title_justify="left", header_style="bold")
    cross.add_column("stage \\ tier")
    for tier in VALUE_TIERS:
        cross.add_column(tier, justify="right")
    for stage in LIFECYCLE_STAGES:
        cells = summary["stage_by_tier"][stage]
        cross.add_row(stage, *(f"{c['members']} ({format_money(c['avg_weekly_spend_cents'])})" if c["members"] else "0"
                               for c in (cells[t] for t in VALUE_TIERS)))
    console.print(cross)
    console.print(f"  {summary['shopped']} of {n} members shopped before {summary['as_of']} (those who never did "
                  f"count as bronze); {_model_note(fitted)}")


commands: list[click.Command] = [predict, segments, members]
