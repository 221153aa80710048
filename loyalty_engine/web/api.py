"""Lane API for POS checkouts, versioned under /api/v1 (issue 6)."""
from __future__ import annotations

from flask import Blueprint, jsonify

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.get("/health")
def health():  # type: ignore[no-untyped-def]
    return jsonify({"status": "ok"})
