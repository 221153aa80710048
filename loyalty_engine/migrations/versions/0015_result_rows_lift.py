"""result rows' units lift as a column: the results page's lift charts pick the largest lifts
through an index instead of reading every row's JSON

* ``result_rows.units_lift``: the row's CUPED units lift (``data['units_cuped_lift']``), NULL
  where none was measured; filled by ``results.store.compute_period``, and here for the
  periods already stored.
* ``ix_result_rows_lift`` on (period_start, dimension, units_lift): a period's 30 largest
  offer x cell lifts out of 5,000 rows is an index range read.

Revision ID: 0015
Revises: 0014
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("result_rows") as batch:
        batch.add_column(sa.Column("units_lift", sa.Float(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE result_rows SET units_lift = CAST(data ->> 'units_cuped_lift' AS double precision) "
                   "WHERE data ->> 'units_cuped_lift' IS NOT NULL")
    else:
        op.execute("UPDATE result_rows SET units_lift = CAST(json_extract(data, '$.units_cuped_lift') AS REAL) "
                   "WHERE json_extract(data, '$.units_cuped_lift') IS NOT NULL")
    op.create_index("ix_result_rows_lift", "result_rows", ["period_start", "dimension", "units_lift"])


def downgrade() -> None:
    op.drop_index("ix_result_rows_lift", table_name="result_rows")
    with op.batch_alter_table("result_rows") as batch:
        batch.drop_column("units_lift")
