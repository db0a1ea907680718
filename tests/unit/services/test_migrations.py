"""The migration history builds exactly the schema the code declares, on SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, insert, select

from services.storage.migrate import current, upgrade
from services.storage.tables import metadata
from storage.db import inbox, make_engine
from tests.support.sites import SHANGHAI
from tests.unit.services.schema_checks import head, schema_diff, table_names


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    e = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    yield e
    e.dispose()


def test_a_fresh_database_has_no_revision(engine: Engine) -> None:
    assert current(engine) is None
    assert table_names(engine) == set()


def test_upgrade_builds_the_declared_schema(engine: Engine) -> None:
    upgrade(engine)
    assert current(engine) == head()
    assert table_names(engine) == set(metadata.tables) | {"alembic_version"}
    assert schema_diff(engine) == []


def test_the_comparison_sees_a_drift(engine: Engine) -> None:
    upgrade(engine)
    drifted = MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.tables.values():
        table.to_metadata(drifted)
    drifted.tables["inbox"].append_column(Column("attempts", Integer, nullable=True))
    diff = schema_diff(engine, drifted)
    assert [(d[0], d[2], d[3].name) for d in diff] == [("add_column", "inbox", "attempts")]


def test_upgrade_twice_is_a_no_op_that_keeps_the_data(engine: Engine) -> None:
    upgrade(engine)
    at = datetime(2026, 3, 2, 9, tzinfo=SHANGHAI)
    with engine.begin() as conn:
        conn.execute(insert(inbox).values(processor="router", event_id="e-1", processed_at=at))
    upgrade(engine)
    assert current(engine) == head()
    assert schema_diff(engine) == []
    with engine.connect() as conn:
        assert conn.execute(select(inbox.c.event_id, inbox.c.processed_at)).all() == [("e-1", at)]


def test_the_first_revision_is_0001(engine: Engine) -> None:
    upgrade(engine, "0001")
    assert current(engine) == "0001"
    assert "inbox" in table_names(engine)
