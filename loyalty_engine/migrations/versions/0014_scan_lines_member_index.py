"""scan lines by member: the index a member shard of the model fit reads its history through

* ``ix_scan_lines_member_date`` on ``scan_lines (member_key, business_date)``: each shard of
  the sharded model fit reads ``member_key BETWEEN low AND high AND business_date < as_of``;
  without it every shard would scan the whole fact table (shards x passes full scans).
  It costs the bulk import one more index to maintain (docs/scale.md).

Revision ID: 0014
Revises: 0013
"""
from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("scan_lines", schema=None) as batch_op:
        batch_op.create_index("ix_scan_lines_member_date", ["member_key", "business_date"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("scan_lines", schema=None) as batch_op:
        batch_op.drop_index("ix_scan_lines_member_date")
