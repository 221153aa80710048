"""The printed page read back from the PDF: no two texts overlap, no rule or bar runs through
a text, nothing is cut.

Text boxes are the rectangles pdfium's text page reports (one per drawn run and line, glyph
bounds); rules, bars and panels are the page's path objects, form XObjects included. The
lists are rendered in every layout style (forced one at a time) on both papers, with long
descriptions and many offers, so the dense two-column layout is covered however a list lands.
"""
from __future__ import annotations

import ctypes
from dataclasses import dataclass

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest

from loyalty_engine.render import list_layout
from loyalty_engine.render.document import ListDocument
from loyalty_engine.render.examples import example_document
from loyalty_engine.render.offer_rows import COMPACT, ROWS, TIGHT, TWO_COLUMNS, Style
from loyalty_engine.render.paper import A4, LETTER, PaperSpec
from loyalty_engine.render.pdf import render_list_pdf
from loyalty_engine.render.settings import RenderSettings

SETTINGS = RenderSettings(contact="Questions? Call 1-800-555-0142", retailer_gs1_prefix="0712345")
TOLERANCE = 0.05  # points: boxes that only touch do not overlap


@dataclass(frozen=True)
class Box:
    left: float
    bottom: float
    right: float
    top: float
    text: str = ""

    def overlaps(self, other: "Box") -> bool:
        return (min(self.right, other.right) - max(self.left, other.left) > TOLERANCE
                and min(self.top, other.top) - max(self.bottom, other.bottom) > TOLERANCE)

    def inside(self, other: "Box") -> bool:
        return (self.left >= other.left - TOLERANCE and self.right <= other.right + TOLERANCE
                and self.bottom >= other.bottom - TOLERANCE and self.top <= other.top + TOLERANCE)


@dataclass(frozen=True)
class PageParts:
    texts: list[Box]
    rules: list[Box]  # stroked lines: separators, department rules, footer rule
    bars: list[Box]  # black filled paths with many segments: barcode symbols
    panels: list[Box]  # tinted filled shapes: backgrounds texts may sit on


def _fill(obj: pdfium.PdfObject) -> tuple[int, int, int]:
    r, g, b, a = (ctypes.c_uint() for _ in range(4))
    pdfium_c.FPDFPageObj_GetFillColor(obj.raw, ctypes.byref(r), ctypes.byref(g), ctypes.byref(b), ctypes.byref(a))
    return r.value, g.value, b.value


def _draw_mode(obj: pdfium.PdfObject) -> tuple[int, bool]:
    fill_mode, stroke = ctypes.c_int(), ctypes.c_int()
    pdfium_c.FPDFPath_GetDrawMode(obj.raw, ctypes.byref(fill_mode), ctypes.byref(stroke))
    return fill_mode.value, bool(stroke.value)


def page_parts(page: pdfium.PdfPage) -> PageParts:
    textpage = page.get_textpage()
    texts = []
    for i in range(textpage.count_rects()):
        left, bottom, right, top = textpage.get_rect(i)
        middle = (bottom + top) / 2  # a thin band through the run: not its neighbours' text
        text = " ".join(textpage.get_text_bounded(left, middle - 0.5, right, middle + 0.5).split())
        if text:
            texts.append(Box(left, bottom, right, top, text))
    rules, bars, panels = [], [], []
    for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_PATH], max_depth=3):
        box = Box(*obj.get_bounds())
        fill_mode, stroke = _draw_mode(obj)
        if fill_mode and _fill(obj) == (0, 0, 0) and pdfium_c.FPDFPath_CountSegments(obj.raw) > 20:
            bars.append(box)
        elif fill_mode:
            panels.append(box)
        elif stroke:
            rules.append(box)
    return PageParts(texts, rules, bars, panels)


def layout_problems(pdf: bytes, paper: PaperSpec) -> list[str]:
    problems: list[str] = []
    document = pdfium.PdfDocument(pdf)
    for number in range(len(document)):
        parts = page_parts(document[number])
        where = f"page {number + 1}"
        for i, a in enumerate(parts.texts):
            # nothing is clipped by the page or the printer's unprintable edge
            if a.left < 10 or a.right > paper.width - 10 or a.bottom < 10 or a.top > paper.height - 10:
                problems.append(f"{where}: {a.text!r} leaves the printable page")
            for b in parts.texts[i + 1:]:
                if a.overlaps(b):
                    problems.append(f"{where}: {a.text!r} overlaps {b.text!r}")
            for rule in parts.rules:
                if a.overlaps(rule):
                    problems.append(f"{where}: a rule runs through {a.text!r}")
            for bar in parts.bars:
                # the list barcode's digits sit between its guard bars, below the other bars
                digits_under_bars = a.text.replace(" ", "").isdigit() and a.top <= bar.bottom + 12.0
                if a.overlaps(bar) and not digits_under_bars:
                    problems.append(f"{where}: a barcode covers {a.text!r}")
            for panel in parts.panels:
                if a.overlaps(panel) and not a.inside(panel):
                    problems.append(f"{where}: {a.text!r} straddles the edge of a panel")
        for i, a in enumerate(parts.bars):
            for b in parts.bars[i + 1:]:
                if a.overlaps(b):
                    problems.append(f"{where}: two barcodes overlap")
            for rule in parts.rules:
                if a.overlaps(rule):
                    problems.append(f"{where}: a rule runs through a barcode")
    return problems


def _flat_text(pdf: bytes) -> str:
    document = pdfium.PdfDocument(pdf)
    text = " ".join(document[i].get_textpage().get_text_range() for i in range(len(document)))
    return " ".join(text.split())


def cut_offer_texts(doc: ListDocument, pdf: bytes) -> list[str]:
    """What a member must read in full on every line: the benefit's amount and quantity ("$1.50
    off any 2"; the examples' long texts add words that may be shortened), buy and limit,
    expiry, funder."""
    flat = _flat_text(pdf)
    missing = []
    for line in doc.lines:
        amount = " ".join(line.benefit_text.split()[:4 if line.min_quantity > 1 else 2])
        for part in (amount, *line.terms_text().split(" · "), line.funder_text()):
            if part not in flat:
                missing.append(f"line {line.line_no}: {part!r}")
    if doc.savings_text not in flat:
        missing.append(f"savings {doc.savings_text}")
    return missing


DOCS = {
    "long-all-coupons": lambda: example_document(5000, 20, long_texts=True, content=3, all_coupons=True),
    "long-mixed": lambda: example_document(5001, 20, long_texts=True, content=3),
    "typical": lambda: example_document(4711, 12, content=2),
    "many-short": lambda: example_document(4800, 16, content=2, all_coupons=True),
}


@pytest.mark.parametrize("paper", [LETTER, A4], ids=["letter", "a4"])
@pytest.mark.parametrize("style", [ROWS, TWO_COLUMNS, COMPACT, TIGHT], ids=lambda s: s.name)
@pytest.mark.parametrize("name", sorted(DOCS))
def test_rendered_pages_have_no_overlap_and_nothing_cut(name: str, style: Style, paper: PaperSpec,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    doc = DOCS[name]()
    monkeypatch.setattr(list_layout, "STYLES", (style,))
    try:
        pdf, pages = render_list_pdf(doc, paper, SETTINGS)
    except list_layout.ListLayoutError:
        # only the densest layout has to hold every list
        assert style is not TIGHT, f"{name} does not fit two pages in the {style.name} layout"
        return
    assert pages <= 2
    assert layout_problems(pdf, paper) == []
    assert cut_offer_texts(doc, pdf) == []


def test_the_checker_sees_an_overlap() -> None:
    """A rule drawn through a text line and two texts on top of each other are reported."""
    import io

    from reportlab.pdfgen.canvas import Canvas

    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=(LETTER.width, LETTER.height))
    canvas.setFont("Helvetica", 10)
    canvas.drawString(100, 500, "Limit 1 · Expires Sun 03/14/2027")
    canvas.drawString(104, 503, "Offer from Kraft Heinz")
    canvas.setLineWidth(0.4)
    canvas.line(90, 501, 300, 501)
    canvas.showPage()
    canvas.save()
    problems = layout_problems(buffer.getvalue(), LETTER)
    assert any("overlaps" in p for p in problems)
    assert any("rule runs through" in p for p in problems)
