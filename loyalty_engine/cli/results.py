"""``loyalty-engine results`` and ``loyalty-engine simulate``: program results of a list period.

    loyalty-engine simulate --period START [--seed S] [--out DIR]
        members respond to the period's lists (baskets rung up at lanes); writes the planted truth
    loyalty-engine results --period START [--by offer|cell|store|week|stage|...] [--format table|csv|json]
        [--recompute] [--pre-weeks N]
        reads the stored results (computing them first if the period was never computed)
"""
from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path
from typing import Any

import click

from ..results.store import BY_CHOICES, ResultsError, compute_period, read_results
from ..synthetic.response import SimulationError, simulate_period
from .context import CliContext, InputError, pass_cli

# what the table shows per dimension (every measure is in csv/json)
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "offer": ("key", "lines_printed", "redemptions", "redemption_rate", "discount_cents", "funded_cents",
              "units_n_treated", "units_n_control", "units_cuped_lift", "units_cuped_ci_low", "units_cuped_ci_high",
              "sales_cuped_lift", "sales_variance_reduction"),
    "offer_cell": ("key", "units_n_treated", "units_n_control", "units_cuped_lift", "units_cuped_ci_low",
                   "units_cuped_ci_high"),
    "cell": ("key", "lists_delivered", "lines_printed", "members_reached", "redemptions", "redemption_rate",
             "discount_cents", "funded_cents", "handling_fee_cents", "retailer_cost_cents"),
    "week": ("key", "redemptions", "discount_cents", "funded_cents", "handling_fee_cents", "retailer_cost_cents"),
    "calibration": ("key", "lines", "predicted", "bought"),
    "funder": ("key", "offers", "estimate", "ci_low", "ci_high"),
    "program": ("key", "n_treated", "n_control", "mean_treated", "mean_control", "lift", "ci_low", "ci_high"),
    "winback": ("key", "n_treated", "n_control", "mean_treated", "mean_control", "lift", "ci_low", "ci_high",
                "members"),
}
TABLE_COLUMNS["store"] = TABLE_COLUMNS["stage"] = TABLE_COLUMNS["cell"]
TABLE_COLUMNS["category"] = TABLE_COLUMNS["funder"]


def parse_period(value: str | None) -> date:
    if not value:
        raise InputError("--period is required (the list period's first day, YYYY-MM-DD)")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InputError(f"--period must be YYYY-MM-DD, got {value!r}") from exc


@click.command("results")
@click.option("--period", "period", default=None, help="First day of the list period, YYYY-MM-DD.")
@click.option("--by", "by", type=click.Choice(BY_CHOICES), default="offer", show_default=True)
@click.option("--format", "fmt", type=click.Choice(("table", "csv", "json")), default="table", show_default=True)
@click.option("--recompute", is_flag=True, help="Measure the period again (replaces the stored results).")
@click.option("--pre-weeks", default=8, show_default=True, type=click.IntRange(1, 52),
              help="Weeks before the period whose scope spend is the CUPED covariate.")
@pass_cli
def results(cli: CliContext, period: str | None, by: str, fmt: str, recompute: bool, pre_weeks: int) -> None:
    """Results of one list period: delivery, redemptions, money, accuracy and lift against the hold-out."""
    start = parse_period(period)
    with cli.engine.connect() as conn:
        summary, rows = read_results(conn, start, by)
    if summary is None or recompute:
        try:
            compute_period(cli.engine, start, pre_weeks=pre_weeks, min_group_size=cli.config.min_group_size,
                           trial_weeks=cli.config.trial_weeks)
        except ResultsError as exc:
            raise InputError(str(exc)) from exc
        with cli.engine.connect() as conn:
            summary, rows = read_results(conn, start, by)
    click.echo(render(summary or {}, rows, by, fmt), nl=False)


def render(summary: dict[str, Any], rows: list[dict[str, Any]], by: str, fmt: str) -> str:
    if fmt == "json":
        return json.dumps({"summary": summary, "by": by, "rows": rows}, indent=2, sort_keys=True) + "\n"
    if fmt == "csv":
        columns = sorted({k for r in rows for k in r}, key=lambda k: (k != "key", k))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue()
    return table(summary, rows, TABLE_COLUMNS.get(by, ("key",)))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def table(summary: dict[str, Any], rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    head = (f"period {summary.get('period_start', '?')}..{summary.get('period_end', '?')}: {summary.get('lists_delivered', 0)} lists, "
            f"{summary.get('lines_printed', 0)} lines, {summary.get('redemptions', 0)} redemptions "
            f"(rate {_cell(summary.get('redemption_rate'))}), hit rate {_cell(summary.get('hit_rate'))}\n")
    grid = [list(columns)] + [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in grid) for i in range(len(columns))]
    lines = ["  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(row, widths)))
             for row in grid]
    return head + "\n".join(lines) + "\n"


@click.command("simulate")
@click.option("--period", "period", default=None, help="First day of the list period, YYYY-MM-DD.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--pre-weeks", default=8, show_default=True, type=click.IntRange(1, 52))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the planted truth goes (default: <instance>/simulated).")
@pass_cli
def simulate(cli: CliContext, period: str | None, seed: int, pre_weeks: int, out_dir: Path | None) -> None:
    """Members respond to the period's lists: baskets at the lanes, planted uplift written as truth."""
    start = parse_period(period)
    out = out_dir or Path(cli.config.instance_path) / "simulated"
    try:
        result = simulate_period(cli.engine, start, seed=seed, pre_weeks=pre_weeks, out_dir=out)
    except SimulationError as exc:
        raise InputError(str(exc)) from exc
    click.echo(f"period {result.period_start}..{result.period_end}: {result.pairs} targeted (member, offer) pairs, "
               f"{result.baskets - result.already_recorded} baskets rung up, {result.redemptions} redemptions"
               + (f" ({result.already_recorded} already recorded by an earlier run)" if result.already_recorded else ""))
    click.echo(f"planted truth: {result.truth_path}")


def _demo_step(run) -> str:  # type: ignore[no-untyped-def]
    """The demo's step: members shop the period, then the lift table (a few lines)."""
    from ..results.demo import demo_results

    shown = demo_results(run.engine, run.period_start, run.out / "results", seed=run.seed)
    return "\n".join([f"planted truth: {shown.truth_path}", *shown.lines])


def _register_demo_step() -> None:
    from .demo_story import Step, add_step

    add_step(Step("Members respond; lift against the hold-out", _demo_step),
             after="Ring up that member's basket at a lane")


_register_demo_step()

commands = [results, simulate]
