"""returned units: which sale each returned unit came back from

A return basket records, per original sale and product, how many units it took back
(``returned_units``), whether or not they reversed a redemption. Returns by card that
reversed nothing were stored unlinked before, so the next return of the same sale did not
see them. Returns recorded before this migration that named their sale are copied in from
their returned scan lines.

Revision ID: 0007
Revises: 0008 (0008 reached main first; this one was written against 0006)
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "returned_units",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("return_checkout_id", sa.BigInteger(), nullable=False),
        sa.Column("original_checkout_id", sa.BigInteger(), nullable=False),
        sa.Column("product_key", sa.BigInteger(), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.CheckConstraint("units > 0", name=op.f("ck_returned_units_units")),
        sa.ForeignKeyConstraint(["return_checkout_id"], ["checkouts.id"],
                                name=op.f("fk_returned_units_return_checkout_id_checkouts")),
        sa.ForeignKeyConstraint(["original_checkout_id"], ["checkouts.id"],
                                name=op.f("fk_returned_units_original_checkout_id_checkouts")),
        sa.ForeignKeyConstraint(["product_key"], ["products.id"], name=op.f("fk_returned_units_product_key_products")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_returned_units")),
    )
    with op.batch_alter_table("returned_units") as batch_op:
        batch_op.create_index("ix_returned_units_original", ["original_checkout_id", "product_key"], unique=False)
        batch_op.create_index("ix_returned_units_return", ["return_checkout_id"], unique=False)
    # returns that named their sale (or reversed one of its redemptions) before this migration
    op.execute(
        """
        INSERT INTO returned_units (return_checkout_id, original_checkout_id, product_key, units)
        SELECT r.id, o.id, sl.product_key, SUM(-sl.quantity)
        FROM checkouts r
        JOIN checkouts o ON o.transaction_id = r.original_transaction_id
        JOIN scan_lines sl ON sl.transaction_id = r.transaction_id AND sl.quantity < 0
        WHERE r.status = 'completed'
          AND EXISTS (SELECT 1 FROM scan_lines s2 WHERE s2.transaction_id = o.transaction_id
                      AND s2.product_key = sl.product_key AND s2.quantity > 0)
        GROUP BY r.id, o.id, sl.product_key
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("returned_units") as batch_op:
        batch_op.drop_index("ix_returned_units_return")
        batch_op.drop_index("ix_returned_units_original")
    op.drop_table("returned_units")
