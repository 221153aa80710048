"""Fitting a list onto its pages, decided before anything is drawn.

One column of full-width offer rows if that fits one page, else two columns on one page,
else the same on two pages (page 2 under a compact header); the styles are tried from the
roomiest to the densest (:data:`.offer_rows.STYLES`). Non-price content boxes sit below the
offers on the last page and give way before a third page would. A list that does not fit
two pages even then raises :class:`ListLayoutError`. :mod:`.pdf` draws what is placed here.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

from . import fonts
from .document import ContentBox, ListDocument, OfferLine
from .offer_rows import COLUMN_GAP, ROWS, STYLES, TWO_PAGES_ONLY, OfferRow, Style, offer_row, shortest_total
from .paper import PaperSpec


class ListLayoutError(ValueError):
    """The list does not fit two pages even in its densest layout."""


@dataclass
class Placed:
    """A department header or an offer row, at its place on a page."""

    kind: str  # "dept" | "item"
    page: int
    x: float
    y: float  # top, from the top of the page
    width: float
    label: str = ""
    item: OfferRow | None = None


@dataclass
class ListLayout:
    """How a list is laid out: the style, the page count, every placed row and the content boxes."""

    style: Style
    pages: int
    placed: list[Placed]
    content_page: int
    content_top: float
    content_height: float
    content: tuple[ContentBox, ...]


class PageFitter:
    """Fits lists onto one paper (offer rows are cached: a print run fits many lists)."""

    _items: dict[tuple[OfferLine, float, Style], OfferRow]

    def __init__(self, paper: PaperSpec) -> None:
        self.paper = paper
        self._items = {}
        self.warnings: list[str] = []  # what was shortened to fit, for the print-run manifest

    def fit(self, doc: ListDocument) -> ListLayout:
        """The roomiest layout that fits ``doc`` on one page, else on two (content boxes left out if need be)."""
        p = self.paper
        footer_top = p.height - 56.0
        p2_top = 86.0
        rows_need = self._total_height(doc, ROWS)
        departments = len(doc.departments())
        for pages in (1, 2):
            for style in STYLES:
                if pages == 1 and style in TWO_PAGES_ONLY:
                    continue  # a longer description on two pages beats a shortened one on one
                content_h = self.content_height(doc.content, style.content_lines)
                gap = 8.0 if content_h else 0.0
                p1_top = p.folds[0] + (52.0 if style.intro else 32.0)  # below the fold and the greeting
                if pages == 1:
                    regions = [(1, p1_top, footer_top - content_h - gap)]
                else:
                    regions = [(1, p1_top, footer_top), (2, p2_top, footer_top - content_h - gap)]
                capacity = style.columns * sum(bottom - top for _, top, bottom in regions)
                if shortest_total(style, rows_need, len(doc.lines), departments) > capacity:
                    continue  # cannot fit: not worth laying the style's rows out
                if self._total_height(doc, style) > capacity:
                    continue  # the rows alone need more than the columns hold
                placed = self._flow(doc, style, regions)
                if placed is not None:
                    _, _, end = regions[-1]
                    return ListLayout(style, pages, placed, pages, end + gap, content_h, doc.content)
        if doc.content:
            # Offers come first: the non-price boxes give way before a third page would.
            layout = self.fit(replace(doc, content=()))
            self.warnings.append(f"list {doc.list_number}: content boxes left out to fit two pages")
            return layout
        raise ListLayoutError(f"list {doc.list_number} does not fit two pages ({len(doc.lines)} lines)")

    def _total_height(self, doc: ListDocument, style: Style) -> float:
        width = (self.paper.content_width - COLUMN_GAP * (style.columns - 1)) / style.columns
        return sum(
            style.dept_header + sum(self._item(line, width, style).height for line in lines)
            for _, lines in doc.departments()
        )

    def _flow(self, doc: ListDocument, style: Style, regions: Sequence[tuple[int, float, float]]) -> list[Placed] | None:
        width = (self.paper.content_width - COLUMN_GAP * (style.columns - 1)) / style.columns
        columns = [
            (page, self.paper.margin + i * (width + COLUMN_GAP), top, bottom)
            for page, top, bottom in regions
            for i in range(style.columns)
        ]
        placed: list[Placed] = []
        col = 0
        y = columns[0][2]
        for dept, lines in doc.departments():
            for i, line in enumerate(lines):
                item = self._item(line, width, style)
                need = item.height + (style.dept_header if i == 0 else 0.0)
                while y + need > columns[col][3]:
                    col += 1
                    if col >= len(columns):
                        return None
                    y = columns[col][2]
                page, x, _, _ = columns[col]
                if i == 0 or y == columns[col][2]:
                    label = dept if i == 0 else f"{dept} (continued)"
                    if i != 0:  # repeat the department at the top of a new column
                        if y + style.dept_header + item.height > columns[col][3]:
                            return None
                    placed.append(Placed("dept", page, x, y, width, label=label))
                    y += style.dept_header
                placed.append(Placed("item", page, x, y, width, item=item))
                y += item.height
        return placed

    def _item(self, line: OfferLine, width: float, style: Style) -> OfferRow:
        key = (line, width, style)
        item = self._items.get(key)
        if item is None:
            if len(self._items) > 256:  # a print run: only the current list's items matter
                self._items.clear()
            item = self._items[key] = offer_row(line, width, style)
        return item

    def content_height(self, boxes: Sequence[ContentBox], lines: int) -> float:
        """The height of the row of content boxes (the tallest box), 0 without boxes."""
        if not boxes:
            return 0.0
        width = self.box_width(len(boxes))
        return max(self.box_height(b, width, lines) for b in boxes)

    def box_width(self, n: int) -> float:
        """The width of each of ``n`` content boxes side by side."""
        return (self.paper.content_width - 10.0 * (n - 1)) / n

    def box_lines(self, box: ContentBox, width: float, lines: int) -> tuple[list[str], list[str]]:
        """A content box's title and body, wrapped to its width (the body to at most ``lines``)."""
        inner = width - 16.0
        return (
            fonts.wrap(box.title, fonts.SANS_BOLD, 8.8, inner, 2),
            fonts.wrap(box.body, fonts.SANS, 7.4, inner, lines),
        )

    def box_height(self, box: ContentBox, width: float, lines: int) -> float:
        """A content box's height: label, wrapped title and body, padding."""
        title, body = self.box_lines(box, width, lines)
        return 8.0 + 10.0 + len(title) * 10.5 + len(body) * 9.0 + 8.0
