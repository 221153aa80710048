"""lane hot path on PostgreSQL: checkout_expect_rows, room for HOT counter updates, lz4 for stored bodies

PostgreSQL only (SQLite takes its write lock up front and checks row counts in Python).

* ``checkout_expect_rows``: a complete's writes are one statement
  (loyalty_engine.checkout.single_statement); its conditional counter updates report how many
  rows moved, and this function turns a shortfall into a serialization failure (SQLSTATE
  40001), which rolls the statement back and is retried.
* Every complete moves counters on a few ``offers`` rows and ``shopping_list_lines`` rows. With
  free room on their pages the new row versions are HOT (no new index entries, dead versions
  pruned on the page as it is read), where full pages bloat the tables' indexes between
  vacuums. Pages written from now on keep that room (``VACUUM FULL`` rewrites old ones).
* The checkout's stored request and answer are compressed with lz4 where the server has it
  (a tenth of pglz's CPU per complete).
* Both databases: the redemption ledger's copies of its checkout's list, member, store and key
  lose their own foreign keys. The checkout's enforce them; the ledger's checked them again
  for every redeemed line, each check a key-share lock on a row (the store's, the lane key's)
  that every lane of the store shares.

Revision ID: 0006
Revises: 0005
"""
from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


# (constraint, column, referenced table) of the ledger's copies of its checkout's references
_LEDGER_COPIES = (
    ("fk_redemptions_list_id_shopping_lists", "list_id", "shopping_lists"),
    ("fk_redemptions_member_key_members", "member_key", "members"),
    ("fk_redemptions_store_id_stores", "store_id", "stores"),
    ("fk_redemptions_api_key_id_lane_api_keys", "api_key_id", "lane_api_keys"),
)


def upgrade() -> None:
    with op.batch_alter_table("redemptions") as batch:
        for name, _column, _table in _LEDGER_COPIES:
            batch.drop_constraint(name, type_="foreignkey")
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
    op.execute("ALTER TABLE offers SET (fillfactor = 50)")
    op.execute("ALTER TABLE shopping_list_lines SET (fillfactor = 90)")
    if _server_has_lz4():
        op.execute("ALTER TABLE checkouts ALTER COLUMN request_body SET COMPRESSION lz4, "
                   "ALTER COLUMN response_body SET COMPRESSION lz4")


def _server_has_lz4() -> bool:
    values = op.get_bind().exec_driver_sql(
        "SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'").scalar()
    return values is not None and "lz4" in values


def downgrade() -> None:
    with op.batch_alter_table("redemptions") as batch:
        for name, column, table in _LEDGER_COPIES:
            batch.create_foreign_key(name, table, [column], ["id"])
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION checkout_expect_rows(bigint, bigint, text)")
    op.execute("ALTER TABLE offers RESET (fillfactor)")
    op.execute("ALTER TABLE shopping_list_lines RESET (fillfactor)")
    if _server_has_lz4():
        op.execute("ALTER TABLE checkouts ALTER COLUMN request_body SET COMPRESSION default, "
                   "ALTER COLUMN response_body SET COMPRESSION default")
