"""Print runs safe for duplex printers: every list starts on a new sheet; simplex on request."""
from __future__ import annotations

import csv
from dataclasses import replace
from datetime import date
from pathlib import Path

import pypdfium2 as pdfium
import pytest

from loyalty_engine.config import Config
from loyalty_engine.render.examples import example_document
from loyalty_engine.render.from_db import PrintItem
from loyalty_engine.render.print_run import render_print_run
from loyalty_engine.render.settings import RenderSettings

PERIOD = date(2027, 3, 1)
SETTINGS = RenderSettings(retailer_gs1_prefix="0712345")


def _items() -> list[PrintItem]:
    """Lists of one and two pages, in an order where odd counts meet: 1, 2, 1, 1, 2, 1."""
    shapes = [(3, False), (20, True), (4, False), (2, False), (18, True), (5, False)]
    docs = [example_document(6100 + i, n, long_texts=long, content=1) for i, (n, long) in enumerate(shapes)]
    return [PrintItem(doc, "S1", mailed=True) for doc in docs]


def _manifest(out: Path) -> list[dict[str, str]]:
    with (out / "manifest.csv").open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _page_texts(path: Path) -> list[str]:
    pdf = pdfium.PdfDocument(path)
    return [pdf[i].get_textpage().get_text_range() for i in range(len(pdf))]


def test_duplex_run_starts_every_list_on_a_new_sheet(tmp_path: Path) -> None:
    items = _items()
    summary = render_print_run(items, tmp_path, PERIOD, "letter", SETTINGS)
    rows = _manifest(tmp_path)
    pages = [int(r["pages"]) for r in rows]
    assert sorted(set(pages)) == [1, 2]  # the run mixes odd and even page counts
    texts = _page_texts(summary.print_runs["S1"])
    assert len(texts) == sum(p + p % 2 for p in pages) == summary.print_run_pages["S1"]
    for row, item in zip(rows, items):
        first = int(row["print_run_first_page"])
        assert first % 2 == 1, row  # the front of a sheet
        assert row["print_mode"] == "duplex"
        assert int(row["blank_pages_after"]) == int(row["pages"]) % 2
        assert int(row["sheets"]) == (int(row["pages"]) + 1) // 2
        assert f"List {item.document.list_number}" in texts[first - 1]
        if row["blank_pages_after"] == "1":
            assert texts[first - 1 + int(row["pages"])].strip() == ""  # the back stays empty
    # every sheet holds one member's pages only
    for sheet in range(0, len(texts), 2):
        numbers = {item.document.list_number for item in items
                   for text in texts[sheet:sheet + 2] if f"List {item.document.list_number}" in text}
        assert len(numbers) == 1, sheet


def test_simplex_run_has_no_blank_pages(tmp_path: Path) -> None:
    summary = render_print_run(_items(), tmp_path, PERIOD, "a4", replace(SETTINGS, print_duplex=False))
    rows = _manifest(tmp_path)
    texts = _page_texts(summary.print_runs["S1"])
    assert len(texts) == sum(int(r["pages"]) for r in rows)
    assert all(text.strip() for text in texts)
    expected_first = 1
    for row in rows:
        assert row["print_mode"] == "simplex" and row["blank_pages_after"] == "0"
        assert int(row["print_run_first_page"]) == expected_first
        assert row["sheets"] == row["pages"]
        expected_first += int(row["pages"])


def test_duplex_is_a_setting(tmp_path: Path) -> None:
    config = Config(instance_path=tmp_path).resolved()
    assert RenderSettings.from_config(config, environ={}).print_duplex is True
    assert RenderSettings.from_config(config, environ={"LOYALTY_PRINT_DUPLEX": "0"}).print_duplex is False
    assert RenderSettings.from_config(config, environ={"LOYALTY_PRINT_DUPLEX": "yes"}).print_duplex is True
    with pytest.raises(ValueError, match="LOYALTY_PRINT_DUPLEX"):
        RenderSettings.from_config(config, environ={"LOYALTY_PRINT_DUPLEX": "sometimes"})
