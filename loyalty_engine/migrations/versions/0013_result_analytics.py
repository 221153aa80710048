"""result analytics: each funder's anonymized analytics report stored with a period's results

* ``result_analytics``: one row per computed period and funder, the suppressed report as
  JSON and the settings used (minimum group size, trial weeks), so the manufacturer portal
  reads it instead of the period's scan lines.

Revision ID: 0013
Revises: 0012
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "result_analytics",
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("manufacturer_id", sa.String(length=64), nullable=False),
        sa.Column("min_group_size", sa.Integer(), nullable=False),
        sa.Column("trial_weeks", sa.Integer(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["period_start"], ["result_periods.period_start"],
                                name=op.f("fk_result_analytics_period_start_result_periods"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("period_start", "manufacturer_id", name=op.f("pk_result_analytics")),
    )


def downgrade() -> None:
    op.drop_table("result_analytics")
