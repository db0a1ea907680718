"""Alembic environment: runs on the connection handed over by services.storage.migrate."""

from __future__ import annotations

from alembic import context

from services.storage.tables import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through services.storage.migrate.upgrade()")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    user_module_prefix="storage.types.",
)
with context.begin_transaction():
    context.run_migrations()
