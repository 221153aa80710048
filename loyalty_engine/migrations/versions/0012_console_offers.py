"""console: offer approval workflow, stored aggregates for the console's pages

* ``offers``: the ``submitted`` status (the approval queue) and who submitted/approved, when.
* ``member_profiles.norm_trips_per_week``: the member's own trip rate norm, so the members-at-risk
  page can say how far the recent rate fell.
* ``segment_cells`` (the 3 x 3 grid per category per nightly run), ``segment_moves`` (members
  moving between its cells, run against run), ``redemption_days`` (the
  ledger per day and offer) and ``offer_forecasts`` (the last forecast run of an offer).

Revision ID: 0012
Revises: 0011
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_OLD_STATUSES = "status IN ('draft', 'active', 'paused', 'ended')"
_NEW_STATUSES = "status IN ('draft', 'submitted', 'active', 'paused', 'ended')"


def upgrade() -> None:
    with op.batch_alter_table("offers") as batch:
        batch.drop_constraint(op.f("ck_offers_status"), type_="check")
        batch.create_check_constraint("status", _NEW_STATUSES)
        batch.add_column(sa.Column("submitted_by", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("approved_by", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("member_profiles") as batch:
        batch.add_column(sa.Column("norm_trips_per_week", sa.Float(), nullable=True))

    op.create_table(
        "segment_cells",
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=False),
        sa.Column("brand_loyalty", sa.String(length=16), nullable=False),
        sa.Column("usage_tier", sa.String(length=16), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.Column("spend_cents", sa.BigInteger(), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("interval_days", sa.Float(), nullable=True),
        sa.CheckConstraint("brand_loyalty IN ('national', 'store', 'switcher', 'unsegmented')",
                           name=op.f("ck_segment_cells_brand_loyalty")),
        sa.CheckConstraint("usage_tier IN ('low', 'medium', 'high', 'unsegmented')",
                           name=op.f("ck_segment_cells_usage_tier")),
        sa.PrimaryKeyConstraint("as_of", "category", "brand_loyalty", "usage_tier", name=op.f("pk_segment_cells")),
    )
    moves = ("'national:low', 'national:medium', 'national:high', 'store:low', 'store:medium', 'store:high', "
             "'switcher:low', 'switcher:medium', 'switcher:high', 'unsegmented', 'none'")
    op.create_table(
        "segment_moves",
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=False),
        sa.Column("from_cell", sa.String(length=16), nullable=False),
        sa.Column("to_cell", sa.String(length=16), nullable=False),
        sa.Column("since", sa.Date(), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.CheckConstraint(f"from_cell IN ({moves})", name=op.f("ck_segment_moves_from_cell")),
        sa.CheckConstraint(f"to_cell IN ({moves})", name=op.f("ck_segment_moves_to_cell")),
        sa.PrimaryKeyConstraint("as_of", "category", "from_cell", "to_cell", name=op.f("pk_segment_moves")),
    )
    op.create_table(
        "redemption_days",
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("offer_id", sa.BigInteger(), nullable=False),
        sa.Column("applications", sa.BigInteger(), nullable=False),
        sa.Column("discount_cents", sa.BigInteger(), nullable=False),
        sa.Column("funded_cents", sa.BigInteger(), nullable=False),
        sa.Column("handling_fee_cents", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["offer_id"], ["offers.id"], name=op.f("fk_redemption_days_offer_id_offers"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("business_date", "offer_id", name=op.f("pk_redemption_days")),
    )
    op.create_index("ix_redemption_days_offer", "redemption_days", ["offer_id", "business_date"])
    op.create_table(
        "offer_forecasts",
        sa.Column("offer_id", sa.BigInteger(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("definition_sha256", sa.String(length=64), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("computed_by", sa.String(length=100), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["offer_id"], ["offers.id"], name=op.f("fk_offer_forecasts_offer_id_offers"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("offer_id", name=op.f("pk_offer_forecasts")),
    )


def downgrade() -> None:
    op.drop_table("offer_forecasts")
    op.drop_index("ix_redemption_days_offer", table_name="redemption_days")
    op.drop_table("redemption_days")
    op.drop_table("segment_moves")
    op.drop_table("segment_cells")
    with op.batch_alter_table("member_profiles") as batch:
        batch.drop_column("norm_trips_per_week")
    op.execute("UPDATE offers SET status = 'draft' WHERE status = 'submitted'")
    with op.batch_alter_table("offers") as batch:
        batch.drop_column("approved_at")
        batch.drop_column("approved_by")
        batch.drop_column("submitted_at")
        batch.drop_column("submitted_by")
        batch.drop_constraint(op.f("ck_offers_status"), type_="check")
        batch.create_check_constraint("status", _OLD_STATUSES)
