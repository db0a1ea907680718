"""deadline limits: each row's unit (working_days holds its amount) and the override

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("escalator_deadlines", schema=None) as batch_op:
        # the rows armed before it were all counted in working days, on the tier's limit
        batch_op.add_column(
            sa.Column("unit", sa.String(length=16), server_default="working_days", nullable=False)
        )
        batch_op.add_column(sa.Column("policy", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("escalator_deadlines", schema=None) as batch_op:
        batch_op.drop_column("policy")
        batch_op.drop_column("unit")
