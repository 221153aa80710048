"""Lift with its 95 % interval, drawn on the server as SVG (a forest plot): one row per offer,
cell or pooled group, a dot at the estimate, a line across the interval, and the zero line.

Same rules as :mod:`.charts`: presentation attributes only, no script, no inline style.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from markupsafe import Markup, escape

from .charts import ACCENT, BAR, GRIDLINE, INK, MUTED, _svg, _text


@dataclass(frozen=True)
class LiftPoint:
    label: str
    estimate: float
    low: float
    high: float

    @property
    def significant(self) -> bool:
        return self.low > 0 or self.high < 0


def _span(points: Sequence[LiftPoint]) -> tuple[float, float]:
    """The axis range: every interval and zero, with a little room."""
    lo = min([0.0, *(p.low for p in points)])
    hi = max([0.0, *(p.high for p in points)])
    pad = (hi - lo) * 0.05 or 1.0
    return lo - pad, hi + pad


def lift_chart(points: Sequence[LiftPoint], label: str, unit: str = "", width: int = 640) -> Markup:
    """Estimates and intervals on one axis; significant ones (interval clear of zero) in the accent colour."""
    left, right, row_h, top = 200, 150, 22, 24
    shown = [p for p in points if p.low == p.low and p.high == p.high]  # NaN intervals are left out
    height = top + max(len(shown), 1) * row_h + 12
    plot_w = width - left - right
    body: list[str] = []
    if not shown:
        body.append(_text(width / 2, top + 10, "no lift measured (no hold-out members yet)", 12, "middle", MUTED))
        return _svg(width, height, label, body)
    lo, hi = _span(shown)

    def x(value: float) -> float:
        return left + (value - lo) / (hi - lo) * plot_w

    zero = x(0.0)
    body.append(f'<line x1="{zero:.1f}" y1="{top - 6}" x2="{zero:.1f}" y2="{height - 8}" stroke="{MUTED}" '
                f'stroke-dasharray="3 3"/>')
    body.append(_text(zero, top - 10, "0", 10, "middle", MUTED))
    body.append(_text(left, top - 10, f"{lo:,.2f}", 10, "start", MUTED))
    body.append(_text(left + plot_w, top - 10, f"{hi:,.2f} {unit}".rstrip(), 10, "end", MUTED))
    for i, p in enumerate(shown):
        y = top + i * row_h + row_h / 2
        colour = ACCENT if p.significant else BAR
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="{GRIDLINE}"/>')
        body.append(_text(left - 8, y + 4, p.label[:30], 11, "end"))
        body.append(f'<line x1="{x(p.low):.1f}" y1="{y:.1f}" x2="{x(p.high):.1f}" y2="{y:.1f}" stroke="{colour}" '
                    f'stroke-width="2"/>')
        body.append(f'<circle cx="{x(p.estimate):.1f}" cy="{y:.1f}" r="4" fill="{colour}">'
                    f'<title>{escape(p.label)}: {p.estimate:,.3f} ({p.low:,.3f} to {p.high:,.3f})</title></circle>')
        body.append(_text(left + plot_w + 6, y + 4, f"{p.estimate:+,.2f} [{p.low:,.2f}, {p.high:,.2f}]", 10,
                          "start", INK if p.significant else MUTED))
    return _svg(width, height, label, body)


def lift_points(rows: Sequence[dict[str, object]], label_key: str, prefix: str = "units_cuped_") -> list[LiftPoint]:
    """Chart points from stored result rows (``prefix`` + lift / ci_low / ci_high); rows without a lift are skipped."""
    out = []
    for r in rows:
        est, low, high = r.get(prefix + "lift"), r.get(prefix + "ci_low"), r.get(prefix + "ci_high")
        if est is None or low is None or high is None:
            continue
        out.append(LiftPoint(str(r.get(label_key) or ""), float(est), float(low), float(high)))  # type: ignore[arg-type]
    return out


__all__ = ["LiftPoint", "lift_chart", "lift_points"]
