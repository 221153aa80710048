"""The printed shopping list: reportlab, US Letter or A4, one page where it fits, two at most.

Page 1, top third (the panel that shows through a window envelope after a tri-fold):
logo area, chain and program name, the list barcode (EAN-13, scan at checkout), the return
line and the member's mailing address at the window position, and a panel with the valid
dates, the member's store, the member number and the savings on the list. Below the fold:
the offers grouped by department (benefit, product description, limit, expiry, who funds
it, and for manufacturer-funded lines their own GS1 DataBar coupon), non-price content
boxes, and a footer with the terms and the program's contact.

Layout is decided before drawing (:mod:`.list_layout`), on the paper's envelope geometry
(:mod:`.paper`); this module draws what was placed.

The same renderer draws into a single-list PDF or, one list after another, into a print
run. Static parts of the page are drawn once per PDF as form XObjects and reused on every
page; barcodes are cached by content (:mod:`loyalty_engine.render.barcodes`).
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Callable, Iterable, Sequence

from reportlab import rl_config
from reportlab.lib.colors import Color, HexColor
from reportlab.pdfgen.canvas import Canvas

from . import fonts
from .barcodes import coupon_barcode, ean13_text_groups, list_barcode
from .document import ContentBox, ListDocument
from .list_layout import ListLayout, PageFitter, Placed
from .offer_rows import COUPON_MODULE, DEPT_RULE_DROP, OfferRow, Style, dept_baseline
from .paper import LETTER, PaperSpec
from .settings import RenderSettings

RENDERER_VERSION = "3"  # part of the idempotency fingerprint: bump when the layout or the bytes change

# Binary (Flate only) streams: ASCII85 on top makes every stream a quarter larger, costs time
# to encode, and the print-run join copies streams as they are (only this package uses reportlab).
rl_config.useA85 = 0

LIST_MODULE = 0.9  # pt: EAN-13 at 96 % magnification
INK = HexColor("#1A1A1A")
GRAY = HexColor("#5F6368")
LIGHT = HexColor("#C9CDD2")
WHITE = HexColor("#FFFFFF")


def _snap(value: float) -> float:
    """Bars start on the 600 dpi device grid (1/600 in = 0.12 pt), so printers don't round them unevenly."""
    return round(value / 0.12) * 0.12


@lru_cache(maxsize=64)
def _color(hex_color: str) -> Color:
    return HexColor(hex_color)


@lru_cache(maxsize=64)
def _tint(hex_color: str, share: float) -> Color:
    c = HexColor(hex_color)
    return Color(1 - (1 - c.red) * share, 1 - (1 - c.green) * share, 1 - (1 - c.blue) * share)


@dataclass(frozen=True)
class Drawn:
    """Where something was drawn (points, y from the top of the page): for tests and tools."""

    page: int  # within the list, 1-based
    kind: str  # "text" | "list-barcode" | "coupon-barcode"
    x0: float
    top: float
    x1: float
    bottom: float
    text: str


class ListRenderer:
    """Draws lists into one reportlab canvas (a single-list PDF or a whole print run)."""

    def __init__(self, canvas: Canvas, paper: PaperSpec, settings: RenderSettings, record: bool = False) -> None:
        fonts.register_fonts()
        self.c = canvas
        self.drawn: list[Drawn] | None = [] if record else None  # per list, when recording
        self._page = 0
        self.paper = paper
        self.settings = settings
        self._forms: set[str] = set()
        self.brand = _color(settings.brand_color)
        self.accent = _color(settings.accent_color)
        self.panel = _tint(settings.brand_color, 0.08)
        self.fitter = PageFitter(paper)
        self.warnings = self.fitter.warnings  # what was shortened to fit, for the print-run manifest

    # ------------------------------------------------------------------ public

    def draw(self, doc: ListDocument) -> int:
        """Draw ``doc`` on one or two new pages; returns the page count."""
        layout = self.fitter.fit(doc)
        if self.drawn is not None:
            self.drawn.clear()
        for page in range(1, layout.pages + 1):
            self._draw_page(doc, layout, page)
            self.c.showPage()
        return layout.pages

    # ------------------------------------------------------------------ drawing

    def _y(self, top: float) -> float:
        return self.paper.height - top

    def _record(self, kind: str, x0: float, top: float, x1: float, bottom: float, text: str) -> None:
        if self.drawn is not None and self._page:
            self.drawn.append(Drawn(self._page, kind, x0, top, x1, bottom, text))

    def _record_text(self, x0: float, baseline: float, text: str, font: str, size: float) -> None:
        if self.drawn is not None and self._page:
            width = fonts.string_width(text, font, size)
            self.drawn.append(Drawn(self._page, "text", x0, baseline - 0.76 * size, x0 + width, baseline + 0.24 * size, text))

    def _text(self, x: float, top_baseline: float, text: str, font: str, size: float, color: Color = INK) -> None:
        self._record_text(x, top_baseline, text, font, size)
        c = self.c
        c.setFillColor(color)
        c.setFont(font, size)
        c.drawString(x, self._y(top_baseline), text)

    def _text_right(self, x: float, top_baseline: float, text: str, font: str, size: float, color: Color = INK) -> None:
        if self.drawn is not None:
            self._record_text(x - fonts.string_width(text, font, size), top_baseline, text, font, size)
        c = self.c
        c.setFillColor(color)
        c.setFont(font, size)
        c.drawRightString(x, self._y(top_baseline), text)

    def _draw_page(self, doc: ListDocument, layout: ListLayout, page: int) -> None:
        self._page = 0  # static forms are not recorded
        self._use_form("page1" if page == 1 else "page2", self._static_page1 if page == 1 else self._static_page2)
        self._page = page
        if page == 1:
            self._draw_top_panel(doc)
            self._draw_greeting(doc, layout.style.intro)
        else:
            self._draw_continuation_header(doc)
        for placed in layout.placed:
            if placed.page != page:
                continue
            if placed.kind == "dept":
                self._draw_dept(placed, layout.style)
            elif placed.item is not None:
                self._draw_item(placed, placed.item, layout.style)
        if page == layout.content_page and layout.content:
            self._draw_content(layout.content, layout.content_top, layout.style.content_lines)
        self._draw_footer_dynamic(doc, page, layout.pages)

    # static parts, drawn once per PDF and reused as form XObjects

    def _use_form(self, name: str, draw: Callable[[], None]) -> None:
        key = f"le_{self.paper.name}_{name}"
        if key not in self._forms:
            self.c.beginForm(key)
            draw()
            self.c.endForm()
            self._forms.add(key)
        self.c.doForm(key)

    def _static_page1(self) -> None:
        p, s, c = self.paper, self.settings, self.c
        self._draw_logo(p.margin, 34.0, 46.0)
        name_x = p.margin + 56.0 if s.logo_path is None else p.margin + 160.0
        self._text(name_x, 52.0, fonts.ellipsize(s.chain_name, fonts.SANS_BOLD, 18.0, 250.0), fonts.SANS_BOLD, 18.0, self.brand)
        self._text(name_x, 68.0, fonts.ellipsize(f"{s.program_name} · Your personal shopping list", fonts.SANS, 9.5, 250.0), fonts.SANS, 9.5, GRAY)
        c.setFillColor(self.brand)
        c.rect(p.margin, self._y(92.0), p.content_width, 2.2, stroke=0, fill=1)
        # return line above the window address
        self._text(p.address_left, p.return_baseline, fonts.ellipsize(s.return_line(), fonts.SANS, 6.8, 250.0), fonts.SANS, 6.8, GRAY)
        # the info panel, right of the envelope window
        px, pw = self._panel_box()
        c.setFillColor(self.panel)
        bottom = min(p.folds[0] - 14.0, 250.0)
        c.roundRect(px, self._y(bottom), pw, bottom - 106.0, 6, stroke=0, fill=1)
        half = pw / 2
        for label, x, top in (
            ("VALID", px + 10.0, 120.0),
            ("YOUR STORE", px + 10.0, 160.0),
            ("MEMBER", px + 10.0, 201.0),
            ("YOU SAVE", px + half + 2.0, 201.0),
        ):
            self._text(x, top, label, fonts.SANS_BOLD, 6.5, GRAY)
        self._fold_marks()
        self._static_footer()

    def _static_page2(self) -> None:
        p, s, c = self.paper, self.settings, self.c
        self._text(p.margin, 44.0, fonts.ellipsize(s.chain_name, fonts.SANS_BOLD, 13.0, 260.0), fonts.SANS_BOLD, 13.0, self.brand)
        c.setFillColor(self.brand)
        c.rect(p.margin, self._y(74.0), p.content_width, 1.2, stroke=0, fill=1)
        self._static_footer()

    def _panel_box(self) -> tuple[float, float]:
        p = self.paper
        x = p.window_right + 10.0
        return x, p.width - p.margin - x

    def _draw_logo(self, x: float, top: float, size: float) -> None:
        c, s = self.c, self.settings
        if s.logo_path is not None:
            c.drawImage(str(s.logo_path), x, self._y(top + size), width=150.0, height=size,
                        preserveAspectRatio=True, anchor="w", mask="auto")
            return
        c.setFillColor(self.brand)
        c.roundRect(x, self._y(top + size), size, size, 9, stroke=0, fill=1)
        initials = s.monogram
        c.setFillColor(WHITE)
        c.setFont(fonts.SANS_BOLD, 19.0 if len(initials) > 1 else 24.0)
        c.drawCentredString(x + size / 2, self._y(top + size / 2 + 7.0), initials)

    def _fold_marks(self) -> None:
        c = self.c
        c.setStrokeColor(LIGHT)
        c.setLineWidth(0.5)
        for fold in self.paper.folds:
            c.line(0, self._y(fold), 14.0, self._y(fold))
            c.line(self.paper.width - 14.0, self._y(fold), self.paper.width, self._y(fold))

    def _static_footer(self) -> None:
        p, s, c = self.paper, self.settings, self.c
        top = p.height - 50.0
        c.setStrokeColor(LIGHT)
        c.setLineWidth(0.6)
        c.line(p.margin, self._y(top), p.width - p.margin, self._y(top))
        terms_w = p.content_width - 150.0
        y = top + 9.0
        for line in fonts.wrap(s.terms, fonts.SANS, 5.9, terms_w, 4):
            self._text(p.margin, y, line, fonts.SANS, 5.9, GRAY)
            y += 7.0
        self._text(p.margin, y + 1.5, fonts.ellipsize(s.contact, fonts.SANS_BOLD, 6.6, terms_w), fonts.SANS_BOLD, 6.6, INK)

    # dynamic parts

    def _draw_top_panel(self, doc: ListDocument) -> None:
        p = self.paper
        self._draw_list_barcode(doc.list_number, right=p.width - p.margin, top=26.0, module=LIST_MODULE, bar_h=40.0)
        # the mailing address, in the envelope window
        y = p.address_baseline
        size, name_lines, lines = self._address_lines(doc)
        for i, line in enumerate(lines):
            font = fonts.SANS_BOLD if i < name_lines else fonts.SANS
            self._text(p.address_left, y, line, font, size)
            y += size * 1.25
        px, pw = self._panel_box()
        inner = pw - 20.0
        x = px + 10.0
        y = 131.0
        period = doc.period_text()
        if fonts.string_width(period, fonts.SANS_BOLD, 9.6) <= inner:
            period_lines = [period]
        else:  # break at the dash, not inside a date
            head, _, tail = period.partition(" – ")
            period_lines = [fonts.ellipsize(head + " –", fonts.SANS_BOLD, 9.6, inner), fonts.ellipsize(tail, fonts.SANS_BOLD, 9.6, inner)]
        for line in period_lines:
            self._text(x, y, line, fonts.SANS_BOLD, 9.6)
            y += 11.0
        store = doc.store.one_line() if doc.store else "Any of our stores"
        y = 171.0
        for line in fonts.wrap(store, fonts.SANS, 8.2, inner, 2):
            self._text(x, y, line, fonts.SANS, 8.2)
            y += 10.0
        half = pw / 2
        self._text(x, 213.0, fonts.ellipsize(doc.member_id, fonts.SANS, 9.5, half - 14.0), fonts.SANS, 9.5)
        # money is never shortened: the amount shrinks to fit instead
        amount_size = fonts.fit_size(doc.savings_text, fonts.SANS_BOLD, 18.0, half - 12.0, 9.0)
        self._text(px + half + 2.0, 217.0, doc.savings_text, fonts.SANS_BOLD, amount_size, self.accent)
        offers = f"with {len(doc.lines)} offer{'s' if len(doc.lines) != 1 else ''}"
        self._text(px + half + 2.0, 229.0, offers, fonts.SANS, 7.2, GRAY)

    def _address_lines(self, doc: ListDocument) -> tuple[float, int, list[str]]:
        """The window address at the largest size that fits; a long name wraps, never runs out."""
        p = self.paper
        width = p.window_right - p.address_left - 9.0  # 1/8 in clear of the window edge
        lines = doc.address.lines()
        for size in (10.0, 9.0, 8.5):
            if all(fonts.string_width(l, fonts.SANS_BOLD, size) <= width for l in lines):
                return size, 1, lines
        size = 8.5
        name, rest = lines[0], lines[1:]
        wrapped = fonts.wrap(name, fonts.SANS_BOLD, size, width, 2)
        return size, len(wrapped), wrapped + [fonts.ellipsize(l, fonts.SANS, size, width) for l in rest]

    def _draw_greeting(self, doc: ListDocument, intro: bool) -> None:
        p = self.paper
        top = p.folds[0] + 20.0
        if doc.kind == "winback":
            title = f"We miss you, {doc.greeting_name}! Here are {len(doc.lines)} offers to welcome you back"
        else:
            title = f"{doc.greeting_name}, here are {len(doc.lines)} offers picked for you"
        self._text(p.margin, top, fonts.ellipsize(title, fonts.SANS_BOLD, 12.5, p.content_width), fonts.SANS_BOLD, 12.5)
        sub = (
            "Bring this list: the cashier scans the barcode at the top and every offer below comes off "
            "automatically when you buy the item. Manufacturer coupons also carry their own barcode."
        )
        y = top + 12.5
        for line in fonts.wrap(sub, fonts.SANS, 7.8, p.content_width, 2 if intro else 0):
            self._text(p.margin, y, line, fonts.SANS, 7.8, GRAY)
            y += 9.5

    def _draw_continuation_header(self, doc: ListDocument) -> None:
        p = self.paper
        self._draw_list_barcode(doc.list_number, right=p.width - p.margin, top=22.0, module=0.75, bar_h=30.0)
        # The period is never cut: a long member name shortens instead.
        tail = f" · {doc.period_text()} · continued"
        room = p.content_width - 130.0 - fonts.string_width(tail, fonts.SANS, 8.5)
        info = fonts.ellipsize(doc.member_name, fonts.SANS, 8.5, room) + tail
        self._text(p.margin, 60.0, info, fonts.SANS, 8.5, GRAY)

    def _draw_list_barcode(self, code: str, right: float, top: float, module: float, bar_h: float) -> None:
        symbol = list_barcode(code)
        width = symbol.width * module
        x = _snap(right - 7 * module - width)  # leave the right quiet zone
        c = self.c
        c.setFillColor(GRAY)
        c.setFont(fonts.SANS_BOLD, 6.2)
        c.drawCentredString(x + width / 2, self._y(top - 2.0), "SCAN AT CHECKOUT")
        c.setFillColorRGB(0, 0, 0)  # bars in pure black for the scanner
        guard_h = bar_h * symbol.height / (symbol.height - 5)
        c._code.append(symbol.pdf_ops(x, _snap(self._y(top)), module, guard_h))
        self._record("list-barcode", x, top, x + width, top + guard_h, code)
        first, left, right_digits = ean13_text_groups(code)
        size = 8.4 if module >= 0.9 else 7.0
        base = top + bar_h + size - 0.5
        c.setFont(fonts.SANS, size)
        c.drawRightString(x - 2.0, self._y(base), first)
        c.drawCentredString(x + 24 * module, self._y(base), left)
        c.drawCentredString(x + 71 * module, self._y(base), right_digits)
        self._record_text(x - 2.0 - fonts.string_width(first, fonts.SANS, size), base, first + left + right_digits, fonts.SANS, size)

    def _draw_dept(self, placed: Placed, style: Style) -> None:
        c = self.c
        label = fonts.ellipsize(placed.label.upper(), fonts.SANS_BOLD, 7.8, placed.width - 30.0)
        base = dept_baseline(placed.y, style)
        self._text(placed.x, base, label, fonts.SANS_BOLD, 7.8, self.brand)
        start = placed.x + fonts.string_width(label, fonts.SANS_BOLD, 7.8) + 6.0
        c.setStrokeColor(self.brand)
        c.setLineWidth(0.8)
        c.line(start, self._y(base - DEPT_RULE_DROP), placed.x + placed.width, self._y(base - DEPT_RULE_DROP))

    def _draw_item(self, placed: Placed, item: OfferRow, style: Style) -> None:
        c = self.c
        colors = {"accent": self.accent, "ink": INK, "gray": GRAY}
        for run in item.runs:
            self._text(placed.x + run.dx, placed.y + run.baseline, run.text, run.font, run.size, colors[run.color])
        top = placed.y + style.pad
        if item.coupon is not None:
            symbol = coupon_barcode(item.coupon[0], item.coupon[1])
            bw = symbol.width * COUPON_MODULE
            bx = _snap(placed.x + placed.width - style.pad - bw)
            c.setFillColorRGB(0, 0, 0)  # bars in pure black for the scanner
            c._code.append(symbol.pdf_ops(bx, _snap(self._y(top)), COUPON_MODULE))
            self._record("coupon-barcode", bx, top, bx + bw, top + symbol.height * COUPON_MODULE, symbol.text)
        if item.caption is not None:
            cap = item.caption
            x = bx if style.caption_below else placed.x + cap.dx
            self._text(x, placed.y + cap.baseline, cap.text, cap.font, cap.size, GRAY)
        c.setStrokeColor(LIGHT)
        c.setLineWidth(0.4)
        bottom = self._y(placed.y + item.height)
        c.line(placed.x, bottom, placed.x + placed.width, bottom)

    def _draw_content(self, boxes: Sequence[ContentBox], top: float, lines: int) -> None:
        c, p = self.c, self.paper
        width = self.fitter.box_width(len(boxes))
        height = max(self.fitter.box_height(b, width, lines) for b in boxes)
        for i, box in enumerate(boxes):
            x = p.margin + i * (width + 10.0)
            c.setFillColor(self.panel)
            c.setStrokeColor(self.brand)
            c.setLineWidth(0.6)
            c.roundRect(x, self._y(top + height), width, height, 5, stroke=1, fill=1)
            title, body = self.fitter.box_lines(box, width, lines)
            y = top + 14.0
            self._text(x + 8.0, y, box.label.upper(), fonts.SANS_BOLD, 6.6, self.accent)
            y += 11.0
            for text in title:
                self._text(x + 8.0, y, text, fonts.SANS_BOLD, 8.8)
                y += 10.5
            for text in body:
                self._text(x + 8.0, y, text, fonts.SANS, 7.4, INK)
                y += 9.0

    def _draw_footer_dynamic(self, doc: ListDocument, page: int, pages: int) -> None:
        p = self.paper
        top = p.height - 50.0
        right = p.width - p.margin
        self._text_right(right, top + 10.0, f"List {doc.list_number}", fonts.SANS_BOLD, 7.0)
        self._text_right(right, top + 19.0, f"Valid through {doc.valid_to:%b} {doc.valid_to.day}, {doc.valid_to.year}", fonts.SANS, 6.6, GRAY)
        self._text_right(right, top + 28.0, f"Page {page} of {pages}", fonts.SANS, 6.6, GRAY)


# --------------------------------------------------------------------------- documents


def new_canvas(out: "io.BytesIO | str", paper: PaperSpec, title: str, created: date, author: str) -> Canvas:
    """A reportlab canvas whose bytes depend only on what is drawn (fixed dates, fixed ID)."""
    canvas = Canvas(out, pagesize=(paper.width, paper.height), invariant=1, pageCompression=1)
    stamp = f"D:{created:%Y%m%d}000000+00'00'"
    canvas.setDateFormatter(lambda *parts: stamp)
    canvas.setTitle(title)
    canvas.setAuthor(author)
    canvas.setSubject("Personal shopping list")
    canvas.setCreator("loyalty_engine")
    canvas.setProducer("loyalty_engine (ReportLab)")
    return canvas


def blank_pages_after(pages: int, duplex: bool) -> int:
    """Blank pages a print run puts after a list of ``pages`` so the next one starts on a new sheet."""
    return pages % 2 if duplex else 0


def render_list_pdf(doc: ListDocument, paper: PaperSpec = LETTER, settings: RenderSettings | None = None) -> tuple[bytes, int]:
    """One list as its own PDF; returns ``(pdf bytes, page count)``."""
    settings = settings or RenderSettings(chain_name=doc.chain_name)
    buffer = io.BytesIO()
    canvas = new_canvas(buffer, paper, f"Shopping list {doc.list_number}", doc.issued_on, settings.chain_name)
    pages = ListRenderer(canvas, paper, settings).draw(doc)
    canvas.save()
    return buffer.getvalue(), pages


def render_lists_pdf(
    docs: Iterable[ListDocument], paper: PaperSpec, settings: RenderSettings, title: str, created: date
) -> tuple[bytes, list[int]]:
    """Many lists into one PDF (a print run or a chunk of one); returns bytes and pages per list.

    With ``settings.print_duplex`` every list starts on a new sheet: a list with an odd page
    count is followed by a blank page (:func:`blank_pages_after`), not counted in its pages.
    """
    buffer = io.BytesIO()
    canvas = new_canvas(buffer, paper, title, created, settings.chain_name)
    renderer = ListRenderer(canvas, paper, settings)
    pages = []
    for doc in docs:
        pages.append(renderer.draw(doc))
        for _ in range(blank_pages_after(pages[-1], settings.print_duplex)):
            canvas.showPage()  # the back of the list's last sheet stays empty
    if not pages:
        canvas.showPage()  # a valid, empty print run
    canvas.save()
    return buffer.getvalue(), pages
