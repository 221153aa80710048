"""results: per-period history of members' lifecycle stages (filled in by the results work)

Revision ID: 0009
Revises: 0006
"""
from __future__ import annotations

from alembic import op  # noqa: F401

revision = "0009"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
