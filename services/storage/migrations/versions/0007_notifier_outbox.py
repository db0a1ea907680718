"""notifier outbox and residents' contacts: deliveries queued by the notifier's batch,
claimed and delivered by the sender with retries; how to reach a case's reporter

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 14:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notifier_outbox",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("recipient", sa.String(length=160), nullable=False),
        sa.Column("address", sa.String(length=2048), nullable=False),
        sa.Column("template", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=True),
        sa.Column("subject", sa.String(length=500), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("lease_until", storage.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("lease_token", sa.String(length=64), nullable=True),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=2000), nullable=True),
        sa.Column("done_at", storage.types.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_notifier_outbox")),
    )
    op.create_index(
        op.f("ix_notifier_outbox_status_next_at"),
        "notifier_outbox",
        ["status", "next_at"],
        unique=False,
    )
    op.create_table(
        "notifier_contacts",
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("phone", sa.String(length=64), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("callback_url", sa.String(length=2048), nullable=True),
        sa.Column("external_id", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_notifier_contacts")),
    )


def downgrade() -> None:
    op.drop_table("notifier_contacts")
    op.drop_index(op.f("ix_notifier_outbox_status_next_at"), table_name="notifier_outbox")
    op.drop_table("notifier_outbox")
