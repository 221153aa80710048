"""Models for member model state (segments, lifecycle snapshots) if persisted (issue 3)."""
from __future__ import annotations

from .base import Base  # noqa: F401
