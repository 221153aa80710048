"""``loyalty-engine backtest``: the purchase-cycle model rebuilt at past dates and scored against
what members then bought, beside two baselines (personal top frequency, recency-decayed).

A thin edge over ``loyalty_engine.model.backtest``; loading, fitting (in this process or on
member shards) and option checks are the model commands' own (``cli.model``).
"""
from __future__ import annotations

import functools
import json
import math
from datetime import date, timedelta
from typing import Any

import click
import numpy as np
from rich.table import Table

from .context import CliContext, InputError, pass_cli
from .model import (LEVELS, LIFECYCLE_WEEKS, MAX_HORIZON_DAYS, METHOD_LABELS, METHODS, _check_range, _cluster,
                    _console, _load_history, _number, _params, _parse_date, _pct, cluster_options)


def _score_dict(score: Any) -> dict[str, Any]:
    return {"members": int(score.members), "precision": _number(score.precision),
            "recall": _number(score.recall), "hit_rate": _number(score.hit_rate)}


def _ratio(model: float, baseline: float) -> float:
    return model / baseline if math.isfinite(model) and math.isfinite(baseline) and baseline > 0 else float("nan")


def backtest_report(result: Any, data_end: date) -> dict[str, Any]:
    """One date's backtest as plain data (what --json prints)."""
    as_of, horizon = result.as_of, result.horizon_days
    levels: dict[str, Any] = {}
    for level in LEVELS:
        scores = {method: _score_dict(result.scores[(level, method)]) for method in METHODS}
        ratio = _ratio(result.scores[(level, "model")].precision, result.scores[(level, "top_frequency")].precision)
        levels[level] = {"methods": scores, "model_vs_top_frequency": _number(ratio)}
    follow_up_end = as_of + timedelta(weeks=LIFECYCLE_WEEKS)
    lifecycle: dict[str, Any]
    if data_end + timedelta(days=1) < follow_up_end:
        # Without the full 8 weeks every member looks as if they stopped shopping.
        lifecycle = {"available": False,
                     "reason": f"needs scans through {follow_up_end - timedelta(days=1)} (data ends {data_end})"}
    else:
        lc = result.lifecycle
        lifecycle = {"available": True, "members": lc.members, "flagged": lc.flagged, "dropped": lc.dropped,
                     "precision": _number(lc.precision), "recall": _number(lc.recall)}
    return {
        "as_of": as_of.isoformat(),
        "horizon_days": horizon,
        "k": result.k,
        "window_end": (as_of + timedelta(days=horizon - 1)).isoformat(),
        "window_complete": data_end >= as_of + timedelta(days=horizon - 1),
        "data_end": data_end.isoformat(),
        "fit_seconds": round(result.fit_seconds, 3),
        "levels": levels,
        "lifecycle": lifecycle,
        "calibration": {level: [{"low": b.low, "high": b.high, "pairs": b.pairs, "predicted": _number(b.predicted),
                                 "observed": _number(b.observed)} for b in bins]
                        for level, bins in result.calibration.items()},
    }


def _mean_report(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Unweighted mean over the dates of each level/method metric (dates with no value skipped)."""
    out: dict[str, Any] = {}
    for level in LEVELS:
        methods = {}
        for method in METHODS:
            row = {}
            for metric in ("precision", "recall", "hit_rate"):
                values = [r["levels"][level]["methods"][method][metric] for r in reports]
                values = [v for v in values if v is not None]
                row[metric] = float(np.mean(values)) if values else None
            methods[method] = row
        model, base = methods["model"]["precision"], methods["top_frequency"]["precision"]
        ratio = _ratio(model, base) if model is not None and base is not None else float("nan")
        out[level] = {"methods": methods, "model_vs_top_frequency": _number(ratio)}
    return out


def _levels_table(title: str, levels: dict[str, Any], k: int) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    for name, justify in (("level", "left"), ("method", "left"), ("members", "right"), (f"precision@{k}", "right"),
                          (f"recall@{k}", "right"), ("hit rate", "right"), ("vs top frequency", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for level in LEVELS:
        entry = levels[level]
        for method in METHODS:
            m = entry["methods"][method]
            vs = ""
            if method == "model":
                ratio = entry["model_vs_top_frequency"]
                vs = "-" if ratio is None else f"{ratio:.3f}x"
            members = str(m["members"]) if "members" in m else ""
            table.add_row(level if method == "model" else "", METHOD_LABELS[method], members,
                          *(_pct(float("nan") if m[x] is None else m[x]) for x in ("precision", "recall", "hit_rate")),
                          vs, style="bold" if method == "model" else None)
    return table


@click.command("backtest")
@cluster_options
@click.option("--as-of", "as_of_values", multiple=True, required=True,
              help="Cut-off date (repeatable): fit on scans before it, score the next --horizon days.")
@click.option("--horizon", type=int, default=14, show_default=True, help="Days after the date that are the truth.")
@click.option("--top", type=int, default=15, show_default=True, help="K of precision@K and recall@K.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@pass_cli
def backtest(cli: CliContext, as_of_values: tuple[str, ...], horizon: int, top: int, as_json: bool) -> None:
    """Rebuild the model at past dates and score its top-K against what members then bought,
    next to two baselines (personal top frequency, recency-decayed frequency)."""
    from ..distributed.fit import fit_history
    from ..model.backtest import run_backtest
    from ..model.history import day_to_date

    _check_range("--horizon", horizon, 1, MAX_HORIZON_DAYS)
    _check_range("--top", top, 1, 1000)
    dates = sorted({_parse_date("--as-of", v) for v in as_of_values})
    # One load serves every date: the fit cuts at each date itself, the window and the
    # lifecycle follow-up need the weeks after the latest one.
    follow_up = max(horizon, 7 * LIFECYCLE_WEEKS)
    history = _load_history(cli, dates[-1] + timedelta(days=follow_up))
    if len(history) == 0:
        raise InputError("no member scans in the database: import scans first")
    data_start, data_end = day_to_date(int(history.day.min())), day_to_date(int(history.day.max()))
    for day in dates:
        if day <= data_start:
            raise InputError(f"no member scans before {day} to learn from (scans start {data_start})")
        if day > data_end:
            raise InputError(f"no member scans on or after {day} to score the backtest against "
                             f"(scans end {data_end}): pick an earlier --as-of")

    params = _params(cli, horizon)
    fit = functools.partial(fit_history, cluster=_cluster(cli), engine=cli.engine)
    reports = [backtest_report(run_backtest(history, day, horizon, top, params, fit=fit), data_end) for day in dates]
    if as_json:
        payload: dict[str, Any] = {"horizon_days": horizon, "k": top, "dates": reports}
        if len(reports) > 1:
            payload["mean"] = _mean_report(reports)
        click.echo(json.dumps(payload, indent=2))
        return

    console = _console()
    for report in reports:
        members = report["levels"]["sku"]["methods"]["model"]["members"]
        title = (f"Backtest as of {report['as_of']}: next {horizon} days (to {report['window_end']}), top {top}, "
                 f"{members} members scored, fit {report['fit_seconds']:.1f} s")
        console.print(_levels_table(title, report["levels"], top))
        if not report["window_complete"]:
            console.print(f"  note: scans end {report['data_end']}, before the window does: recall is understated")
        lc = report["lifecycle"]
        if lc["available"]:
            p = "-" if lc["precision"] is None else f"{lc['precision']:.1%}"
            r = "-" if lc["recall"] is None else f"{lc['recall']:.1%}"
            console.print(f"  lifecycle check ({LIFECYCLE_WEEKS} weeks after): {lc['flagged']} of {lc['members']} "
                          f"members flagged declining/lapsed, {lc['dropped']} made few or no trips; "
                          f"precision {p}, recall {r}")
        else:
            console.print(f"  lifecycle check: not available, {lc['reason']}")
        console.print()
    if len(reports) > 1:
        console.print(_levels_table(f"Mean over {len(reports)} dates", _mean_report(reports), top))


commands: list[click.Command] = [backtest]
