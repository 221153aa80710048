"""offers and shopping lists: offers, offer_products, content, list builds, lists, lines, hold-outs

Revision ID: 0003
Revises: 0002
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('content_items',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('slug', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('category', sa.String(length=100), nullable=True),
    sa.Column('target_stages', sa.JSON(), nullable=True),
    sa.Column('min_value_tier', sa.Integer(), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=True),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('recipe', 'tip', 'perk')", name=op.f('ck_content_items_kind')),
    sa.CheckConstraint("status IN ('active', 'paused', 'ended')", name=op.f('ck_content_items_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_content_items')),
    sa.UniqueConstraint('slug', name=op.f('uq_content_items_slug'))
    )
    op.create_table('list_builds',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('cohort', sa.String(length=1), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('holdout_seed', sa.BigInteger(), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('counts', sa.JSON(), nullable=False),
    sa.Column('eligible_members', sa.Integer(), nullable=False),
    sa.Column('holdout_members', sa.Integer(), nullable=False),
    sa.Column('lists_built', sa.Integer(), nullable=False),
    sa.Column('lines_built', sa.Integer(), nullable=False),
    sa.Column('total_face_cents', sa.BigInteger(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("cohort IN ('A', 'B')", name=op.f('ck_list_builds_cohort')),
    sa.CheckConstraint("status IN ('building', 'complete', 'replaced', 'failed')", name=op.f('ck_list_builds_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_list_builds'))
    )
    with op.batch_alter_table('list_builds', schema=None) as batch_op:
        batch_op.create_index('ix_list_builds_period', ['period_start', 'cohort'], unique=False)
        batch_op.create_index('uq_list_builds_live', ['period_start', 'cohort'], unique=True,
                              sqlite_where=sa.text("status IN ('building', 'complete')"),
                              postgresql_where=sa.text("status IN ('building', 'complete')"))

    op.create_table('serial_counters',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_serial_counters'))
    )
    op.create_table('offers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('slug', sa.String(length=100), nullable=False),
    sa.Column('offer_code', sa.String(length=6), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('funder_kind', sa.String(length=16), nullable=False),
    sa.Column('manufacturer_id', sa.String(length=64), nullable=True),
    sa.Column('scope_kind', sa.String(length=16), nullable=False),
    sa.Column('scope_values', sa.JSON(), nullable=False),
    sa.Column('scope_brand_type', sa.String(length=10), nullable=True),
    sa.Column('scope_category', sa.String(length=100), nullable=True),
    sa.Column('segment_category', sa.String(length=100), nullable=False),
    sa.Column('department', sa.String(length=100), nullable=False),
    sa.Column('match_on', sa.String(length=16), nullable=False),
    sa.Column('target_cells', sa.JSON(), nullable=True),
    sa.Column('target_stages', sa.JSON(), nullable=True),
    sa.Column('min_probability', sa.Float(), nullable=False),
    sa.Column('benefit_kind', sa.String(length=16), nullable=False),
    sa.Column('benefit_low', sa.BigInteger(), nullable=False),
    sa.Column('benefit_medium', sa.BigInteger(), nullable=False),
    sa.Column('benefit_high', sa.BigInteger(), nullable=False),
    sa.Column('min_quantity', sa.Integer(), nullable=False),
    sa.Column('redemption_limit', sa.Integer(), nullable=False),
    sa.Column('stackable', sa.Boolean(), nullable=False),
    sa.Column('funded_share_bp', sa.Integer(), nullable=False),
    sa.Column('handling_fee_cents', sa.Integer(), nullable=False),
    sa.Column('budget_cents', sa.BigInteger(), nullable=True),
    sa.Column('max_redemptions', sa.BigInteger(), nullable=True),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('holdout_share', sa.Float(), nullable=False),
    sa.Column('redeemed_count', sa.BigInteger(), nullable=False),
    sa.Column('funded_spent_cents', sa.BigInteger(), nullable=False),
    sa.Column('discount_given_cents', sa.BigInteger(), nullable=False),
    sa.Column('definition', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("benefit_kind IN ('amount_off', 'percent_off', 'fixed_price')", name=op.f('ck_offers_benefit_kind')),
    sa.CheckConstraint("funder_kind IN ('manufacturer', 'retailer')", name=op.f('ck_offers_funder_kind')),
    sa.CheckConstraint("match_on IN ('scope', 'subcategory', 'category')", name=op.f('ck_offers_match_on')),
    sa.CheckConstraint("scope_kind IN ('skus', 'brand', 'subcategory', 'category')", name=op.f('ck_offers_scope_kind')),
    sa.CheckConstraint("status IN ('draft', 'active', 'paused', 'ended')", name=op.f('ck_offers_status')),
    sa.CheckConstraint('budget_cents IS NULL OR funded_spent_cents <= budget_cents', name=op.f('ck_offers_budget_cap')),
    sa.CheckConstraint('funded_share_bp BETWEEN 0 AND 10000', name=op.f('ck_offers_funded_share_bp')),
    sa.CheckConstraint('funded_spent_cents >= 0', name=op.f('ck_offers_funded_spent_cents')),
    sa.CheckConstraint('handling_fee_cents >= 0', name=op.f('ck_offers_handling_fee_cents')),
    sa.CheckConstraint('max_redemptions IS NULL OR redeemed_count <= max_redemptions', name=op.f('ck_offers_redemption_cap')),
    sa.CheckConstraint('min_quantity >= 1', name=op.f('ck_offers_min_quantity')),
    sa.CheckConstraint('redeemed_count >= 0', name=op.f('ck_offers_redeemed_count')),
    sa.CheckConstraint('redemption_limit >= 1', name=op.f('ck_offers_redemption_limit')),
    sa.CheckConstraint('valid_to >= valid_from', name=op.f('ck_offers_validity')),
    sa.ForeignKeyConstraint(['manufacturer_id'], ['manufacturers.id'], name=op.f('fk_offers_manufacturer_id_manufacturers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_offers')),
    sa.UniqueConstraint('offer_code', name=op.f('uq_offers_offer_code')),
    sa.UniqueConstraint('slug', name=op.f('uq_offers_slug'))
    )
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_offers_manufacturer_id'), ['manufacturer_id'], unique=False)
        batch_op.create_index('ix_offers_status_validity', ['status', 'valid_from', 'valid_to'], unique=False)

    op.create_table('list_holdouts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('build_id', sa.BigInteger(), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('member_key', sa.BigInteger(), nullable=False),
    sa.Column('offer_id', sa.BigInteger(), nullable=True),
    sa.Column('probability', sa.Float(), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['build_id'], ['list_builds.id'], name=op.f('fk_list_holdouts_build_id_list_builds'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['member_key'], ['members.id'], name=op.f('fk_list_holdouts_member_key_members')),
    sa.ForeignKeyConstraint(['offer_id'], ['offers.id'], name=op.f('fk_list_holdouts_offer_id_offers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_list_holdouts'))
    )
    with op.batch_alter_table('list_holdouts', schema=None) as batch_op:
        batch_op.create_index('ix_list_holdouts_build_member', ['build_id', 'member_key'], unique=False)
        batch_op.create_index('ix_list_holdouts_offer', ['offer_id'], unique=False)

    op.create_table('offer_products',
    sa.Column('offer_id', sa.BigInteger(), nullable=False),
    sa.Column('product_key', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['offer_id'], ['offers.id'], name=op.f('fk_offer_products_offer_id_offers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['product_key'], ['products.id'], name=op.f('fk_offer_products_product_key_products')),
    sa.PrimaryKeyConstraint('offer_id', 'product_key', name=op.f('pk_offer_products'))
    )
    with op.batch_alter_table('offer_products', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_offer_products_product_key'), ['product_key'], unique=False)

    op.create_table('shopping_lists',
    sa.Column('id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('list_number', sa.String(length=13), nullable=False),
    sa.Column('build_id', sa.BigInteger(), nullable=False),
    sa.Column('member_key', sa.BigInteger(), nullable=False),
    sa.Column('store_id', sa.String(length=32), nullable=True),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('cohort', sa.String(length=1), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('lifecycle_stage', sa.String(length=16), nullable=False),
    sa.Column('value_tier', sa.SmallInteger(), nullable=False),
    sa.Column('face_cap_cents', sa.BigInteger(), nullable=False),
    sa.Column('total_face_cents', sa.BigInteger(), nullable=False),
    sa.Column('line_count', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("cohort IN ('A', 'B')", name=op.f('ck_shopping_lists_cohort')),
    sa.CheckConstraint("kind IN ('regular', 'winback')", name=op.f('ck_shopping_lists_kind')),
    sa.CheckConstraint("status IN ('active', 'expired', 'replaced')", name=op.f('ck_shopping_lists_status')),
    sa.ForeignKeyConstraint(['build_id'], ['list_builds.id'], name=op.f('fk_shopping_lists_build_id_list_builds')),
    sa.ForeignKeyConstraint(['member_key'], ['members.id'], name=op.f('fk_shopping_lists_member_key_members')),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_shopping_lists_store_id_stores')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shopping_lists')),
    sa.UniqueConstraint('list_number', name=op.f('uq_shopping_lists_list_number'))
    )
    with op.batch_alter_table('shopping_lists', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shopping_lists_build_id'), ['build_id'], unique=False)
        batch_op.create_index('ix_shopping_lists_member_period', ['member_key', 'period_start'], unique=False)
        batch_op.create_index('ix_shopping_lists_period_status', ['period_start', 'status'], unique=False)

    op.create_table('shopping_list_content',
    sa.Column('list_id', sa.BigInteger(), nullable=False),
    sa.Column('position', sa.SmallInteger(), nullable=False),
    sa.Column('content_id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['content_id'], ['content_items.id'], name=op.f('fk_shopping_list_content_content_id_content_items')),
    sa.ForeignKeyConstraint(['list_id'], ['shopping_lists.id'], name=op.f('fk_shopping_list_content_list_id_shopping_lists'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('list_id', 'position', name=op.f('pk_shopping_list_content'))
    )
    op.create_table('shopping_list_lines',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('list_id', sa.BigInteger(), nullable=False),
    sa.Column('line_no', sa.SmallInteger(), nullable=False),
    sa.Column('offer_id', sa.BigInteger(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('benefit_text', sa.String(length=200), nullable=False),
    sa.Column('department', sa.String(length=100), nullable=False),
    sa.Column('category', sa.String(length=100), nullable=False),
    sa.Column('brand_loyalty', sa.String(length=16), nullable=False),
    sa.Column('usage_tier', sa.String(length=16), nullable=False),
    sa.Column('benefit_kind', sa.String(length=16), nullable=False),
    sa.Column('benefit_value', sa.BigInteger(), nullable=False),
    sa.Column('min_quantity', sa.Integer(), nullable=False),
    sa.Column('redemption_limit', sa.Integer(), nullable=False),
    sa.Column('face_value_cents', sa.BigInteger(), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=False),
    sa.Column('probability', sa.Float(), nullable=False),
    sa.Column('expected_value_cents', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.JSON(), nullable=False),
    sa.Column('redeemed_count', sa.Integer(), nullable=False),
    sa.CheckConstraint("benefit_kind IN ('amount_off', 'percent_off', 'fixed_price')", name=op.f('ck_shopping_list_lines_benefit_kind')),
    sa.CheckConstraint('redeemed_count >= 0 AND redeemed_count <= redemption_limit', name=op.f('ck_shopping_list_lines_redeemed_count')),
    sa.CheckConstraint('redemption_limit >= 1', name=op.f('ck_shopping_list_lines_redemption_limit')),
    sa.ForeignKeyConstraint(['list_id'], ['shopping_lists.id'], name=op.f('fk_shopping_list_lines_list_id_shopping_lists'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['offer_id'], ['offers.id'], name=op.f('fk_shopping_list_lines_offer_id_offers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shopping_list_lines')),
    sa.UniqueConstraint('list_id', 'line_no', name='uq_shopping_list_lines_list_line'),
    sa.UniqueConstraint('list_id', 'offer_id', name='uq_shopping_list_lines_list_offer')
    )
    with op.batch_alter_table('shopping_list_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shopping_list_lines_offer_id'), ['offer_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('shopping_list_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shopping_list_lines_offer_id'))

    op.drop_table('shopping_list_lines')
    op.drop_table('shopping_list_content')
    with op.batch_alter_table('shopping_lists', schema=None) as batch_op:
        batch_op.drop_index('ix_shopping_lists_period_status')
        batch_op.drop_index('ix_shopping_lists_member_period')
        batch_op.drop_index(batch_op.f('ix_shopping_lists_build_id'))

    op.drop_table('shopping_lists')
    with op.batch_alter_table('offer_products', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_offer_products_product_key'))

    op.drop_table('offer_products')
    with op.batch_alter_table('list_holdouts', schema=None) as batch_op:
        batch_op.drop_index('ix_list_holdouts_offer')
        batch_op.drop_index('ix_list_holdouts_build_member')

    op.drop_table('list_holdouts')
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.drop_index('ix_offers_status_validity')
        batch_op.drop_index(batch_op.f('ix_offers_manufacturer_id'))

    op.drop_table('offers')
    op.drop_table('serial_counters')
    with op.batch_alter_table('list_builds', schema=None) as batch_op:
        batch_op.drop_index('uq_list_builds_live')
        batch_op.drop_index('ix_list_builds_period')

    op.drop_table('list_builds')
    op.drop_table('content_items')
