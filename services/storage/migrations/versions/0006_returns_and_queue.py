"""returns and manual dispatch: the units that returned a case, and its dispatch queue

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-10 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("router_cases", schema=None) as batch_op:
        # no case was returned or queued before
        batch_op.add_column(sa.Column("returns_json", _JSON, nullable=True))
        batch_op.add_column(sa.Column("queue_json", _JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("router_cases", schema=None) as batch_op:
        batch_op.drop_column("queue_json")
        batch_op.drop_column("returns_json")
