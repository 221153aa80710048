"""model state: per-member lifecycle profile (issue 3)

Revision ID: 0002
Revises: 0001
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "member_profiles",
        sa.Column("member_key", sa.BigInteger(), sa.ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("lifecycle_stage", sa.String(16), nullable=False),
        sa.Column("value_tier", sa.String(16), nullable=False),
        sa.Column("weekly_spend_cents", sa.BigInteger(), nullable=False),
        sa.Column("clv_cents", sa.BigInteger(), nullable=False),
        sa.Column("trips_per_week", sa.Float(), nullable=False),
        sa.Column("repeat_rate", sa.Float(), nullable=False),
        sa.Column("top_category_share", sa.Float(), nullable=False),
        sa.Column("p_alive", sa.Float(), nullable=False),
        sa.Column("trips", sa.Integer(), nullable=False),
        sa.Column("days_since_last_trip", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "lifecycle_stage IN ('new', 'developing', 'established', 'declining', 'lapsed')",
            name=op.f("ck_member_profiles_lifecycle_stage"),
        ),
    )
    op.create_index("ix_member_profiles_stage", "member_profiles", ["lifecycle_stage", "value_tier"])


def downgrade() -> None:
    op.drop_index("ix_member_profiles_stage", table_name="member_profiles")
    op.drop_table("member_profiles")
