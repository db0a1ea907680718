"""suspension and extension: the router's open request and suspension, paused deadlines

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import storage.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("router_cases", schema=None) as batch_op:
        # no case had a request or a suspension before
        batch_op.add_column(sa.Column("request_json", _JSON, nullable=True))
        batch_op.add_column(sa.Column("suspension_json", _JSON, nullable=True))
    # the escalator's deadlines a suspension stopped, apart from the running ones
    op.create_table(
        "escalator_paused",
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.String(length=160), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("due_at", storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("warn_at", storage.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("working_days", sa.Integer(), nullable=False),
        sa.Column("correlation_id", sa.String(length=64), nullable=False),
        sa.Column("warned", sa.Boolean(), nullable=False),
        sa.Column("provisional", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("started_at", storage.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("unit", sa.String(length=16), server_default="working_days", nullable=False),
        sa.Column("policy", sa.String(length=64), nullable=True),
        sa.Column("paused_at", storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("remaining_seconds", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "kind"),
    )


def downgrade() -> None:
    op.drop_table("escalator_paused")
    with op.batch_alter_table("router_cases", schema=None) as batch_op:
        batch_op.drop_column("suspension_json")
        batch_op.drop_column("request_json")
