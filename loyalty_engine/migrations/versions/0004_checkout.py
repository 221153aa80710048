"""checkout: lanes, lane API keys, checkouts (idempotency records), redemption ledger

Revision ID: 0004
Revises: 0003
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('lanes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('store_id', sa.String(length=32), nullable=False),
    sa.Column('lane_code', sa.String(length=16), nullable=False),
    sa.Column('description', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_lanes_store_id_stores')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lanes')),
    sa.UniqueConstraint('store_id', 'lane_code', name='uq_lanes_store_lane')
    )
    op.create_table('lane_api_keys',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('lane_id', sa.BigInteger(), nullable=False),
    sa.Column('key_id', sa.String(length=32), nullable=False),
    sa.Column('secret_sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['lane_id'], ['lanes.id'], name=op.f('fk_lane_api_keys_lane_id_lanes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lane_api_keys')),
    sa.UniqueConstraint('key_id', name=op.f('uq_lane_api_keys_key_id'))
    )
    with op.batch_alter_table('lane_api_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lane_api_keys_lane_id'), ['lane_id'], unique=False)

    op.create_table('checkouts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('store_id', sa.String(length=32), nullable=False),
    sa.Column('lane_code', sa.String(length=16), nullable=False),
    sa.Column('pos_transaction_id', sa.String(length=40), nullable=False),
    sa.Column('transaction_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('member_key', sa.BigInteger(), nullable=True),
    sa.Column('list_id', sa.BigInteger(), nullable=True),
    sa.Column('original_transaction_id', sa.String(length=64), nullable=True),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('request_sha256', sa.String(length=64), nullable=False),
    sa.Column('request_body', sa.Text(), nullable=False),
    sa.Column('response_status', sa.Integer(), nullable=False),
    sa.Column('response_body', sa.LargeBinary(), nullable=False),
    sa.Column('total_amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('total_discount_cents', sa.BigInteger(), nullable=False),
    sa.Column('api_key_id', sa.BigInteger(), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('voided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('void_reason', sa.String(length=200), nullable=True),
    sa.Column('void_lane_code', sa.String(length=16), nullable=True),
    sa.Column('void_request_id', sa.String(length=64), nullable=True),
    sa.CheckConstraint("kind IN ('sale', 'return')", name=op.f('ck_checkouts_kind')),
    sa.CheckConstraint("status IN ('completed', 'voided')", name=op.f('ck_checkouts_status')),
    sa.ForeignKeyConstraint(['api_key_id'], ['lane_api_keys.id'], name=op.f('fk_checkouts_api_key_id_lane_api_keys')),
    sa.ForeignKeyConstraint(['list_id'], ['shopping_lists.id'], name=op.f('fk_checkouts_list_id_shopping_lists')),
    sa.ForeignKeyConstraint(['member_key'], ['members.id'], name=op.f('fk_checkouts_member_key_members')),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_checkouts_store_id_stores')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_checkouts')),
    sa.UniqueConstraint('store_id', 'lane_code', 'pos_transaction_id', name='uq_checkouts_idempotency_key'),
    sa.UniqueConstraint('transaction_id', name=op.f('uq_checkouts_transaction_id'))
    )
    with op.batch_alter_table('checkouts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_checkouts_list_id'), ['list_id'], unique=False)
        batch_op.create_index('ix_checkouts_member', ['member_key'], unique=False)
        batch_op.create_index('ix_checkouts_original', ['original_transaction_id'], unique=False)

    op.create_table('redemptions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('event', sa.String(length=10), nullable=False),
    sa.Column('checkout_id', sa.BigInteger(), nullable=False),
    sa.Column('transaction_id', sa.String(length=64), nullable=False),
    sa.Column('list_id', sa.BigInteger(), nullable=False),
    sa.Column('list_line_id', sa.BigInteger(), nullable=False),
    sa.Column('list_line_no', sa.Integer(), nullable=False),
    sa.Column('offer_id', sa.BigInteger(), nullable=False),
    sa.Column('member_key', sa.BigInteger(), nullable=False),
    sa.Column('store_id', sa.String(length=32), nullable=False),
    sa.Column('lane_code', sa.String(length=16), nullable=False),
    sa.Column('api_key_id', sa.BigInteger(), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('applications', sa.Integer(), nullable=False),
    sa.Column('units', sa.Integer(), nullable=False),
    sa.Column('discount_cents', sa.BigInteger(), nullable=False),
    sa.Column('funded_cents', sa.BigInteger(), nullable=False),
    sa.Column('handling_fee_cents', sa.BigInteger(), nullable=False),
    sa.Column('funder_kind', sa.String(length=16), nullable=False),
    sa.Column('manufacturer_id', sa.String(length=64), nullable=True),
    sa.Column('reverses_id', sa.BigInteger(), nullable=True),
    sa.Column('reversal_kind', sa.String(length=8), nullable=True),
    sa.Column('request_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("event IN ('redeemed', 'reversed')", name=op.f('ck_redemptions_event')),
    sa.CheckConstraint("reversal_kind IS NULL OR reversal_kind IN ('void', 'return')", name=op.f('ck_redemptions_reversal_kind')),
    sa.ForeignKeyConstraint(['api_key_id'], ['lane_api_keys.id'], name=op.f('fk_redemptions_api_key_id_lane_api_keys')),
    sa.ForeignKeyConstraint(['checkout_id'], ['checkouts.id'], name=op.f('fk_redemptions_checkout_id_checkouts')),
    sa.ForeignKeyConstraint(['list_id'], ['shopping_lists.id'], name=op.f('fk_redemptions_list_id_shopping_lists')),
    sa.ForeignKeyConstraint(['list_line_id'], ['shopping_list_lines.id'], name=op.f('fk_redemptions_list_line_id_shopping_list_lines')),
    sa.ForeignKeyConstraint(['member_key'], ['members.id'], name=op.f('fk_redemptions_member_key_members')),
    sa.ForeignKeyConstraint(['offer_id'], ['offers.id'], name=op.f('fk_redemptions_offer_id_offers')),
    sa.ForeignKeyConstraint(['reverses_id'], ['redemptions.id'], name=op.f('fk_redemptions_reverses_id_redemptions')),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_redemptions_store_id_stores')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_redemptions'))
    )
    with op.batch_alter_table('redemptions', schema=None) as batch_op:
        batch_op.create_index('ix_redemptions_checkout', ['checkout_id'], unique=False)
        batch_op.create_index('ix_redemptions_list_line', ['list_line_id'], unique=False)
        batch_op.create_index('ix_redemptions_member', ['member_key'], unique=False)
        batch_op.create_index('ix_redemptions_offer', ['offer_id', 'business_date'], unique=False)
        batch_op.create_index('ix_redemptions_reverses', ['reverses_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('redemptions', schema=None) as batch_op:
        batch_op.drop_index('ix_redemptions_reverses')
        batch_op.drop_index('ix_redemptions_offer')
        batch_op.drop_index('ix_redemptions_member')
        batch_op.drop_index('ix_redemptions_list_line')
        batch_op.drop_index('ix_redemptions_checkout')

    op.drop_table('redemptions')
    with op.batch_alter_table('checkouts', schema=None) as batch_op:
        batch_op.drop_index('ix_checkouts_original')
        batch_op.drop_index('ix_checkouts_member')
        batch_op.drop_index(batch_op.f('ix_checkouts_list_id'))

    op.drop_table('checkouts')
    with op.batch_alter_table('lane_api_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lane_api_keys_lane_id'))

    op.drop_table('lane_api_keys')
    op.drop_table('lanes')
