"""notifier contacts: the channel's reference to quote in a callback (a 12345 work order's)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 14:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notifier_contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("callback_reference", sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notifier_contacts", schema=None) as batch_op:
        batch_op.drop_column("callback_reference")
