"""Compare a migrated database with the tables the code declares (shared by the SQLite and
PostgreSQL migration tests)."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, MetaData, inspect

from services.storage.migrate import alembic_config
from services.storage.tables import metadata


def schema_diff(engine: Engine, declared: MetaData = metadata) -> list[Any]:
    """What autogenerate would change to make the database match ``declared``; [] if nothing."""
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, declared))


def head() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def table_names(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())
