"""results: issued manufacturer statements, their stored lines and the ledger rows they cover

Revision ID: 0010
Revises: 0009
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "statements",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("statement_number", sa.String(length=80), nullable=False),
        sa.Column("manufacturer_id", sa.String(length=64), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retailer_name", sa.String(length=200), nullable=False),
        sa.Column("funder_name", sa.String(length=200), nullable=False),
        sa.Column("funder_gs1_prefix", sa.String(length=12), nullable=False),
        sa.Column("ledger_watermark", sa.BigInteger(), nullable=False),
        sa.Column("ledger_rows", sa.Integer(), nullable=False),
        sa.Column("redemptions", sa.BigInteger(), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("face_value_cents", sa.BigInteger(), nullable=False),
        sa.Column("funded_cents", sa.BigInteger(), nullable=False),
        sa.Column("handling_fee_cents", sa.BigInteger(), nullable=False),
        sa.Column("total_due_cents", sa.BigInteger(), nullable=False),
        sa.Column("adjustments_due_cents", sa.BigInteger(), nullable=False),
        sa.Column("reconciliation", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["manufacturer_id"], ["manufacturers.id"],
                                name=op.f("fk_statements_manufacturer_id_manufacturers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statements")),
        sa.UniqueConstraint("manufacturer_id", "period_start", name="uq_statements_funder_period"),
        sa.UniqueConstraint("statement_number", name=op.f("uq_statements_statement_number")),
    )
    op.create_index("ix_statements_period", "statements", ["period_start"], unique=False)
    op.create_table(
        "statement_lines",
        sa.Column("statement_id", sa.BigInteger(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("list_period_start", sa.Date(), nullable=False),
        sa.Column("week_start", sa.Date(), nullable=False),
        sa.Column("offer_id", sa.BigInteger(), nullable=False),
        sa.Column("offer_code", sa.String(length=6), nullable=False),
        sa.Column("offer_name", sa.String(length=200), nullable=False),
        sa.Column("funded_share_bp", sa.Integer(), nullable=False),
        sa.Column("redemptions", sa.BigInteger(), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("face_value_cents", sa.BigInteger(), nullable=False),
        sa.Column("funded_cents", sa.BigInteger(), nullable=False),
        sa.Column("handling_fee_cents", sa.BigInteger(), nullable=False),
        sa.Column("total_due_cents", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("kind IN ('current', 'adjustment')", name=op.f("ck_statement_lines_kind")),
        sa.ForeignKeyConstraint(["statement_id"], ["statements.id"], ondelete="CASCADE",
                                name=op.f("fk_statement_lines_statement_id_statements")),
        sa.PrimaryKeyConstraint("statement_id", "line_no", name=op.f("pk_statement_lines")),
    )
    op.create_table(
        "statement_coverage",
        sa.Column("redemption_id", sa.BigInteger(), nullable=False),
        sa.Column("statement_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["statement_id"], ["statements.id"], ondelete="CASCADE",
                                name=op.f("fk_statement_coverage_statement_id_statements")),
        sa.PrimaryKeyConstraint("redemption_id", name=op.f("pk_statement_coverage")),
    )
    op.create_index(op.f("ix_statement_coverage_statement_id"), "statement_coverage", ["statement_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_statement_coverage_statement_id"), table_name="statement_coverage")
    op.drop_table("statement_coverage")
    op.drop_table("statement_lines")
    op.drop_index("ix_statements_period", table_name="statements")
    op.drop_table("statements")
