"""The chain's brand: its name, its store brand and its colours, one source for every surface.

The defaults are the synthetic demo chain's (``loyalty-engine generate`` and ``demo`` build
it under this name), so out of the box the demo's stores, products, printed lists, member
pages and CLI all say the same thing. A deployment sets ``LOYALTY_CHAIN_NAME``,
``LOYALTY_STORE_BRAND``, ``LOYALTY_BRAND_COLOR`` and ``LOYALTY_ACCENT_COLOR``
(:class:`loyalty_engine.config.Config`); the synthetic generator takes the same settings, so
a generated chain carries the configured brand too.
"""
from __future__ import annotations

import re

DEFAULT_CHAIN_NAME = "Driftless Markets"
DEFAULT_STORE_BRAND = "Driftless Select"
DEFAULT_BRAND_COLOR = "#0B6E4F"  # headings, rules, the logo monogram, panels (tinted)
DEFAULT_ACCENT_COLOR = "#C8102E"  # benefits and the savings amount

_HEX_COLOR = re.compile(r"#[0-9A-Fa-f]{6}")


def produce_brand(chain_name: str) -> str:
    """The own label of loose produce: the chain's first word + "Fresh" ("Driftless Fresh")."""
    words = chain_name.replace("'s", "").split()
    return f"{words[0]} Fresh" if words else "Fresh"


def monogram(chain_name: str) -> str:
    """Up to two initials for the logo area when the chain has no logo file ("DM")."""
    return "".join(w[0] for w in chain_name.replace("'s", "").split()[:2]).upper() or "?"


def check_color(name: str, value: str) -> str:
    """``value`` when it is #RRGGBB, else a ValueError naming the setting."""
    if not _HEX_COLOR.fullmatch(value):
        raise ValueError(f"{name} must be #RRGGBB, got {value!r}")
    return value


__all__ = [
    "DEFAULT_ACCENT_COLOR", "DEFAULT_BRAND_COLOR", "DEFAULT_CHAIN_NAME", "DEFAULT_STORE_BRAND",
    "check_color", "monogram", "produce_brand",
]
