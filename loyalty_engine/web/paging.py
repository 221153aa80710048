"""The ``page`` query argument of the paged console and portal tables."""
from __future__ import annotations

from flask import request

MAX_PAGE = 1_000_000  # keeps (page - 1) x rows an offset every database takes


def page_arg() -> int:
    """The requested page, 1 when missing or not a number, clamped to 1..MAX_PAGE."""
    return min(max(request.args.get("page", 1, type=int) or 1, 1), MAX_PAGE)
