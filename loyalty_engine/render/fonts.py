"""The bundled TTF fonts (DejaVu Sans, covers accented Latin names), registered once per process."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

FONT_DIR = Path(__file__).resolve().parent.parent / "fonts"

SANS = "LE-Sans"
SANS_BOLD = "LE-Sans-Bold"
COND = "LE-SansCondensed"
COND_BOLD = "LE-SansCondensed-Bold"

_FILES = {
    SANS: "DejaVuSans.ttf",
    SANS_BOLD: "DejaVuSans-Bold.ttf",
    COND: "DejaVuSansCondensed.ttf",
    COND_BOLD: "DejaVuSansCondensed-Bold.ttf",
}
_registered = False


def register_fonts() -> None:
    global _registered
    if _registered:
        return
    for name, filename in _FILES.items():
        path = FONT_DIR / filename
        if not path.is_file():
            raise FileNotFoundError(f"bundled font missing: {path} (reinstall loyalty_engine)")
        pdfmetrics.registerFont(TTFont(name, str(path)))
    _registered = True


def string_width(text: str, font: str, size: float) -> float:
    return pdfmetrics.stringWidth(text, font, size)


@lru_cache(maxsize=65536)
def _word_width(word: str, font: str, size: float) -> float:
    return pdfmetrics.stringWidth(word, font, size)


def cached_width(text: str, font: str, size: float) -> float:
    """``string_width`` for short texts that repeat from list to list ("$1.00 off", "Limit 1"),
    measured once per process (bounded cache)."""
    return _word_width(text, font, size)


def wrap(text: str, font: str, size: float, width: float, max_lines: int) -> list[str]:
    """Greedy word wrap to ``width``; over-long words are broken; the last kept line gets '…'.

    Never returns a line wider than ``width``: long names and offer texts shorten, they do
    not overflow. Widths add up word by word (reportlab applies no kerning), each word
    measured once per process.
    """
    words = text.split()
    if not words or max_lines <= 0:
        return []
    if width <= 0:
        # No room at all: breaking words into zero-width pieces would never end.
        raise ValueError(f"cannot wrap text into a width of {width:.1f} pt")
    space = _word_width(" ", font, size)
    lines: list[str] = []
    current: list[str] = []
    current_w = 0.0
    for word in words:
        w = _word_width(word, font, size)
        if current and current_w + space + w <= width:
            current.append(word)
            current_w += space + w
            continue
        if not current and w <= width:
            current, current_w = [word], w
            continue
        if current:
            lines.append(" ".join(current))
            if len(lines) > max_lines:
                break
        # A word wider than the column is broken where it must be.
        while w > width:
            cut = _fit_chars(word, font, size, width)
            lines.append(word[:cut])
            word = word[cut:]
            w = string_width(word, font, size)
        current, current_w = [word], w
    if current and len(lines) <= max_lines:
        lines.append(" ".join(current))
    if len(lines) > max_lines:
        kept = lines[:max_lines]
        kept[-1] = ellipsize(kept[-1] + " " + lines[max_lines], font, size, width, force=True)
        return kept
    return lines


def ellipsize(text: str, font: str, size: float, width: float, force: bool = False) -> str:
    """``text`` if it fits, else the longest prefix that fits with '…' (always if ``force``)."""
    if not force and string_width(text, font, size) <= width:
        return text
    ell = "…"
    lo, hi = 0, len(text)
    while lo < hi:  # binary search on the prefix length
        mid = (lo + hi + 1) // 2
        if string_width(text[:mid].rstrip() + ell, font, size) <= width:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo].rstrip() + ell


def fit_size(text: str, font: str, size: float, width: float, smallest: float) -> float:
    """The largest size (down to ``smallest``) at which ``text`` fits ``width``."""
    while size > smallest and string_width(text, font, size) > width:
        size = max(smallest, size - 0.5)
    return size


def _fit_chars(word: str, font: str, size: float, width: float) -> int:
    lo, hi = 1, len(word)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if string_width(word[:mid], font, size) <= width:
            lo = mid
        else:
            hi = mid - 1
    return max(1, lo)
