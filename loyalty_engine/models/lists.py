"""Models for shopping lists and their lines, hold-outs (issue 4)."""
from __future__ import annotations

from .base import Base  # noqa: F401
