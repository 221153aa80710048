"""console: users, sessions, audit log (slot)

Revision ID: 0011
Revises: 0006
"""
from __future__ import annotations

from alembic import op  # noqa: F401

revision = "0011"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
