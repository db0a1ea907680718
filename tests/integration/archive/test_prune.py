"""Retention (`gridflow archive prune`): inbox ids and dead letters older than the
settings go, younger ones stay, on SQLite and PostgreSQL; no setting, nothing goes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, insert, select

from archive.sql import archive_dead_letters, prune
from storage.db import dead_letter_bodies, inbox

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


@pytest.mark.parametrize("db", ["sqlite", pytest.param("pg", marks=pytest.mark.postgres)])
def test_prune_keeps_what_is_younger_than_the_settings(
    db: str, request: pytest.FixtureRequest
) -> None:
    engine: Engine = request.getfixturevalue(f"{db}_engine")
    old, young = NOW - timedelta(days=40), NOW - timedelta(days=10)
    with engine.begin() as conn:
        conn.execute(
            insert(inbox),
            [
                {"processor": "router", "event_id": f"e{i}", "processed_at": at}
                for i, at in enumerate([old, old, young])
            ],
        )
        letter = {
            "processor": "intake", "reason": "invalid", "message": "m", "errors": [],
            "original_topic": "t", "occurred_at": old,
        }  # fmt: skip
        conn.execute(
            insert(archive_dead_letters),
            [
                {**letter, "event_id": "d-old", "archived_at": old},
                {**letter, "event_id": "d-young", "archived_at": young},
            ],
        )
        conn.execute(
            insert(dead_letter_bodies),
            [{"digest": "x", "topic": "t", "partition": 0, "offset": 1, "headers": [],
              "stored_at": old}],
        )  # fmt: skip
    assert prune(engine, NOW, None, None) == {}
    assert _count(engine, inbox) == 3
    gone = prune(engine, NOW, 30, 30)
    assert gone == {"inbox": 2, "archive_dead_letters": 1, "dead_letter_bodies": 1}
    assert (_count(engine, inbox), _count(engine, archive_dead_letters)) == (1, 1)
