"""the archive's event log in arrival order: archive_events.position (from the sequence
archive_events_position_seq on PostgreSQL; SQLite orders by its rowid), so that
`gridflow archive rebuild` replays events in the order the live projection folded them

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 15:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


SEQUENCE = "archive_events_position_seq"


def upgrade() -> None:
    with op.batch_alter_table("archive_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("position", sa.BigInteger(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.schema.CreateSequence(sa.Sequence(SEQUENCE)))
        # rows archived before: in the order they were archived, as well as it is known
        op.execute(
            "UPDATE archive_events SET position = p.n FROM (SELECT event_id, row_number() "
            "OVER (ORDER BY archived_at, occurred_at, event_id) AS n FROM archive_events) p "
            "WHERE archive_events.event_id = p.event_id"
        )
        op.execute(
            f"SELECT setval('{SEQUENCE}', (SELECT coalesce(max(position), 0) + 1 "
            f"FROM archive_events), false)"
        )


def downgrade() -> None:
    with op.batch_alter_table("archive_events", schema=None) as batch_op:
        batch_op.drop_column("position")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.schema.DropSequence(sa.Sequence(SEQUENCE)))
