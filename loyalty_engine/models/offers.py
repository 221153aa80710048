"""Models for offers, funding and non-price content (issue 4)."""
from __future__ import annotations

from .base import Base  # noqa: F401
