"""results: members' lifecycle stage by week, stored period results, hold-outs' cells

* ``member_stage_history``: the nightly lifecycle job keeps each member's stage per week
  (``member_profiles`` only holds the latest run).
* ``result_periods`` / ``result_rows``: a list period's computed results, read by the CLI
  and the console instead of scan lines.
* ``list_holdouts`` gains the held-out member's cell (brand loyalty, usage tier), lifecycle
  stage and, for a member hold-out, the kind of list it would have had, so lift can be
  measured per cell and for win-back lists.

Revision ID: 0009
Revises: 0008
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None

_HOLDOUT_COLUMNS = ("brand_loyalty", "usage_tier", "lifecycle_stage", "list_kind")


def upgrade() -> None:
    op.create_table(
        "member_stage_history",
        sa.Column("member_key", sa.BigInteger(), nullable=False),
        sa.Column("week_start", sa.Date(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("lifecycle_stage", sa.String(length=16), nullable=False),
        sa.Column("value_tier", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["member_key"], ["members.id"], ondelete="CASCADE",
                                name="fk_member_stage_history_member_key_members"),
        sa.PrimaryKeyConstraint("member_key", "week_start", name="pk_member_stage_history"),
    )
    op.create_index("ix_member_stage_history_week", "member_stage_history", ["week_start", "lifecycle_stage"])
    op.create_table(
        "result_periods",
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pre_weeks", sa.Integer(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("period_start", name="pk_result_periods"),
    )
    op.create_table(
        "result_rows",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("dimension", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("offer_id", sa.BigInteger(), nullable=True),
        sa.Column("manufacturer_id", sa.String(length=64), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["period_start"], ["result_periods.period_start"], ondelete="CASCADE",
                                name="fk_result_rows_period_start_result_periods"),
        sa.PrimaryKeyConstraint("id", name="pk_result_rows"),
    )
    op.create_index("ix_result_rows_period_dimension", "result_rows", ["period_start", "dimension"])
    op.create_index("ix_result_rows_offer", "result_rows", ["offer_id"])
    with op.batch_alter_table("list_holdouts") as batch:
        for name in _HOLDOUT_COLUMNS:
            batch.add_column(sa.Column(name, sa.String(length=16), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("list_holdouts") as batch:
        for name in reversed(_HOLDOUT_COLUMNS):
            batch.drop_column(name)
    op.drop_index("ix_result_rows_offer", table_name="result_rows")
    op.drop_index("ix_result_rows_period_dimension", table_name="result_rows")
    op.drop_table("result_rows")
    op.drop_table("result_periods")
    op.drop_index("ix_member_stage_history_week", table_name="member_stage_history")
    op.drop_table("member_stage_history")
