"""Models for scheduler lease and job run history (issue 4)."""
from __future__ import annotations

from .base import Base  # noqa: F401
