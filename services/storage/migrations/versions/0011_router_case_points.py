"""router_cases: category, point and reported time, for the near-duplicate lookup (重复件)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 15:00:00.000000

Rows written before this revision keep NULLs (no point known): they are never found
as the open case a new report duplicates; a row gets its values when next saved.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("router_cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("category", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("lat", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("lon", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("reported_at", storage.types.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            batch_op.f("ix_router_cases_category_lat"), ["category", "lat"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("router_cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_router_cases_category_lat"))
        batch_op.drop_column("reported_at")
        batch_op.drop_column("lon")
        batch_op.drop_column("lat")
        batch_op.drop_column("category")
