"""Member pages: the member's current shopping list at /m/<token> (issue 5)."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("member", __name__, url_prefix="/m")
