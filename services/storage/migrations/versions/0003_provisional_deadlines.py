"""provisional deadlines: counted on a year no official schedule covered, and their start

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("escalator_deadlines", schema=None) as batch_op:
        # the rows armed before it were all counted on official years: false
        batch_op.add_column(
            sa.Column("provisional", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("started_at", storage.types.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            "ix_escalator_deadlines_provisional",
            ["case_id", "kind"],
            unique=False,
            postgresql_where=sa.text("provisional"),
            sqlite_where=sa.text("provisional = 1"),
        )


def downgrade() -> None:
    with op.batch_alter_table("escalator_deadlines", schema=None) as batch_op:
        batch_op.drop_index("ix_escalator_deadlines_provisional")
        batch_op.drop_column("started_at")
        batch_op.drop_column("provisional")
