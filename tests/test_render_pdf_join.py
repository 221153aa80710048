"""The streaming print-run join: pages in order, valid PDF, deterministic bytes."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pikepdf
import pypdfium2 as pdfium

from loyalty_engine.render.examples import example_document
from loyalty_engine.render.paper import LETTER
from loyalty_engine.render.pdf import render_lists_pdf
from loyalty_engine.render.pdf_join import join_pdfs
from loyalty_engine.render.settings import RenderSettings

PERIOD = date(2027, 3, 1)


def _parts(tmp_path: Path) -> tuple[list[Path], list[str]]:
    settings = RenderSettings(retailer_gs1_prefix="0712345")
    docs = [example_document(900 + i, 3 if i % 2 else 15, content=1) for i in range(6)]
    paths = []
    for k in range(3):
        data, _ = render_lists_pdf(docs[2 * k:2 * k + 2], LETTER, settings, "part", PERIOD)
        path = tmp_path / f"part-{k}.pdf"
        path.write_bytes(data)
        paths.append(path)
    return paths, [d.list_number for d in docs]


def test_join_keeps_every_page_in_order_with_its_fonts_and_metadata(tmp_path: Path) -> None:
    parts, numbers = _parts(tmp_path)
    expected = sum(len(pikepdf.open(p).pages) for p in parts)
    target = tmp_path / "run.pdf"
    pages = join_pdfs(parts, target, "Print run ü", PERIOD, "loyalty_engine (ReportLab)")
    assert pages == expected
    with pikepdf.open(target) as pdf:
        assert len(pdf.pages) == expected
        assert pdf.check_pdf_syntax() == []
        assert str(pdf.docinfo["/Title"]) == "Print run ü"
        assert str(pdf.docinfo["/CreationDate"]) == "D:20270301000000+00'00'"
    doc = pdfium.PdfDocument(str(target))
    firsts = [i for i in range(len(doc)) if "Page 1 of" in doc[i].get_textpage().get_text_range()]
    texts = [doc[i].get_textpage().get_text_range() for i in firsts]
    assert len(firsts) == len(numbers)
    for number, text in zip(numbers, texts):  # each list's first page, in part order
        assert f"List {number}" in text


def test_join_is_byte_identical_on_the_same_parts(tmp_path: Path) -> None:
    parts, _ = _parts(tmp_path)
    join_pdfs(parts, tmp_path / "a.pdf", "Run", PERIOD, "p")
    join_pdfs(parts, tmp_path / "b.pdf", "Run", PERIOD, "p")
    assert (tmp_path / "a.pdf").read_bytes() == (tmp_path / "b.pdf").read_bytes()
