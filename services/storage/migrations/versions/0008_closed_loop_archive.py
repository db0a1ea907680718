"""the closed loop and the archive's figures: reopenings on router_cases; the work-order
number, due times, first acceptance, reopenings, referrals, supervisions, rating and
follow-up on archive_cases

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 15:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_COUNTERS = ("reopenings", "referrals", "supervisions")
_TIMES = ("first_accepted_at", "accept_due_at", "due_at", "rated_at", "followed_up_at")


def upgrade() -> None:
    with op.batch_alter_table("router_cases", schema=None) as batch_op:
        # no case was reopened before
        batch_op.add_column(
            sa.Column("reopenings", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
    with op.batch_alter_table("archive_cases", schema=None) as batch_op:
        # rows archived before stay NULL here until `gridflow archive rebuild`
        batch_op.add_column(sa.Column("external_id", sa.String(length=128), nullable=True))
        for name in _TIMES:
            batch_op.add_column(
                sa.Column(name, storage.types.UtcDateTime(timezone=True), nullable=True)
            )
        for name in _COUNTERS:
            batch_op.add_column(
                sa.Column(name, sa.Integer(), server_default=sa.text("0"), nullable=False)
            )
        batch_op.add_column(sa.Column("responded", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("resolved", sa.Boolean(), nullable=True))
        batch_op.create_index(
            "ix_archive_cases_channel_external_id", ["channel", "external_id"], unique=False
        )
        batch_op.create_index("ix_archive_cases_unit_id_stage", ["unit_id", "stage"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("archive_cases", schema=None) as batch_op:
        batch_op.drop_index("ix_archive_cases_unit_id_stage")
        batch_op.drop_index("ix_archive_cases_channel_external_id")
        for name in ("resolved", "responded", *_COUNTERS, *_TIMES, "external_id"):
            batch_op.drop_column(name)
    with op.batch_alter_table("router_cases", schema=None) as batch_op:
        batch_op.drop_column("reopenings")
