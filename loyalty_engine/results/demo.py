"""The demo's results step: members respond to a period's lists, then the lift table.

``demo_results`` simulates the period (baskets rung up at the lanes, planted truth written
to ``out_dir``), computes and stores the period's results, and returns at most ``limit`` + 3
short lines for the demo to print: the offers with the largest hold-outs, each with the
planted uplift and the measured lift (extra units per member sent the offer) with its 95 %
interval, and the inverse-variance pooled figure (beside the planted uplift pooled with
the same weights).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import Engine

from ..synthetic.response import simulate_period
from .lift import lift_from_inputs, pooled_lift
from .inputs import load_lift_inputs
from .store import compute_period


@dataclass(frozen=True)
class DemoResults:
    lines: list[str]
    truth_path: Path | None


def _interval(low: float, high: float) -> str:
    return f"[{low:+.2f}, {high:+.2f}]" if low == low and high == high else "[too few held out]"


def demo_results(engine: Engine, period_start: date, out_dir: Path, *, seed: int = 0, limit: int = 6) -> DemoResults:
    """Simulate the period, store its results, and summarise the lift in a few lines."""
    sim = simulate_period(engine, period_start, seed=seed, out_dir=out_dir)
    summary = compute_period(engine, period_start)
    with engine.connect() as conn:
        rows = [r for r in lift_from_inputs(load_lift_inputs(conn, period_start, period_start))
                if r.outcome == "units"]
    rows.sort(key=lambda r: (-min(r.n_treated, r.n_control), r.offer_slug))
    lines = [f"{sim.baskets} members shopped the period; {summary['redemptions']} redemptions, "
             f"discount ${summary['discount_cents'] / 100:,.2f} (funded ${summary['funded_cents'] / 100:,.2f})",
             f"{'offer':<34} {'sent':>5} {'held':>5}  {'planted':>7}  measured extra units/member [95% CI]"]
    planted = {t["offer_id"]: t["planted_units_per_member"] for t in sim.truth if t["cell"] == "all"}
    for r in rows[:limit]:
        lines.append(f"{r.offer_slug[:34]:<34} {r.n_treated:>5} {r.n_control:>5}  {planted.get(r.offer_id, 0):+7.2f}  "
                     f"{r.cuped_lift:+.2f} {_interval(r.cuped_ci_low, r.cuped_ci_high)}")
    pooled = pooled_lift(rows, key=lambda r: "all offers")
    if pooled:
        p = pooled[0]
        # the planted figure the pooled estimate aims at: the same inverse-variance weights
        weights = [(1 / r.cuped_se ** 2, planted.get(r.offer_id, 0.0)) for r in rows
                   if r.cuped_se == r.cuped_se and r.cuped_se > 0 and r.cuped_lift == r.cuped_lift]
        mean_planted = sum(w * t for w, t in weights) / max(sum(w for w, _ in weights), 1e-12)
        lines.append(f"{'all offers (pooled)':<34} {'':>5} {'':>5}  {mean_planted:+7.2f}  {p.estimate:+.2f} "
                     f"{_interval(p.ci_low, p.ci_high)}")
    return DemoResults(lines, sim.truth_path)


__all__ = ["DemoResults", "demo_results"]
