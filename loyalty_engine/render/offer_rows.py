"""How one offer row of a printed list is laid out: the styles, wrapping, and positions.

Every line of text of a row is placed here (relative to the row's top-left corner), and the
row's height is computed from those same positions (each line's baseline and descender, the
coupon symbol and its caption) plus a clearance, so the rule drawn under a row never crosses
its last line and a department heading never touches the row above. The renderer
(:mod:`loyalty_engine.render.pdf`) only draws what this module placed.

What the member must read in full is never cut: the offer's terms, expiry and funder wrap
between their parts; the benefit shrinks, then wraps. Only the product description shortens
with "…" (two lines, one in the last-resort tight style).
"""
from __future__ import annotations

from dataclasses import dataclass

from . import fonts
from .barcodes import coupon_barcode_size
from .document import OfferLine

COUPON_MODULE = 0.75  # pt: 0.265 mm, the GS1 minimum X-dimension for DataBar at retail POS


@dataclass(frozen=True)
class Style:
    """How offers are laid out; tried from the most readable to the densest."""

    name: str
    columns: int
    benefit_beside: bool  # benefit in its own column to the left (wide rows)
    barcode_max: float  # widest coupon symbol, points
    pad: float
    dept_header: float
    caption_below: bool  # coupon caption under the symbol, else as a text line
    benefit_lines: int  # the benefit wraps to this many lines at its smallest size before it is cut
    description_lines: int
    intro: bool  # the how-to line under the greeting
    content_lines: int  # body lines of a content box


ROWS = Style("rows", 1, True, 300.0, 6.0, 19.0, True, 3, 2, True, 6)
TWO_COLUMNS = Style("two-columns", 2, False, 150.0, 6.0, 19.0, True, 3, 2, True, 6)
COMPACT = Style("compact", 2, False, 150.0, 3.0, 15.0, False, 2, 2, False, 4)
# The last resort, on two pages only: the product description shortens to one line; what the
# offer gives, asks and when it ends are never cut.
TIGHT = Style("tight", 2, False, 150.0, 3.0, 15.0, False, 2, 1, False, 4)
STYLES = (ROWS, TWO_COLUMNS, COMPACT, TIGHT)
TWO_PAGES_ONLY = (TIGHT,)
COLUMN_GAP = 14.0
BENEFIT_COL = 104.0
ASCENT, DESCENT = 0.76, 0.24  # DejaVu Sans, share of the font size above / below the baseline
RULE_CLEARANCE = 2.0  # pt between the lowest descender or bar of a row and the rule under it
DEPT_RULE_DROP = 2.6  # the department rule sits this far above the heading's baseline


@dataclass(frozen=True)
class Run:
    """One line of text in an offer row, placed relative to the row's top-left corner."""

    dx: float
    baseline: float
    text: str
    font: str
    size: float
    color: str  # "accent" | "ink" | "gray": resolved against the chain's colours when drawn


@dataclass
class OfferRow:
    """One offer laid out for a given column width: its text lines and coupon symbol, placed.

    ``height`` is computed from the same positions the drawing uses (the last line's
    descender, the symbol and its caption), so the rule under the row never touches them.
    """

    line: OfferLine
    height: float
    runs: tuple[Run, ...]
    coupon: tuple[str, int, int, int] | None  # element string, max width, width, height (modules)
    caption: Run | None  # under the symbol (its x is the symbol's), or among the text runs



def offer_row(line: OfferLine, width: float, style: Style) -> OfferRow:
    """One offer laid out for a column ``width`` in ``style``: its lines and symbol, placed."""
    coupon = None
    barcode_w = barcode_h = 0.0
    caption_text = ""
    if line.coupon is not None:
        text = line.coupon.element_string()
        max_modules = int(style.barcode_max / COUPON_MODULE)
        modules_w, modules_h = coupon_barcode_size(text, max_modules)
        coupon = (text, max_modules, modules_w, modules_h)
        barcode_w = modules_w * COUPON_MODULE
        barcode_h = modules_h * COUPON_MODULE
        caption_text = f"MFR COUPON {line.coupon.company_prefix}-{line.coupon.offer_code}"
    pad = style.pad
    text_w = width - 2 * pad - (barcode_w + 10.0 if coupon else 0.0)
    if style.benefit_beside:
        benefit_w = BENEFIT_COL - 8.0
        desc_w = text_w - BENEFIT_COL
    else:
        benefit_w = desc_w = text_w
    benefit, benefit_size = _benefit_lines(line.benefit_text, benefit_w, style.benefit_lines)
    runs: list[Run] = []
    y = pad + ASCENT * benefit_size + 1.0
    for text in benefit:
        runs.append(Run(pad, y, text, fonts.COND_BOLD, benefit_size, "accent"))
        y += benefit_size + 1.5
    if style.benefit_beside:
        dx, y = pad + BENEFIT_COL, pad + 8.5
    else:
        dx, y = pad, runs[-1].baseline + DESCENT * benefit_size + 2.5 + ASCENT * 9.0 if runs else pad + 8.5
    for text in fonts.wrap(line.description, fonts.COND_BOLD, 9.0, desc_w, style.description_lines):
        runs.append(Run(dx, y, text, fonts.COND_BOLD, 9.0, "ink"))
        y += 10.8
    y += 0.5
    # What the offer asks and when it ends is never cut: it wraps between its parts instead.
    for text in _meta_lines(line, desc_w):
        runs.append(Run(dx, y, text, fonts.COND, 7.2, "gray"))
        y += 8.8
    caption = None
    text_bottom = max(r.baseline + DESCENT * r.size for r in runs)
    bottom = text_bottom
    if coupon is not None:
        if style.caption_below:
            caption = Run(0.0, pad + barcode_h + 7.0, fonts.ellipsize(caption_text, fonts.COND, 6.0, barcode_w),
                           fonts.COND, 6.0, "gray")
        else:
            caption = Run(dx, y - 0.5, fonts.ellipsize(caption_text, fonts.COND, 6.0, desc_w), fonts.COND, 6.0, "gray")
            text_bottom = caption.baseline + DESCENT * 6.0
        bottom = max(text_bottom, pad + barcode_h, caption.baseline + DESCENT * 6.0)
    height = bottom + max(pad, RULE_CLEARANCE)
    return OfferRow(line, height, tuple(runs), coupon, caption)


def shortest_total(style: Style, rows_total: float, lines: int, departments: int) -> float:
    """A lower bound of ``style``'s total row height, from the full-width (ROWS) total.

    Narrower columns wrap more and stack taller symbols, so a row in another style is never
    shorter than its full-width row but for what the style saves outright: its smaller
    padding, description lines it drops, and smaller department headings. The layout skips
    a style whose bound already exceeds the space, without laying its rows out.
    """
    per_line = 2 * max(0.0, ROWS.pad - style.pad) + 10.8 * max(0, ROWS.description_lines - style.description_lines)
    per_department = max(0.0, ROWS.dept_header - style.dept_header)
    return rows_total - lines * per_line - departments * per_department


def dept_baseline(top: float, style: Style) -> float:
    """The heading's baseline: its capitals clear the rule of the row above by 3 pt."""
    return top + max(style.dept_header - 7.0, 3.0 + ASCENT * 7.8)


def _benefit_lines(text: str, width: float, max_lines: int) -> tuple[list[str], float]:
    """The benefit is what the member looks for: one line at 13 pt, else smaller, else wrapped.

    At the smallest size it wraps to ``max_lines`` before anything would be cut.
    """
    for size in (13.0, 11.5, 10.0):
        if fonts.cached_width(text, fonts.COND_BOLD, size) <= width:
            return [text], size
    for size in (11.5, 10.0):
        lines = fonts.wrap(text, fonts.COND_BOLD, size, width, 2)
        if " ".join(lines).split() == text.split():
            return lines, size
    return fonts.wrap(text, fonts.COND_BOLD, 10.0, width, max_lines), 10.0


def _meta_lines(line: OfferLine, width: float) -> list[str]:
    """"Buy 2 · Limit 1 · Expires … · Offer from …", wrapped between its parts, never cut.

    A part wider than the column (a very long funder name) wraps at its words.
    """
    parts = [*line.terms_text().split(" · "), line.funder_text()]
    lines: list[str] = []
    current = ""
    for part in parts:
        joined = f"{current} · {part}" if current else part
        if fonts.cached_width(joined, fonts.COND, 7.2) <= width:
            current = joined
            continue
        if current:
            lines.append(current)
        pieces = fonts.wrap(part, fonts.COND, 7.2, width, 6)
        lines.extend(pieces[:-1])
        current = pieces[-1]
    if current:
        lines.append(current)
    return lines


__all__ = [
    "BENEFIT_COL", "COLUMN_GAP", "COMPACT", "DEPT_RULE_DROP", "OfferRow", "ROWS", "Run", "STYLES", "Style",
    "TIGHT", "TWO_COLUMNS", "TWO_PAGES_ONLY", "dept_baseline", "offer_row", "shortest_total",
]
