"""offer exclusion groups: a store-brand trial and a national-brand coupon of one category
never share a list

``offers.exclusion_group`` names the group; ``offers.exclusion_side`` is the brand type of
every product in the offer's scope ('store' or 'national'; NULL for a mixed scope, which
excludes nothing). Offers already stored get the default the offer service gives new ones:
a scope of one brand type within one category is in that category's group (lower case).

Revision ID: 0008
Revises: 0006
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None

# One brand type and one category across the offer's products, else NULL (no row).
_SIDE = """
    SELECT MIN(p.brand_type) FROM offer_products op JOIN products p ON p.id = op.product_key
    WHERE op.offer_id = offers.id
    HAVING COUNT(DISTINCT p.brand_type) = 1 AND COUNT(DISTINCT p.category) = 1
"""
_GROUP = """
    SELECT LOWER(MIN(p.category)) FROM offer_products op JOIN products p ON p.id = op.product_key
    WHERE op.offer_id = offers.id
    HAVING COUNT(DISTINCT p.brand_type) = 1 AND COUNT(DISTINCT p.category) = 1
"""


def upgrade() -> None:
    with op.batch_alter_table("offers") as batch:
        batch.add_column(sa.Column("exclusion_group", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("exclusion_side", sa.String(length=10), nullable=True))
    op.execute(f"UPDATE offers SET exclusion_side = ({_SIDE}), exclusion_group = ({_GROUP})")


def downgrade() -> None:
    with op.batch_alter_table("offers") as batch:
        batch.drop_column("exclusion_side")
        batch.drop_column("exclusion_group")
