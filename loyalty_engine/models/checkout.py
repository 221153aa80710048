"""Models for lanes, API keys, redemptions, idempotency records (issue 6)."""
from __future__ import annotations

from .base import Base  # noqa: F401
