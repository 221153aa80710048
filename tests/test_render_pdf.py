"""Printed lists scanned like a lane: rasterize, decode every barcode, read the text back."""
from __future__ import annotations

import io
from datetime import date

import numpy as np
import pypdfium2 as pdfium
import pytest
import zxingcpp

from loyalty_engine.list_numbers import ean13_check_digit, parse_list_number
from loyalty_engine.render import coupon_8110
from loyalty_engine.render.barcodes import coupon_barcode, list_barcode
from loyalty_engine.render.document import ListDocument
from loyalty_engine.render.examples import example_document
from loyalty_engine.render.paper import A4, LETTER, PaperSpec
from loyalty_engine.render.pdf import Drawn, ListRenderer, new_canvas, render_list_pdf
from loyalty_engine.render.settings import RenderSettings

SETTINGS = RenderSettings(contact="Questions? Call 1-800-555-0142", retailer_gs1_prefix="0712345")
DPI = 300  # a 0.75 pt module is 3.1 px: what a lane imager resolves, with margin


def render_recorded(doc: ListDocument, paper: PaperSpec = LETTER) -> tuple[bytes, list[Drawn]]:
    buffer = io.BytesIO()
    canvas = new_canvas(buffer, paper, "test", doc.issued_on, "test")
    renderer = ListRenderer(canvas, paper, SETTINGS, record=True)
    renderer.draw(doc)
    canvas.save()
    assert renderer.drawn is not None
    return buffer.getvalue(), list(renderer.drawn)


def page_images(pdf: bytes, dpi: int = DPI) -> list[np.ndarray]:
    document = pdfium.PdfDocument(pdf)
    images = []
    for i in range(len(document)):
        image = document[i].render(scale=dpi / 72, grayscale=True).to_numpy()
        images.append(image[..., 0] if image.ndim == 3 else image)
    return images


def scan(image: np.ndarray, box: Drawn, dpi: int = DPI) -> list[zxingcpp.Barcode]:
    """Aim at one symbol, as a cashier does: its box plus the quiet zone."""
    scale = dpi / 72
    margin = 8.0 + (11 * 0.9 if box.kind == "list-barcode" else 0.0)
    crop = image[
        max(0, int((box.top - 8.0) * scale)): int((box.bottom + 8.0) * scale),
        max(0, int((box.x0 - margin) * scale)): int((box.x1 + 8.0) * scale),
    ]
    return zxingcpp.read_barcodes(crop)


@pytest.mark.parametrize("paper", [LETTER, A4], ids=["letter", "a4"])
@pytest.mark.parametrize(
    "doc",
    [
        example_document(4711, 12, content=2),
        example_document(4712, 20, long_texts=True, content=3, all_coupons=True),
        example_document(4713, 3, content=1),
    ],
    ids=["typical", "worst-case", "short"],
)
def test_every_barcode_scans_to_its_content(doc: ListDocument, paper: PaperSpec) -> None:
    pdf, drawn = render_recorded(doc, paper)
    images = page_images(pdf)
    assert 1 <= len(images) <= 2

    list_boxes = [d for d in drawn if d.kind == "list-barcode"]
    assert [d.page for d in list_boxes] == list(range(1, len(images) + 1))  # every page scans
    for box in list_boxes:
        (read,) = scan(images[box.page - 1], box)
        assert read.format == zxingcpp.BarcodeFormat.EAN13
        assert read.text == doc.list_number
        assert ean13_check_digit(read.text[:12]) == int(read.text[12])
        assert parse_list_number(read.text) == int(doc.list_number[2:12])

    coupon_boxes = [d for d in drawn if d.kind == "coupon-barcode"]
    expected = sorted(line.coupon_element_string for line in doc.lines if line.coupon is not None)
    assert sorted(d.text for d in coupon_boxes) == expected
    assert expected, "the example lists carry manufacturer coupons"
    for box in coupon_boxes:
        (read,) = scan(images[box.page - 1], box)
        assert read.format in (zxingcpp.BarcodeFormat.DataBarExpanded, zxingcpp.BarcodeFormat.DataBarExpStk)
        assert read.content_type == zxingcpp.ContentType.GS1
        assert read.text == box.text
        coupon = coupon_8110.parse(read.text)
        line = next(l for l in doc.lines if l.coupon_element_string == read.text)
        assert coupon == line.coupon
        assert coupon.serial_number == f"{int(doc.list_number[2:12]):010d}{line.line_no:02d}"
        assert coupon.expiration == line.expires
        assert coupon.retailer_id == "0712345"


def test_full_page_decode_finds_the_list_barcode() -> None:
    """Without aiming: the whole page at lane resolution still yields the list number."""
    doc = example_document(4714, 10)
    pdf, _ = render_list_pdf(doc, LETTER, SETTINGS)
    reads = zxingcpp.read_barcodes(page_images(pdf, dpi=200)[0], formats=zxingcpp.BarcodeFormat.EAN13)
    assert [r.text for r in reads] == [doc.list_number]


def _page_text(pdf: bytes) -> list[str]:
    document = pdfium.PdfDocument(pdf)
    return [document[i].get_textpage().get_text_range() for i in range(len(document))]


def test_text_extraction_shows_names_amounts_and_dates() -> None:
    doc = example_document(4715, 8, content=2)
    pdf, _ = render_list_pdf(doc, LETTER, SETTINGS)
    text = " ".join(_page_text(pdf))
    flat = " ".join(text.split())
    assert doc.address.name in flat
    assert doc.address.postal_code in flat
    assert doc.member_id in flat
    assert doc.savings_text in flat
    assert "Mon Mar 1 – Sun Mar 14, 2027" in flat
    assert f"List {doc.list_number}" in flat
    for line in doc.lines:
        assert line.benefit_text in flat
        assert f"Expires {line.expires:%a %m/%d/%Y}" in flat
        assert line.description.split(",")[0] in flat
    for box in doc.content:
        assert box.title in flat
    assert "Questions? Call 1-800-555-0142" in flat


def test_accented_names_render_in_the_bundled_font() -> None:
    doc = example_document(4716, 4, long_texts=True)
    pdf, _ = render_list_pdf(doc, LETTER, SETTINGS)
    flat = " ".join(" ".join(_page_text(pdf)).split())
    assert "Marie-Chantal Éléonore Søs" in flat
    assert "Żółkiewska" in flat
    assert b"DejaVuSans" in pdf  # embedded, not a viewer's substitute


@pytest.mark.parametrize("paper", [LETTER, A4], ids=["letter", "a4"])
@pytest.mark.parametrize("seed", range(6))
def test_twenty_lines_with_very_long_names_fit_two_pages(paper: PaperSpec, seed: int) -> None:
    doc = example_document(5000 + seed, 20, long_texts=True, content=3, all_coupons=seed % 2 == 0)
    pdf, drawn = render_recorded(doc, paper)
    pages = len(pdfium.PdfDocument(pdf))
    assert pages <= 2
    margin = paper.margin - 0.01
    footer_top = paper.height - 50.0
    for d in drawn:
        assert d.x0 >= margin - 12.0 and d.x1 <= paper.width - margin + 0.01, d  # first EAN digit sits in the quiet zone
        assert 0 < d.top and d.bottom <= paper.height - 10.0, d
        if d.kind == "coupon-barcode" or (d.kind == "text" and d.top > paper.folds[0] and not d.text.startswith(("List ", "Valid through", "Page "))):
            assert d.bottom <= footer_top, d  # offers never run into the footer
    # offers and coupons never overlap one another
    boxes = [d for d in drawn if d.kind == "coupon-barcode"]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            if a.page == b.page:
                assert a.x1 <= b.x0 or b.x1 <= a.x0 or a.bottom <= b.top or b.bottom <= a.top, (a, b)
    texts = [d for d in drawn if d.kind == "text"]
    for t in texts:
        for b in boxes:
            if t.page == b.page:
                assert t.x1 <= b.x0 + 0.5 or b.x1 <= t.x0 + 0.5 or t.bottom <= b.top + 0.5 or b.bottom <= t.top + 0.5, (t, b)
    # every line is printed
    flat = " ".join(" ".join(_page_text(pdf)).split())
    assert flat.count("Limit 1") == 20


def test_short_list_fits_one_page() -> None:
    pdf, _ = render_list_pdf(example_document(4717, 3, content=1), LETTER, SETTINGS)
    assert len(pdfium.PdfDocument(pdf)) == 1


def test_rendering_is_byte_identical_and_dated_from_the_list() -> None:
    doc = example_document(4718, 10, content=2)
    first, pages = render_list_pdf(doc, LETTER, SETTINGS)
    again, _ = render_list_pdf(doc, LETTER, SETTINGS)
    assert first == again
    assert b"D:20270224000000+00'00'" in first  # issued_on, not the wall clock
    other, _ = render_list_pdf(example_document(4719, 10, content=2), LETTER, SETTINGS)
    assert other != first


def test_barcode_symbols() -> None:
    symbol = list_barcode("0400000000015")
    assert symbol.width == 95 and symbol.kind == "ean13"
    with pytest.raises(ValueError):
        list_barcode("0400000000016")  # bad check digit
    with pytest.raises(ValueError):
        list_barcode("2000000000008")  # not a list number (random-weight prefix)
    element = example_document(4720, 6, all_coupons=True).lines[0].coupon_element_string
    assert element is not None
    wide = coupon_barcode(element)
    narrow = coupon_barcode(element, 210)
    assert wide.kind == "databar-expanded" and wide.rows == 1
    assert narrow.kind == "databar-expanded-stacked" and narrow.width <= 210 and narrow.rows > 1
    svg = narrow.svg(title="coupon")
    assert svg.startswith("<svg") and "<title>coupon</title>" in svg
