"""router_cases.parts_json: the co-handlers (协办) that reported their part of the case

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 17:40:00.000000

The co-handlers themselves are in the assignment (assignment_json); this column keeps
those of them that reported their part on the current assignment, in order. Rows
written before this revision keep NULL: no co-handler has reported.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("router_cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("parts_json", _JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("router_cases", schema=None) as batch_op:
        batch_op.drop_column("parts_json")
