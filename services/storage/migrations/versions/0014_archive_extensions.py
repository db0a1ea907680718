"""archive_cases.assignment_due_at and extension_days: an approved extension moves due_at

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 18:00:00.000000

``assignment_due_at`` is the current assignment's resolve (or refer) due time as
dispatched, ``extension_days`` the working days the command room has granted it since
(延期, ``case.extended``); the archive stamps ``due_at`` from both with the site's
calendar (archive.kpi.HandlingClock), as the escalator moves the clock. Rows archived
before this revision keep NULL and 0 (their due_at as it was) until ``gridflow archive
rebuild``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("archive_cases", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("assignment_due_at", storage.types.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("extension_days", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("archive_cases", schema=None) as batch_op:
        batch_op.drop_column("extension_days")
        batch_op.drop_column("assignment_due_at")
