"""foundation: stores, manufacturers, products, members, baskets, scan lines

Revision ID: 0001
Revises: 
Create Date: 2026-11-23 15:43:17.879742
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('manufacturers',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('gs1_company_prefix', sa.String(length=12), nullable=True),
    sa.Column('is_placeholder', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_manufacturers'))
    )
    op.create_table('stores',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('address_line', sa.String(length=200), nullable=False),
    sa.Column('city', sa.String(length=100), nullable=False),
    sa.Column('region', sa.String(length=50), nullable=False),
    sa.Column('postal_code', sa.String(length=20), nullable=False),
    sa.Column('is_placeholder', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stores'))
    )
    op.create_table('members',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('member_id', sa.String(length=64), nullable=False),
    sa.Column('card_number', sa.String(length=64), nullable=False),
    sa.Column('first_name', sa.String(length=100), nullable=False),
    sa.Column('last_name', sa.String(length=100), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('address_line', sa.String(length=200), nullable=False),
    sa.Column('city', sa.String(length=100), nullable=False),
    sa.Column('region', sa.String(length=50), nullable=False),
    sa.Column('postal_code', sa.String(length=20), nullable=False),
    sa.Column('home_store_id', sa.String(length=32), nullable=True),
    sa.Column('enrolled_at', sa.Date(), nullable=True),
    sa.Column('mail_opt_in', sa.Boolean(), nullable=False),
    sa.Column('app_opt_in', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('is_placeholder', sa.Boolean(), nullable=False),
    sa.CheckConstraint("status IN ('active', 'inactive', 'closed')", name=op.f('ck_members_status')),
    sa.ForeignKeyConstraint(['home_store_id'], ['stores.id'], name=op.f('fk_members_home_store_id_stores')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_members')),
    sa.UniqueConstraint('card_number', name=op.f('uq_members_card_number')),
    sa.UniqueConstraint('member_id', name=op.f('uq_members_member_id'))
    )
    op.create_table('products',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('sku', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('department', sa.String(length=100), nullable=False),
    sa.Column('category', sa.String(length=100), nullable=False),
    sa.Column('subcategory', sa.String(length=100), nullable=False),
    sa.Column('brand', sa.String(length=100), nullable=False),
    sa.Column('brand_type', sa.String(length=10), nullable=False),
    sa.Column('manufacturer_id', sa.String(length=64), nullable=True),
    sa.Column('size', sa.String(length=50), nullable=False),
    sa.Column('regular_price_cents', sa.BigInteger(), nullable=True),
    sa.Column('is_placeholder', sa.Boolean(), nullable=False),
    sa.CheckConstraint("brand_type IN ('national', 'store')", name=op.f('ck_products_brand_type')),
    sa.ForeignKeyConstraint(['manufacturer_id'], ['manufacturers.id'], name=op.f('fk_products_manufacturer_id_manufacturers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_products')),
    sa.UniqueConstraint('sku', name=op.f('uq_products_sku'))
    )
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_products_category'), ['category'], unique=False)
        batch_op.create_index(batch_op.f('ix_products_department'), ['department'], unique=False)
        batch_op.create_index(batch_op.f('ix_products_manufacturer_id'), ['manufacturer_id'], unique=False)

    op.create_table('transactions',
    sa.Column('transaction_id', sa.String(length=64), nullable=False),
    sa.Column('store_id', sa.String(length=32), nullable=False),
    sa.Column('member_key', sa.BigInteger(), nullable=True),
    sa.Column('scanned_at_local', sa.DateTime(), nullable=False),
    sa.Column('utc_offset_minutes', sa.SmallInteger(), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['member_key'], ['members.id'], name=op.f('fk_transactions_member_key_members')),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_transactions_store_id_stores')),
    sa.PrimaryKeyConstraint('transaction_id', name=op.f('pk_transactions'))
    )
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_transactions_business_date'), ['business_date'], unique=False)
        batch_op.create_index('ix_transactions_member_date', ['member_key', 'business_date'], unique=False)

    op.create_table('scan_lines',
    sa.Column('transaction_id', sa.String(length=64), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('product_key', sa.BigInteger(), nullable=False),
    sa.Column('member_key', sa.BigInteger(), nullable=True),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('discount_cents', sa.BigInteger(), nullable=False),
    # No FOREIGN KEYs on the fact table: per-row checks cost 5x on bulk import (see models/scans.py).
    sa.PrimaryKeyConstraint('transaction_id', 'line_no', name=op.f('pk_scan_lines'))
    )


def downgrade() -> None:
    op.drop_table('scan_lines')
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.drop_index('ix_transactions_member_date')
        batch_op.drop_index(batch_op.f('ix_transactions_business_date'))

    op.drop_table('transactions')
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_products_manufacturer_id'))
        batch_op.drop_index(batch_op.f('ix_products_department'))
        batch_op.drop_index(batch_op.f('ix_products_category'))

    op.drop_table('products')
    op.drop_table('members')
    op.drop_table('stores')
    op.drop_table('manufacturers')
