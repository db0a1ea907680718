"""The migration history on PostgreSQL: a fresh schema gets exactly the declared tables,
a second upgrade changes nothing, and processes starting together take turns."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from services.storage.migrate import current, upgrade
from services.storage.tables import metadata
from tests.support.postgres import fresh_schema
from tests.unit.services.schema_checks import head, schema_diff, table_names

pytestmark = pytest.mark.postgres


@pytest.fixture
def fresh(postgres_url: str) -> Iterator[Engine]:
    """An engine on a new, empty schema (unlike pg_engine, no create_all); dropped after."""
    with fresh_schema(postgres_url, prefix="m") as engine:
        yield engine


def test_upgrade_builds_the_declared_schema(fresh: Engine) -> None:
    assert current(fresh) is None
    assert table_names(fresh) == set()
    upgrade(fresh)
    assert current(fresh) == head()
    assert table_names(fresh) == set(metadata.tables) | {"alembic_version"}
    assert schema_diff(fresh) == []


def test_upgrade_twice_is_a_no_op(fresh: Engine) -> None:
    upgrade(fresh, "0001")
    assert current(fresh) == "0001"
    with fresh.begin() as conn:
        conn.execute(
            text("INSERT INTO inbox (processor, event_id, processed_at) VALUES ('r', 'e', now())")
        )
    upgrade(fresh)
    upgrade(fresh)
    assert current(fresh) == head()
    assert schema_diff(fresh) == []
    with fresh.connect() as conn:
        assert conn.execute(text("SELECT event_id FROM inbox")).scalars().all() == ["e"]


_UPGRADE = """
import sys
from storage.db import make_engine
from services.storage.migrate import upgrade
upgrade(make_engine(sys.argv[1], connect_args={"options": "-csearch_path=" + sys.argv[2]}))
"""


def test_processors_starting_together_take_turns(fresh: Engine, postgres_url: str) -> None:
    """Five processes upgrade one empty schema at once, as the five processors do on a
    first deployment. Without the advisory lock some of them fail (duplicate tables)."""
    schema = _search_path(fresh)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _UPGRADE, postgres_url, schema],
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(5)
    ]
    failures = [err for p in procs if (err := p.communicate(timeout=60)[1]) and p.returncode]
    assert failures == []
    assert current(fresh) == head()
    assert schema_diff(fresh) == []


def _search_path(engine: Engine) -> str:
    with engine.connect() as conn:
        return str(conn.execute(text("SELECT current_schema()")).scalar_one())
