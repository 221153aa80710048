"""``loyalty-engine lists``: build, show, export (issue 4) and render (issue 5, cli/render.py)."""
from __future__ import annotations

import json
import sys
from collections import defaultdict
from datetime import date
from pathlib import Path

import click
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..db import session_scope
from ..money import format_money
from .context import CliContext, InputError, pass_cli


def _console() -> Console:
    """Rich console; wide enough for tables when output is a pipe or a file."""
    return Console() if sys.stdout.isatty() else Console(width=160)


def _date(_ctx: click.Context, _param: click.Parameter, value: object) -> date | None:
    return value.date() if value else None  # type: ignore[attr-defined]


DATE = click.DateTime(formats=["%Y-%m-%d"])


@click.group("lists")
def lists_group() -> None:
    """Personal shopping lists: build, show, export, render."""


@lists_group.command("build")
@click.option("--period-start", type=DATE, callback=_date, required=True, help="First day of the list period.")
@click.option("--cohort", type=click.Choice(["A", "B"], case_sensitive=False), default=None,
              help="Cohort to build (default: the cohort whose turn the period start is).")
@click.option("--as-of", type=DATE, callback=_date, default=None,
              help="Data cut-off (default: the period start); replays a past build.")
@click.option("--rebuild", is_flag=True, help="Replace the period's lists if they were built already.")
@click.option("--model", "model_path", type=click.Path(path_type=Path), default=None,
              help="Use this saved model state (.npz, or the nightly job's model-DATE folder) "
                   "instead of fitting one as of --as-of.")
@click.option("--json", "as_json", is_flag=True, help="Print the build's counts as JSON.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Worker processes for the member shards (default: LOYALTY_WORKERS, else one per core; "
                   "in-process for small chains).")
@click.option("--scheduler", default=None, help="Dask scheduler address, e.g. tcp://host:8786 "
              "(default: LOYALTY_DASK_SCHEDULER, else a local cluster).")
@pass_cli
def build(cli: CliContext, period_start: date, cohort: str | None, as_of: date | None, rebuild: bool,
          model_path: Path | None, as_json: bool, workers: int | None, scheduler: str | None) -> None:
    """Build one cohort's lists for the period starting --period-start (idempotent)."""
    from ..distributed.build import ShardedBuild
    from ..distributed.cluster import ClusterSettings
    from ..shopping_lists.build import BuildError, build_lists
    from ..shopping_lists.model_source import ModelUnavailable, model_provider
    from ..shopping_lists.settings import ListSettings

    settings = ListSettings.from_config(cli.config)
    try:
        cluster = ClusterSettings.from_config(cli.config).override(workers, scheduler)
        with ShardedBuild(cluster) as sharded, session_scope(cli.engine) as session:
            result = build_lists(session, period_start, model_provider(cli.engine, cli.config, model_path),
                                 settings, cohort=cohort, as_of=as_of, rebuild=rebuild,
                                 select=sharded.select, write=sharded.write)
    except (BuildError, ModelUnavailable) as exc:
        raise InputError(str(exc)) from None
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2, default=str))
        return
    c = result.counts
    if not result.created:
        click.echo(f"lists for {result.period_start} cohort {result.cohort} were already built (build "
                   f"{result.build_id}: {c.get('lists', 0)} lists); nothing changed (use --rebuild to replace them)")
        return
    click.echo(
        f"build {result.build_id}: period {result.period_start}..{result.period_end} cohort {result.cohort}, "
        f"as of {result.as_of}\n"
        f"  members {c['members']}, in cohort {c['in_cohort']}, eligible {c['eligible_regular']} "
        f"(+{c['eligible_winback']} win-back), held out {c['held_out']}\n"
        f"  {c['lists']} lists, {c['lines']} offer lines, {c['content_lines']} content lines, "
        f"{c['offer_holdouts']} offer hold-outs, {c['members_without_lines']} members without a matching offer\n"
        f"  face value {format_money(c['total_face_cents'])}, expected funded cost "
        f"{format_money(c['expected_funded_cents'])}; {c['offers']} offers, "
        f"{len(c['budget_limited_offers'])} limited by budget\n"
        + "".join(f"  {line}\n" for line in face_target_lines(c.get("face_targets", {})))
        + f"  timings {c['timings']}"
    )


def face_target_lines(report: dict[str, dict]) -> list[str]:  # type: ignore[type-arg]
    """One line per value tier with a target: how often it was reached and why not."""
    lines = []
    for tier, r in report.items():
        members = r["members"]
        share = r["reached"] / members if members else 0.0
        short = ", ".join(f"{n} {reason}" for reason, n in sorted(r["short"].items(), key=lambda kv: -kv[1]))
        lines.append(
            f"{tier}: target {format_money(r['target_cents'])} reached by {r['reached']} of {members} members "
            f"({share:.0%}), mean {format_money(r['mean_face_cents'])}" + (f"; short: {short}" if short else "")
        )
    return lines


@lists_group.command("audit")
@click.option("--period-start", type=DATE, callback=_date, default=None, help="Only lists of this period.")
@click.option("--reach", default="30.00", show_default=True, help="Face value to count lists reaching, per value tier.")
@pass_cli
def audit(cli: CliContext, period_start: date | None, reach: str) -> None:
    """Check built lists: store-brand trials beside national coupons of their category, and
    face value per value tier."""
    from ..model.lifecycle import VALUE_TIERS
    from ..money import to_cents
    from ..shopping_lists.audit import face_by_value_tier, trial_conflicts

    try:
        reach_cents = to_cents(reach)
    except (ValueError, ArithmeticError):
        raise InputError(f"--reach must be an amount like 30.00, got {reach!r}") from None
    with session_scope(cli.engine) as session:
        conflicts = trial_conflicts(session, period_start)
        tiers = face_by_value_tier(session, reach_cents, period_start)
    click.echo(f"lists with a store-brand trial: {conflicts.lists_with_trial}; of them with a national-brand "
               f"offer of the same category: {conflicts.lists_with_conflict}")
    for tier, r in tiers.items():
        name = VALUE_TIERS[tier] if 0 <= tier < len(VALUE_TIERS) else str(tier)
        click.echo(f"{name}: {r['lists']} lists, mean face value {format_money(r['mean_face_cents'])}, "
                   f"{r['reached']} reach {format_money(reach_cents)}")


@lists_group.command("show")
@click.argument("list_number")
@click.option("--audit", is_flag=True, help="Also show why each line was chosen (probability, cell, value).")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@pass_cli
def show(cli: CliContext, list_number: str, audit: bool, as_json: bool) -> None:
    """Show one member's list in the terminal."""
    from ..shopping_lists.export import ListNotFound, find_list

    with session_scope(cli.engine) as session:
        try:
            view = find_list(session, list_number)
        except ListNotFound as exc:
            raise InputError(str(exc)) from None
        if as_json:
            lst = view.shopping_list
            click.echo(json.dumps({
                "list_number": lst.list_number, "member_id": view.member.member_id,
                "member_name": view.member.display_name, "store_id": lst.store_id,
                "period_start": lst.period_start.isoformat(), "period_end": lst.period_end.isoformat(),
                "status": lst.status, "kind": lst.kind, "total_face_cents": lst.total_face_cents,
                "lines": [{"line_no": l.line_no, "offer_id": l.offer_id, "description": l.description,
                           "benefit_text": l.benefit_text, "benefit_kind": l.benefit_kind,
                           "benefit_value": l.benefit_value, "min_quantity": l.min_quantity,
                           "redemption_limit": l.redemption_limit, "valid_to": l.valid_to.isoformat(),
                           "department": l.department, "funder": view.funders.get(l.offer_id, ""),
                           "redeemed_count": l.redeemed_count, "reason": l.reason} for l in view.lines],
                "content": [{"kind": c.kind, "title": c.title, "body": c.body} for c in view.content],
            }, indent=2))
            return
        _console().print(render_list(view, cli.config.chain_name, audit))


def render_list(view, chain_name: str, audit: bool = False) -> Group:  # type: ignore[no-untyped-def]
    """A rich renderable of one list: header, lines by department, content, total."""
    lst = view.shopping_list
    member = view.member
    store = view.store
    address = ", ".join(p for p in (member.address_line, member.city, member.region, member.postal_code) if p)
    header = Text()
    header.append(f"{chain_name}\n", style="bold green")
    header.append("Your personal shopping list", style="bold")
    header.append(f"   No. {lst.list_number}\n", style="bold cyan")
    header.append(f"{member.display_name}  (member {member.member_id})\n")
    if address:
        header.append(f"{address}\n")
    header.append(f"Valid {lst.period_start:%a %b %d} to {lst.period_end:%a %b %d, %Y}")
    if store is not None:
        header.append(f"  at {store.name or store.id}")
    if lst.kind == "winback":
        header.append("\nWelcome back! These offers are just for you.", style="italic")
    if lst.status != "active":
        header.append(f"\n[{lst.status.upper()}]", style="bold red")

    table = Table(show_header=True, header_style="bold", expand=True)
    table.add_column("#", justify="right", width=3)
    table.add_column("Offer", ratio=3)
    table.add_column("You save", ratio=2)
    table.add_column("Limit", justify="right")
    table.add_column("Expires")
    table.add_column("Funded by", ratio=1)
    if audit:
        table.add_column("p", justify="right")
        table.add_column("cell")
        table.add_column("value", justify="right")
    by_dept: dict[str, list] = defaultdict(list)  # type: ignore[type-arg]
    for line in view.lines:
        by_dept[line.department or "Other"].append(line)
    for dept in sorted(by_dept):
        table.add_row("", Text(dept.upper(), style="bold magenta"), "", "", "", "", *([""] * 3 if audit else []))
        for line in by_dept[dept]:
            redeemed = " (used)" if line.redeemed_count >= line.redemption_limit else ""
            row = [str(line.line_no), line.description + redeemed, line.benefit_text, str(line.redemption_limit),
                   f"{line.valid_to:%b %d}", view.funders.get(line.offer_id, "")]
            if audit:
                cell = line.reason.get("cell", "") if isinstance(line.reason, dict) else ""
                row += [f"{line.probability:.2f}", cell, format_money(line.expected_value_cents)]
            table.add_row(*row)
    parts: list = [Panel(header, border_style="green"), table]  # type: ignore[type-arg]
    for item in view.content:
        label = {"recipe": "Recipe", "tip": "Tip", "perk": "Member perk"}.get(item.kind, item.kind)
        parts.append(Panel(Text(item.body), title=f"{label}: {item.title}", title_align="left", border_style="blue"))
    parts.append(Text(f"{len(view.lines)} offers, save up to {format_money(lst.total_face_cents)} "
                      "at regular prices. Scan this list or your card at checkout.", style="bold"))
    return Group(*parts)


@lists_group.command("export")
@click.option("--period-start", type=DATE, callback=_date, required=True, help="First day of the list period.")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json", show_default=True)
@click.option("--cohort", type=click.Choice(["A", "B"], case_sensitive=False), default=None)
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Write here instead of stdout.")
@pass_cli
def export(cli: CliContext, period_start: date, fmt: str, cohort: str | None, out: Path | None) -> None:
    """Export a period's lists: member, list number, lines (offer, skus in scope, benefit, probability)."""
    from ..shopping_lists.export import iter_period_lists, write_export

    with session_scope(cli.engine) as session:
        lists = iter_period_lists(session, period_start, cohort.upper() if cohort else None)
        if out is None:
            count = write_export(lists, sys.stdout, fmt)
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            with out.open("w", encoding="utf-8", newline="") as handle:
                count = write_export(lists, handle, fmt)
            click.echo(f"{count} lists written to {out}", err=True)
    if count == 0:
        click.echo(f"no lists for the period starting {period_start}", err=True)


commands: list[click.Command] = [lists_group]
