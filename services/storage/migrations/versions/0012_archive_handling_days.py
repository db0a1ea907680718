"""archive_cases.handling_days: the case's handling time in working days (archive/kpi.py)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 17:30:00.000000

The archive stamps it when it projects a case (working days of the site's calendar
from the first dispatch to the last handling report), so the KPI queries group it in
SQL instead of walking the calendar per case and query. Rows archived before this
revision keep NULL until ``gridflow archive rebuild``, which recomputes every row
(also the way to apply a changed calendar to past cases).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("archive_cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("handling_days", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("archive_cases", schema=None) as batch_op:
        batch_op.drop_column("handling_days")
