"""dead letters verbatim: the bodies of cut-down letters, and the archive's new fields

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import storage.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "dead_letter_bodies",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("topic", sa.String(length=255), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.LargeBinary(), nullable=True),
        sa.Column("value", sa.LargeBinary(), nullable=True),
        sa.Column("headers", _JSON, nullable=False),
        sa.Column("stored_at", storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_dead_letter_bodies")),
    )
    with op.batch_alter_table("archive_dead_letters", schema=None) as batch_op:
        batch_op.add_column(sa.Column("original_key_base64", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("original_value_null", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("original_headers", _JSON, nullable=True))
        batch_op.add_column(sa.Column("original_cut", _JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("archive_dead_letters", schema=None) as batch_op:
        batch_op.drop_column("original_cut")
        batch_op.drop_column("original_headers")
        batch_op.drop_column("original_value_null")
        batch_op.drop_column("original_key_base64")
    op.drop_table("dead_letter_bodies")
