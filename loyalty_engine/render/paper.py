"""Paper and window envelopes: page sizes, margins, tri-fold lines and where the address sits.

A printed list is mailed tri-folded in a window envelope, so page 1's top third is laid out
to the envelope: the member's address shows through the window and nothing else prints left
of the window's right edge. US Letter goes in a US #10 window envelope, A4 in a DL one.
"""
from __future__ import annotations

from dataclasses import dataclass

MM = 72 / 25.4


@dataclass(frozen=True)
class PaperSpec:
    """Page size and the window-envelope geometry (all in points, y measured from the top)."""

    name: str
    width: float
    height: float
    margin: float
    folds: tuple[float, float]  # tri-fold lines from the top
    address_left: float
    window_right: float  # right edge of the envelope window: nothing else prints left of it
    return_baseline: float  # the small return line above the address
    address_baseline: float  # first address line
    envelope: str

    @property
    def content_width(self) -> float:
        return self.width - 2 * self.margin


# US #10 window envelope (window 4 1/2 x 1 1/8 in, 7/8 in from the left, 1/2 in from the
# bottom) with the Letter sheet tri-folded: the address block sits 1 in from the left edge,
# 2.1-2.9 in from the top; nothing else prints left of the window's right edge (5 3/8 in).
LETTER = PaperSpec(
    name="letter", width=612.0, height=792.0, margin=40.0, folds=(264.0, 528.0),
    address_left=72.0, window_right=387.0, return_baseline=152.0, address_baseline=170.0,
    envelope="US #10 window envelope",
)
# DIN 5008 form B on a DL window envelope: address field 20 mm from the left, 45 mm from the
# top; fold marks at 105 and 210 mm.
A4 = PaperSpec(
    name="a4", width=595.2756, height=841.8898, margin=40.0, folds=(105 * MM, 210 * MM),
    address_left=25 * MM, window_right=110 * MM, return_baseline=51 * MM, address_baseline=63 * MM,
    envelope="DL window envelope (DIN 5008 form B)",
)
PAPERS = {"letter": LETTER, "a4": A4}


def paper_for(name: str) -> PaperSpec:
    """The paper called ``name`` (letter or a4, any case), or :class:`ValueError`."""
    try:
        return PAPERS[name.lower()]
    except KeyError:
        raise ValueError(f"paper must be one of {', '.join(PAPERS)}, got {name!r}") from None
