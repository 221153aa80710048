"""Charts drawn on the server as SVG: no script, no inline style (the console's CSP forbids both).

Colours and sizes are SVG presentation attributes (``fill``, ``font-size``), which a CSP does not
treat as inline style. Every function returns markup that is safe to put in a template.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Sequence

from markupsafe import Markup, escape

from ..model.segments import BRAND_LOYALTY, USAGE_TIERS
from ..money import format_money
from .segment_cells import SegmentGrid

INK = "#1f2933"
MUTED = "#7b8794"
BAR = "#2f6fb0"
ACCENT = "#d97706"
GRIDLINE = "#e4e7eb"


def _svg(width: int, height: int, label: str, body: list[str]) -> Markup:
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" role="img" aria-label="{escape(label)}">'
            f'<title>{escape(label)}</title>')
    return Markup(head + "".join(body) + "</svg>")


def _text(x: float, y: float, text: str, size: int = 11, anchor: str = "start", fill: str = INK,
          weight: str = "normal") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{fill}" '
            f'font-family="sans-serif" font-weight="{weight}">{escape(text)}</text>')


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 x 10^k at or above ``value`` (axis maximum)."""
    if value <= 0:
        return 1.0
    step = 1.0
    while step * 10 <= value:
        step *= 10
    while step > value:
        step /= 10
    for m in (1, 2, 5, 10):
        if m * step >= value:
            return m * step
    return 10 * step


@dataclass
class Point:
    label: str
    value: float
    tip: str = ""


def bar_chart(points: Sequence[Point], label: str, width: int = 640, height: int = 220,
              value_format: str = "{:,.0f}", every: int = 7) -> Markup:
    """Vertical bars (e.g. redemptions per day); an x label every ``every`` bars."""
    left, right, top, bottom = 48, 10, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = nice_ceiling(max((p.value for p in points), default=0))
    if value_format.endswith(".0f}"):
        top_value = max(top_value, 4.0)  # whole counts: four whole steps at least
    body = []
    for i in range(5):
        v = top_value * i / 4
        y = top + plot_h - plot_h * i / 4
        body.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRIDLINE}"/>')
        body.append(_text(left - 6, y + 4, value_format.format(v), 10, "end", MUTED))
    n = max(len(points), 1)
    slot = plot_w / n
    for i, p in enumerate(points):
        h = plot_h * (p.value / top_value) if top_value else 0
        x = left + i * slot + slot * 0.1
        body.append(f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{max(slot * 0.8, 1):.1f}" '
                    f'height="{h:.1f}" fill="{BAR}"><title>{escape(p.tip or f"{p.label}: {p.value:,.0f}")}</title></rect>')
        if i % every == 0:
            body.append(_text(left + i * slot + slot / 2, height - 10, p.label, 10, "middle", MUTED))
    if not points:
        body.append(_text(width / 2, height / 2, "no data yet", 12, "middle", MUTED))
    return _svg(width, height, label, body)


@dataclass
class BurnRow:
    label: str
    spent_cents: int
    budget_cents: int | None


def burn_chart(rows: Sequence[BurnRow], label: str, width: int = 640) -> Markup:
    """One horizontal bar per offer: funded spend against its budget (no budget: spend only)."""
    left, right, row_h = 190, 150, 22
    height = max(len(rows), 1) * row_h + 10
    plot_w = width - left - right
    body = []
    for i, r in enumerate(rows):
        y = 5 + i * row_h
        body.append(_text(left - 8, y + 14, r.label[:28], 11, "end"))
        body.append(f'<rect x="{left}" y="{y + 3}" width="{plot_w}" height="{row_h - 8}" fill="{GRIDLINE}"/>')
        if r.budget_cents:
            share = min(r.spent_cents / r.budget_cents, 1.0)
            colour = ACCENT if share >= 0.9 else BAR
            body.append(f'<rect x="{left}" y="{y + 3}" width="{plot_w * share:.1f}" height="{row_h - 8}" '
                        f'fill="{colour}"/>')
            text = f"{format_money(r.spent_cents)} of {format_money(r.budget_cents)} ({share:.0%})"
        else:
            text = f"{format_money(r.spent_cents)} (no budget)"
        body.append(_text(left + plot_w + 6, y + 14, text, 10, "start", MUTED))
    if not rows:
        body.append(_text(width / 2, 20, "no live offers", 12, "middle", MUTED))
    return _svg(width, height, label, body)


def _shade(share: float) -> str:
    """White to the bar blue by share (0..1)."""
    share = max(0.0, min(share, 1.0))
    r, g, b = (int(255 + (t - 255) * share) for t in (47, 111, 176))
    return f"#{r:02x}{g:02x}{b:02x}"


def heat_map(grid: SegmentGrid, label: str) -> Markup:
    """The 3 x 3 grid: brand loyalty (rows) x usage tier (columns), shaded by members."""
    left, top, cell_w, cell_h = 90, 28, 170, 78
    width, height = left + 3 * cell_w + 10, top + 3 * cell_h + 10
    most = max((c.members for n, c in grid.cells.items() if n != "unsegmented"), default=0)
    body = []
    for j, tier in enumerate(USAGE_TIERS):
        body.append(_text(left + j * cell_w + cell_w / 2, 18, f"{tier} usage", 12, "middle", INK, "bold"))
    for i, loyalty in enumerate(BRAND_LOYALTY):
        body.append(_text(left - 8, top + i * cell_h + cell_h / 2 + 4, loyalty, 12, "end", INK, "bold"))
        for j, tier in enumerate(USAGE_TIERS):
            c = grid.cell(loyalty, tier)
            share = c.members / most if most else 0.0
            x, y = left + j * cell_w, top + i * cell_h
            ink = "#ffffff" if share > 0.55 else INK
            body.append(f'<rect x="{x}" y="{y}" width="{cell_w - 4}" height="{cell_h - 4}" rx="4" '
                        f'fill="{_shade(share)}" stroke="{GRIDLINE}"><title>{escape(c.name)}: '
                        f'{c.members:,} members</title></rect>')
            noun = "member" if c.members == 1 else "members"
            body.append(_text(x + 10, y + 22, f"{c.members:,} {noun}", 13, "start", ink, "bold"))
            body.append(_text(x + 10, y + 40, f"{format_money(c.spend_per_member_cents)} / member", 11, "start", ink))
            interval = "—" if c.interval_days is None else f"every {c.interval_days:.0f} days"
            body.append(_text(x + 10, y + 55, interval, 11, "start", ink))
            if c.movement is not None:
                sign = "+" if c.movement > 0 else ""
                body.append(_text(x + 10, y + 69, f"{sign}{c.movement:,} since {grid.previous_as_of:%b %d}", 10,
                                  "start", ink))
    return _svg(width, height, label, body)


def short_cell(cell: str) -> str:
    """An axis label that fits under a bar: "national:medium" -> "nat med"."""
    if cell == "unsegmented":
        return "unseg."
    loyalty, _, tier = cell.partition(":")
    return f"{ {'national': 'nat', 'store': 'store', 'switcher': 'sw'}.get(loyalty, loyalty)} {tier[:3]}"


def forecast_chart(cells: Sequence[dict[str, object]], label: str, width: int = 640) -> Markup:
    """Expected redemptions per cell (bars) with the funder's expected cost as text."""
    shown = [c for c in cells if c.get("targeted") or c.get("members")]
    points = [Point(short_cell(str(c["cell"])), float(c.get("expected_redemptions") or 0),
                    f"{c['cell']}: {float(c.get('expected_redemptions') or 0):.1f} redemptions, funder "
                    f"{format_money(int(c.get('expected_funder_cost_cents') or 0))}") for c in shown]
    return bar_chart(points, label, width, 200, "{:,.1f}", every=1)


def day_points(days: Sequence[tuple[date, float]], tip_format: str = "{:,.0f}") -> list[Point]:
    return [Point(d.strftime("%b %d"), v, f"{d.isoformat()}: {tip_format.format(v)}") for d, v in days]
