"""The archive through a crash between its writes and their commit, and redelivery: a
child process archives a batch and dies (``os._exit``) as the commit starts; nothing
of the batch is in the database, neither events, case rows nor inbox ids. The same
records again archive once, and a third delivery changes nothing: on SQLite and on
PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text

from archive.memory import MemoryArchiveStore
from archive.projection import CaseRow
from archive.sql import SqlArchiveStore, archive_cases, archive_events
from schemas.envelope import Envelope
from storage.db import Transaction, inbox, make_engine, metadata
from tests.integration.archive.test_sql_archive_store import Backend
from tests.support.archived import archive_story
from tests.support.postgres import fresh_schema
from tests.support.sites import tiny_site
from tests.unit.router.support import LATER, T0, accept, case, received, report_handled

CHILD = """
import os, sys
from sqlalchemy import event
from archive.sql import SqlArchiveStore
from storage.db import Transaction, make_engine
from tests.integration.archive.test_crash import story
from tests.integration.archive.test_sql_archive_store import Backend
url, schema = sys.argv[1], sys.argv[2]
args = {"connect_args": {"options": "-csearch_path=" + schema}} if schema else {}
engine = make_engine(url, **args)
def die(conn):  # as the commit starts: say what the transaction holds, then die
    held = conn.exec_driver_sql("SELECT count(*) FROM archive_events").scalar()
    sys.stderr.write(f"written {held}\\n")
    sys.stderr.flush()
    os._exit(17)
event.listen(engine, "commit", die)
tx = Transaction(engine)
Backend(SqlArchiveStore(tx), tx).archive(story(), batch=1000)
os._exit(0)  # not reached
"""


def story() -> list[Envelope]:
    steps = [(received(case(f"GF-{n}")), T0) for n in range(1, 4)]
    steps += [(accept("GF-1", "s.urban"), LATER), (report_handled("GF-1", "s.urban"), LATER)]
    return archive_story(tiny_site(), MemoryArchiveStore(), steps)


def _counts(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (archive_events, archive_cases, inbox)
        )


def _rows(engine: Engine) -> list[CaseRow]:
    cols = [archive_cases.c[f.name] for f in fields(CaseRow)]
    with engine.connect() as conn:
        return [CaseRow(*r) for r in conn.execute(select(*cols).order_by(archive_cases.c.case_id))]


def _crash_then_redeliver(engine: Engine, url: str, schema: str) -> None:
    child = subprocess.run(
        [sys.executable, "-c", CHILD, url, schema], capture_output=True, text=True, timeout=120
    )
    assert child.returncode == 17, child.stderr[-2000:]
    assert f"written {len(story())}" in child.stderr  # written, not committed
    assert _counts(engine) == (0, 0, 0)  # the batch's writes died with it
    events = story()
    tx = Transaction(engine)
    Backend(SqlArchiveStore(tx), tx).archive(events, batch=4)
    first = _counts(engine)
    assert first == (len(events), 3, len(events))
    rows = _rows(engine)
    Backend(SqlArchiveStore(tx), tx).archive(events, batch=3)  # redelivered: dropped
    assert _counts(engine) == first and _rows(engine) == rows
    assert rows[0].stage == "handled" and rows[1].stage == "assigned"


def test_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.sqlite'}"
    engine = make_engine(url)
    metadata.create_all(engine)
    _crash_then_redeliver(engine, url, "")


@pytest.mark.postgres
def test_postgres(postgres_url: str) -> None:
    with fresh_schema(postgres_url, prefix="crash") as engine:
        metadata.create_all(engine)
        with engine.connect() as conn:
            schema = str(conn.execute(text("SELECT current_schema()")).scalar_one())
        _crash_then_redeliver(engine, postgres_url, schema)
