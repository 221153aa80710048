"""A manufacturer statement as PDF (reportlab platypus), in the printed lists' fonts and colours.

Header: the retailer (chain) and program, the funder with its GS1 company prefix, the
statement number, the list period and the issue date. Body: one table of lines per offer and
week (current period first, then adjustments to earlier statements), totals, the amount due
and the reconciliation with the redemption ledger. The bytes depend only on the statement:
the canvas is invariant (fixed document id) and its dates are the statement's issue date.
"""
from __future__ import annotations

import io
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import LETTER, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from ..money import format_money
from ..results.statements import LineData, StatementDoc
from . import fonts
from .settings import RenderSettings

MM = 72 / 25.4
GRAY = colors.HexColor("#5F6368")
LIGHT = colors.HexColor("#E6E8EB")

HEADINGS = ("Offer", "Description", "Week of", "Share", "Redemptions", "Units", "Face value", "Funded",
            "Handling", "Total due")


def _invariant_canvas(stamp: str) -> type[Canvas]:
    """A canvas class whose document id and dates never change between renders."""

    class _Canvas(Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["invariant"] = 1
            super().__init__(*args, **kwargs)
            self.setDateFormatter(lambda *_: stamp)

    return _Canvas


def _styles(settings: RenderSettings) -> dict[str, ParagraphStyle]:
    brand = colors.HexColor(settings.brand_color)
    return {
        "title": ParagraphStyle("title", fontName=fonts.SANS_BOLD, fontSize=16, leading=20, textColor=brand),
        "h": ParagraphStyle("h", fontName=fonts.SANS_BOLD, fontSize=10.5, leading=14, spaceBefore=8, textColor=brand),
        "body": ParagraphStyle("body", fontName=fonts.SANS, fontSize=8.5, leading=11),
        "small": ParagraphStyle("small", fontName=fonts.SANS, fontSize=7, leading=9, textColor=GRAY),
        "cell": ParagraphStyle("cell", fontName=fonts.COND, fontSize=7.5, leading=9),
    }


def _line_row(line: LineData, cell: ParagraphStyle) -> list[Any]:
    # one line per row, shortened to the column: a Paragraph per cell costs ten times more
    name = fonts.ellipsize(line.offer_name, fonts.COND, cell.fontSize, DESCRIPTION_WIDTH - 4)
    return [line.offer_code, name, line.week_start.isoformat(),
            f"{line.funded_share_bp / 100:g}%", f"{line.redemptions:,}", f"{line.units:,}",
            format_money(line.face_value_cents), format_money(line.funded_cents),
            format_money(line.handling_fee_cents), format_money(line.total_due_cents)]


def _total_row(label: str, lines: list[LineData]) -> list[Any]:
    def s(attr: str) -> int:
        return sum(getattr(x, attr) for x in lines)

    return [label, "", "", "", f"{s('redemptions'):,}", f"{s('units'):,}", format_money(s("face_value_cents")),
            format_money(s("funded_cents")), format_money(s("handling_fee_cents")), format_money(s("total_due_cents"))]


DESCRIPTION_WIDTH = 74 * MM


def _table(rows: list[list[Any]], brand: colors.Color, total_rows: int) -> Table:
    widths = [16 * MM, DESCRIPTION_WIDTH, 22 * MM, 15 * MM, 23 * MM, 18 * MM, 25 * MM, 25 * MM, 22 * MM, 27 * MM]
    table = Table(rows, colWidths=widths, repeatRows=1)
    style = [
        ("FONT", (0, 0), (-1, -1), fonts.COND, 7.5),
        ("FONT", (0, 0), (-1, 0), fonts.COND_BOLD, 7.5),
        ("TEXTCOLOR", (0, 0), (-1, 0), colors.white),
        ("BACKGROUND", (0, 0), (-1, 0), brand),
        ("ALIGN", (3, 0), (-1, -1), "RIGHT"),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 1), (-1, -1), 0.25, LIGHT),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    for i in range(total_rows):
        row = len(rows) - 1 - i
        style += [("FONT", (0, row), (-1, row), fonts.COND_BOLD, 7.5), ("LINEABOVE", (0, row), (-1, row), 0.6, brand)]
    table.setStyle(TableStyle(style))
    return table


def _section(title: str, lines: list[LineData], st: dict[str, ParagraphStyle], brand: colors.Color) -> list[Any]:
    rows: list[list[Any]] = [list(HEADINGS)] + [_line_row(line, st["cell"]) for line in lines]
    rows.append(_total_row(f"Subtotal: {title.lower()}", lines))
    return [Paragraph(title, st["h"]), _table(rows, brand, 1)]


def _reconciliation(doc: StatementDoc, st: dict[str, ParagraphStyle]) -> list[Any]:
    r = doc.reconciliation
    text = (
        f"Redemption ledger for {doc.manufacturer_id} up to ledger row #{r['watermark']:,}: "
        f"{r['ledger_rows']:,} rows, {format_money(r['ledger_due_cents'])} "
        f"= earlier statements {format_money(r['earlier_due_cents'])} ({r['earlier_rows']:,} rows) "
        f"+ this statement {format_money(r['this_due_cents'])} ({r['this_rows']:,} rows) "
        f"+ not yet billed, periods still open or unissued {format_money(r['unbilled_due_cents'])} "
        f"({r['unbilled_rows']:,} rows)."
    )
    return [Paragraph("Reconciliation with the redemption ledger", st["h"]), Paragraph(text, st["body"])]


def render_statement_pdf(doc: StatementDoc, settings: RenderSettings) -> bytes:
    """The statement as PDF bytes; the same statement always gives the same bytes."""
    fonts.register_fonts()
    st = _styles(settings)
    brand = colors.HexColor(settings.brand_color)
    buffer = io.BytesIO()
    title = f"{'DRAFT ' if doc.draft else ''}Statement {doc.number}"
    template = SimpleDocTemplate(
        buffer, pagesize=landscape(LETTER), leftMargin=12 * MM, rightMargin=12 * MM, topMargin=12 * MM,
        bottomMargin=14 * MM, title=title, author=doc.retailer_name, subject=f"Manufacturer statement for {doc.funder_name}",
        creator="loyalty_engine", producer="loyalty_engine (ReportLab)", invariant=1,
    )
    story: list[Any] = [
        Paragraph(f"{doc.retailer_name} · {settings.program_name}", st["title"]),
        Paragraph(f"{'DRAFT (not issued) ' if doc.draft else ''}Manufacturer statement {doc.number}", st["h"]),
        Paragraph(
            f"Funder: <b>{doc.funder_name}</b> ({doc.manufacturer_id}"
            f"{', GS1 prefix ' + doc.funder_gs1_prefix if doc.funder_gs1_prefix else ''}) · "
            f"List period {doc.period.start.isoformat()} to {doc.period.end.isoformat()} · "
            f"Issued {doc.issued_on.isoformat()}", st["body"]),
        Spacer(1, 4),
    ]
    current = [x for x in doc.lines if x.kind == "current"]
    adjustments = [x for x in doc.lines if x.kind == "adjustment"]
    if current:
        story += _section("Redemptions of the period, net of returns and voids", current, st, brand)
    if adjustments:
        story += _section("Adjustments to earlier statements (returns and voids after issue)", adjustments, st, brand)
    story += [Spacer(1, 6), _table([list(HEADINGS), _total_row("Total due", list(doc.lines))], brand, 1)]
    story += _reconciliation(doc, st)
    story.append(Paragraph(
        "Face value is the discount members received; the funded amount is your share of it (the offer's funded "
        "share); the handling fee is per redemption. Returns and voids are netted out; those that reach the ledger "
        "after a statement is issued appear as adjustments on the next one. Amounts in US dollars.", st["small"]))
    stamp = f"D:{doc.issued_on:%Y%m%d}000000+00'00'"

    def footer(canvas: Canvas, _doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(fonts.SANS, 7)
        canvas.setFillColor(GRAY)
        canvas.drawString(12 * MM, 8 * MM, f"{doc.retailer_name} · statement {doc.number}")
        canvas.drawRightString(landscape(LETTER)[0] - 12 * MM, 8 * MM, f"Page {canvas.getPageNumber()}")
        canvas.restoreState()

    template.build(story, onFirstPage=footer, onLaterPages=footer, canvasmaker=_invariant_canvas(stamp))
    return buffer.getvalue()
