"""The command room's view of dead letters on PostgreSQL: letters go through the real
archive processor and batch runner into a fresh schema (JSONB headers, cut and errors
included), and come back masked for an operator and whole for a privacy officer.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from archive.core import Archive
from archive.deadletters import MASK, Role, recent_dead_letters, rows_of
from archive.sql import SqlArchiveStore
from schemas.codec import encode
from schemas.topics import CATALOGUE, DEADLETTER, Record
from services.metrics import Metrics
from services.runtime.batch import BatchRunner
from services.runtime.memory import MemoryBroker, MemorySink
from storage.db import Transaction, keep_dead_letter_body
from tests.unit.archive.story import ADDRESS, CLOCK, NAME, PHONE, T0
from tests.unit.archive.test_deadletters import (
    MASKED_REPORT,
    REPORT,
    cut_letter,
    letter,
    personal,
    sha,
)

pytestmark = pytest.mark.postgres


def test_a_stored_dead_letter_is_read_back_masked_and_revealed(pg_engine: Engine) -> None:
    report = json.dumps(REPORT, ensure_ascii=False).encode()
    headers = (("who", NAME.encode()), ("traceparent", b"00-abc-01"))
    plain = letter(report, headers=headers)
    big = cut_letter(report)
    xml = letter(f"<w name='{NAME}' addr='{ADDRESS}'/>".encode())
    xml = xml.model_copy(update={"event_id": "pg-xml-letter"})
    tx = Transaction(pg_engine)
    broker = MemoryBroker()
    broker.create_topics(t.name for t in CATALOGUE)
    now = T0 + timedelta(days=1)
    runner = BatchRunner(
        Archive(SqlArchiveStore(tx), CLOCK), tx, MemorySink(broker, lambda: now), Metrics()
    )
    for offset, message in enumerate((plain, big, xml)):
        record = Record(
            topic=DEADLETTER.name,
            value=encode(message),
            timestamp=now + timedelta(seconds=offset),
            offset=offset,
        )
        result = runner.run_batch([record])
        assert (result.emitted, result.dead_letters) == (0, 0)
    with tx.begin():  # what the refusing processor kept of the cut letter
        keep_dead_letter_body(
            tx.conn, digest=sha(report), topic="gridflow.cases.received", partition=0,
            offset=0, key=b"case-1", value=report, headers=(), at=now,
        )  # fmt: skip

    masked = recent_dead_letters(pg_engine, role=Role.OPERATOR, limit=10)
    assert [v.event_id for v in masked] == [xml.event_id, big.event_id, plain.event_id]
    assert not any(personal(cell) for row in rows_of(masked) for cell in row)
    assert not any(personal(v) for view in masked for _, v in view.original.headers)
    shown_xml, shown_big, shown_plain = (v.original for v in masked)
    assert shown_xml.value.startswith("<") and "bytes, sha256" in shown_xml.value
    assert json.loads(shown_big.value) == MASKED_REPORT  # from dead_letter_bodies
    assert json.loads(shown_plain.value) == MASKED_REPORT
    assert shown_plain.headers == (("who", shown_plain.headers[0][1]), ("traceparent", "00-abc-01"))
    assert MASK in shown_plain.value and shown_plain.key == "hotline_12345:x-1"

    revealed = recent_dead_letters(pg_engine, role=Role.PRIVACY_OFFICER, limit=10)
    by_id = {v.event_id: v.original for v in revealed}
    assert json.loads(by_id[plain.event_id].value) == REPORT
    assert json.loads(by_id[big.event_id].value) == REPORT
    assert NAME in by_id[xml.event_id].value and by_id[plain.event_id].headers[0] == ("who", NAME)
    assert PHONE in by_id[plain.event_id].value
