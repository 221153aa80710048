"""checkout_expect_rows: a lane complete's single write statement fails when a counter did not move

PostgreSQL only (SQLite takes its write lock up front and checks row counts in Python). A
complete's writes are one statement (loyalty_engine.checkout.single_statement); its conditional
counter updates report how many rows moved, and this function turns a shortfall into a
serialization failure (SQLSTATE 40001), which rolls the statement back and is retried.

Revision ID: 0006
Revises: 0005
"""
from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("""
        CREATE FUNCTION checkout_expect_rows(moved bigint, expected bigint, what text) RETURNS bigint
        LANGUAGE plpgsql AS $$
        BEGIN
            IF moved <> expected THEN
                RAISE EXCEPTION '% of % % counters moved', moved, expected, what
                    USING ERRCODE = 'serialization_failure';
            END IF;
            RETURN moved;
        END
        $$
    """)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION checkout_expect_rows(bigint, bigint, text)")
