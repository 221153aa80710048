"""Barcode symbols as module grids, drawable as PDF vectors or SVG.

- The list barcode is the list number as an EAN-13 (prefix 04, in-store numbering), its
  modules computed by python-barcode; guard bars are drawn longer, as on a product.
- Coupon barcodes are GS1 DataBar Expanded, or DataBar Expanded Stacked when a single row
  would be wider than the space given, created by zxing-cpp's writer (python-barcode has
  no DataBar).

A :class:`Symbol` is the symbol reduced to rectangles in module units (bands of identical
pixel rows, runs of dark modules), so drawing it is one string format. Symbols
are cached by content: the same list drawn into its own PDF and into the print run, or
re-rendered, is encoded once per process.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache
from html import escape

import barcode
import numpy as np
import zxingcpp

from ..list_numbers import parse_list_number

EAN13_QUIET_LEFT = 11  # modules, GS1 General Specifications
EAN13_QUIET_RIGHT = 7
EAN13_GUARDS = frozenset(list(range(0, 3)) + list(range(45, 50)) + list(range(92, 95)))
DATABAR_ROW_MODULES = 34  # height of one DataBar row, in modules (GS1: minimum 34 X)
DATABAR_PAIR_MODULES = 49  # two data characters and their finder pattern
DATABAR_GUARDS = 4
DATABAR_MAX_COLUMNS = 11  # segment pairs per row (2-22 segments)


@dataclass(frozen=True, eq=False)
class Symbol:
    """A barcode as dark rectangles in modules: ``rects[i] = (x, y, w, h)``, y down from the top."""

    text: str
    kind: str  # "ean13" | "databar-expanded" | "databar-expanded-stacked"
    width: int  # modules, without quiet zones
    height: int  # modules
    rects: np.ndarray  # int32, shape (n, 4)
    rows: int = 1

    @cached_property
    def _ops_body(self) -> str:
        # One C-level format call for all rectangles: the hot path of a print run.
        return (_RECT_OP * len(self.rects)) % tuple(self.rects.ravel().tolist())

    def pdf_ops(self, x: float, y_top: float, module: float, height: float | None = None) -> str:
        """PDF path operators filling the symbol with its top-left corner at ``(x, y_top)``.

        ``module`` is the X-dimension in points; ``height`` (points) stretches a 1-D symbol.
        One transform, then integer rectangles: short to write and exact to the module.
        """
        sy = module if height is None else height / self.height
        return f"q {module:.4f} 0 0 {-sy:.4f} {x:.2f} {y_top:.2f} cm\n{self._ops_body}f Q\n"

    def svg(self, module: float = 2.0, quiet: int = 0, css_class: str = "barcode", title: str = "") -> str:
        """A standalone, scalable SVG (viewBox in modules, white quiet zones) for the web view."""
        w = self.width + 2 * quiet
        body = "".join(
            f'<rect x="{x + quiet}" y="{y}" width="{rw}" height="{rh}"/>' for x, y, rw, rh in self.rects.tolist()
        )
        label = f"<title>{escape(title)}</title>" if title else ""
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="{css_class}" viewBox="0 0 {w} {self.height}" '
            f'width="{w * module:g}" height="{self.height * module:g}" shape-rendering="crispEdges" '
            f'role="img">{label}'
            f'<rect width="{w}" height="{self.height}" fill="#fff"/><g fill="#000">{body}</g></svg>'
        )


_RECT_OP = "%d %d %d %d re\n"


# --------------------------------------------------------------------------- EAN-13


@lru_cache(maxsize=2048)
def list_barcode(list_number: str) -> Symbol:
    """The list number as an EAN-13 symbol; refuses anything that is not a valid list number."""
    parse_list_number(list_number)  # prefix 04 and check digit, or ListNumberError
    ean = barcode.EAN13(list_number[:12], writer=None)
    if ean.get_fullcode() != list_number:  # python-barcode computes the check digit itself
        raise ValueError(f"EAN-13 check digit mismatch for {list_number}")
    modules = ean.build()[0]
    assert len(modules) == 95, modules
    height = 70  # bars; guards extend 5 modules lower, into the human-readable line
    rects = []
    x = 0
    for is_dark, run in _runs(np.frombuffer(modules.encode(), dtype=np.uint8) == ord("1")):
        if is_dark:
            rects.append((x, 0, run, height + (5 if x in EAN13_GUARDS else 0)))
        x += run
    return Symbol(list_number, "ean13", 95, height + 5, np.array(rects, dtype=np.int32))


def ean13_text_groups(code: str) -> tuple[str, str, str]:
    """Human-readable digits as printed under an EAN-13: ``0 | 400000 | 000015``."""
    return code[0], code[1:7], code[7:13]


# --------------------------------------------------------------------------- DataBar


# Coupons are unique per member; the cache only has to span one batch of a print run (each
# list drawn into its own PDF, then into the run) without holding a whole run in memory.
@lru_cache(maxsize=2048)
def coupon_barcode(element_string: str, max_width_modules: int = 10_000) -> Symbol:
    """GS1 DataBar Expanded for an ``(8110)...`` element string, stacked if one row is too wide."""
    columns = _stack_columns(element_string, max_width_modules)
    if columns is None:
        return _symbol(element_string, _single_row(element_string), "databar-expanded")
    grid = _dark_modules(element_string, zxingcpp.BarcodeFormat.DataBarExpStk, columns=columns)
    while grid.shape[1] > max_width_modules and columns > 1:  # the prediction is exact; this is a guard
        columns -= 1
        grid = _dark_modules(element_string, zxingcpp.BarcodeFormat.DataBarExpStk, columns=columns)
    return _symbol(element_string, grid, "databar-expanded-stacked")


def coupon_barcode_size(element_string: str, max_width_modules: int = 10_000) -> tuple[int, int]:
    """``(width, height)`` in modules of :func:`coupon_barcode`, without drawing the stacked symbol.

    The layout asks this for every width it tries; only the layout that is drawn builds symbols.
    """
    columns = _stack_columns(element_string, max_width_modules)
    single = _single_row(element_string)
    if columns is None:
        return int(single.shape[1]), int(single.shape[0])
    rows = -(-_pairs(single) // columns)
    return DATABAR_GUARDS + DATABAR_PAIR_MODULES * columns, rows * DATABAR_ROW_MODULES + (rows - 1) * 3


def _pairs(single: np.ndarray) -> int:
    return -(-(single.shape[1] - DATABAR_GUARDS) // DATABAR_PAIR_MODULES)


def _stack_columns(element_string: str, max_width_modules: int) -> int | None:
    """None if one row fits; else the segment pairs per row giving the fewest rows, narrowest.

    A row is built of segment pairs ("columns" in zxing-cpp/zint) of 49 modules plus 4 of guards.
    """
    if not element_string.startswith("(8110)"):
        raise ValueError(f"not an (8110) element string: {element_string!r}")
    single = _single_row(element_string)
    if single.shape[1] <= max_width_modules:
        return None
    pairs = _pairs(single)
    widest = max(1, min(DATABAR_MAX_COLUMNS, (max_width_modules - DATABAR_GUARDS) // DATABAR_PAIR_MODULES))
    rows = -(-pairs // widest)
    return -(-pairs // rows)


@lru_cache(maxsize=2048)
def _single_row(element_string: str) -> np.ndarray:
    """The one-row symbol, kept: the layout asks for the same coupon at two widths."""
    grid = _dark_modules(element_string, zxingcpp.BarcodeFormat.DataBarExpanded)
    grid.setflags(write=False)
    return grid


def _dark_modules(text: str, fmt: "zxingcpp.BarcodeFormat", **options: int) -> np.ndarray:
    symbol = zxingcpp.create_barcode(text, fmt, **options)
    if not symbol.valid:
        raise ValueError(f"zxing-cpp could not encode {text!r}: {symbol.error}")
    return np.asarray(symbol.to_image(scale=1, add_quiet_zones=False)) < 128


def _databar_rows(grid: np.ndarray) -> int:
    # rows of 34 modules separated by 3 separator rows
    return max(1, (grid.shape[0] + 3) // (DATABAR_ROW_MODULES + 3))


def _symbol(text: str, dark: np.ndarray, kind: str) -> Symbol:
    """Rectangles of a module grid: bands of identical pixel rows, runs of dark modules."""
    height, width = dark.shape
    changes = np.flatnonzero(np.any(dark[1:] != dark[:-1], axis=1)) + 1
    band_starts = np.concatenate(([0], changes))
    band_heights = np.diff(np.concatenate((band_starts, [height])))
    bands = dark[band_starts]
    padded = np.zeros((len(bands), width + 2), dtype=np.int8)
    padded[:, 1:-1] = bands
    edges = np.diff(padded, axis=1)
    band_i, xs = np.nonzero(edges == 1)  # row-major: runs come out band by band, left to right
    _, ends = np.nonzero(edges == -1)
    rects = np.column_stack((xs, band_starts[band_i], ends - xs, band_heights[band_i])).astype(np.int32)
    return Symbol(text, kind, width, height, rects, _databar_rows(dark))


def _runs(row: np.ndarray) -> list[tuple[bool, int]]:
    """Run-length encoding of a boolean row: ``[(value, length), ...]``."""
    if row.size == 0:
        return []
    edges = np.flatnonzero(np.diff(row.astype(np.int8))) + 1
    starts = np.concatenate(([0], edges))
    lengths = np.diff(np.concatenate((starts, [row.size])))
    return [(bool(row[s]), int(n)) for s, n in zip(starts, lengths)]


def clear_caches() -> None:
    list_barcode.cache_clear()
    coupon_barcode.cache_clear()
    _single_row.cache_clear()
