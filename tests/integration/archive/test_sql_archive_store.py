"""The ArchiveStore port suite, run on memory, SQLite and PostgreSQL, report queries included.

On the SQL backends the events go through the real BatchRunner (records, inbox,
one transaction per batch), so repeats are dropped where production drops them.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, timedelta

import pytest
from sqlalchemy import Engine, exc

from archive.core import Archive
from archive.memory import MemoryArchiveStore
from archive.ports import ArchivedEvent, ArchiveStore, DeadLetterRow
from archive.projection import CaseRow
from archive.sql import SqlArchiveStore, read_report
from schemas.codec import encode
from schemas.deadletter import FieldError, RejectionReason
from schemas.envelope import Envelope
from schemas.processing import Inbound
from schemas.topics import CATALOGUE, DEADLETTER, Record, Topic, topic_named
from services.metrics import Metrics
from services.runtime.batch import BatchRunner
from services.runtime.memory import MemoryBroker, MemorySink
from storage.db import Transaction
from tests.support.sites import SHANGHAI
from tests.unit.archive.story import (
    ADDRESS,
    CLOCK,
    EXPECTED,
    NAME,
    T0,
    Story,
    dead_letter,
    scripted_history,
)

NOW = T0 + timedelta(days=3)


@dataclass
class Backend:
    """A store and how to open a transaction on it (none for memory)."""

    store: ArchiveStore
    tx: Transaction | None = None

    @contextmanager
    def session(self) -> Iterator[ArchiveStore]:
        if self.tx is None:
            yield self.store
            return
        with self.tx.begin():
            yield self.store

    def archive(self, events: list[Envelope], batch: int = 5) -> None:
        """Through the processor, a few events per transaction, as the runtime does.

        Memory has no inbox: there each event id goes in once, in first-seen order.
        """
        archive = Archive(self.store, CLOCK)
        if self.tx is None:
            once = list({e.event_id: e for e in reversed(events)}.values())[::-1]
            for i in range(0, len(once), batch):
                archive.handle([Inbound(e, NOW) for e in once[i : i + batch]])
            return
        broker = MemoryBroker()
        broker.create_topics(t.name for t in CATALOGUE)
        runner = BatchRunner(archive, self.tx, MemorySink(broker, lambda: NOW), Metrics())
        records = [_record(e, offset) for offset, e in enumerate(events)]
        for i in range(0, len(records), batch):
            result = runner.run_batch(records[i : i + batch])
            assert (result.emitted, result.dead_letters) == (0, 0)
        assert broker.read(DEADLETTER.name) == []


def _record(event: Envelope, offset: int) -> Record:
    topic = next(t for t in Archive.topics if type(event) in _topic(t).carries)
    key = event.case_id.encode() if event.case_id else None
    return Record(topic=topic, value=encode(event), timestamp=NOW, key=key, offset=offset)


def _topic(name: str) -> Topic:
    return topic_named(name)


@pytest.fixture(params=["memory", "sqlite", pytest.param("pg", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "memory":
        return Backend(MemoryArchiveStore())
    engine: Engine = request.getfixturevalue(f"{request.param}_engine")  # tests/conftest.py
    tx = Transaction(engine)
    return Backend(SqlArchiveStore(tx), tx)


def test_an_event_id_is_archived_once_and_the_key_refuses_a_second(backend: Backend) -> None:
    event = Story(1).received()
    with backend.session() as store:
        store.add_events([ArchivedEvent.of(event, NOW)])
    with pytest.raises((KeyError, exc.IntegrityError)), backend.session() as store:
        store.add_events([ArchivedEvent.of(event, NOW + timedelta(hours=1))])
    with backend.session() as store:
        (kept,) = store.history(event.case_id or "")
    assert kept.archived_at == NOW


def test_history_round_trips_every_field(backend: Backend) -> None:
    s = Story(1)
    events = s.full_loop()
    with backend.session() as store:
        store.add_events([ArchivedEvent.of(e, NOW) for e in reversed(events)])
        store.add_events([])
        assert store.history("case-none") == []
    with backend.session() as store:
        history = store.history(s.case_id)
    assert [h.event_id for h in history] == [e.event_id for e in events]
    for kept, event in zip(history, events, strict=True):
        assert kept.type == event.type
        assert (kept.case_id, kept.producer, kept.schema_version) == (s.case_id, event.producer, 1)
        assert (kept.correlation_id, kept.causation_id) == (
            event.correlation_id,
            event.causation_id,
        )
        assert kept.occurred_at == event.occurred_at and kept.occurred_at.tzinfo is not None
        assert kept.archived_at == NOW and kept.archived_at.tzinfo is not None
        assert kept.payload == event.model_dump(mode="json")["payload"]
    assert history[0].payload["reporter"]["name"] == NAME
    assert history[0].payload["location"]["address"] == ADDRESS


def full_row() -> CaseRow:
    t = T0.astimezone(SHANGHAI)
    return CaseRow(
        case_id="case-0001",
        channel="grid_app",
        category="env.litter",
        grid_id="g-1",
        stage="closed",
        stage_at=t + timedelta(hours=9),
        unit_id="zs-street-urban",
        tier="street",
        owner_tier="community",
        seq=3,
        received_at=t,
        reported_at=t - timedelta(minutes=3),
        assigned_at=t + timedelta(hours=1),
        accepted_at=t + timedelta(hours=2),
        handled_at=t + timedelta(hours=5),
        verified_at=t + timedelta(hours=6),
        closed_at=t + timedelta(hours=9, microseconds=1),
        escalations=2,
        lapsed_deadlines=2,
        deadline_warnings=1,
        on_time=False,
        rating=4,
        last_event_at=t + timedelta(hours=9),
    )


def test_case_rows_round_trip_and_are_replaced(backend: Backend) -> None:
    row = full_row()
    with backend.session() as store:
        assert store.load([row.case_id]) == {}
        store.save_cases([row])
        store.save_cases([])
    with backend.session() as store:
        got = store.load([row.case_id, "case-none"])
    assert got == {row.case_id: row}
    closed_at = got[row.case_id].closed_at
    assert closed_at is not None and closed_at.tzinfo is not None
    sparse = CaseRow(case_id=row.case_id, stage="received", on_time=True)
    with backend.session() as store:
        store.save_cases([sparse, CaseRow(case_id="case-0002", received_at=T0.astimezone(UTC))])
    with backend.session() as store:
        both = store.load({row.case_id, "case-0002"})
    assert both[row.case_id] == sparse
    other = both["case-0002"]
    assert other.received_at == T0 and other.seq == 0


def test_load_takes_more_ids_than_one_statement_holds(backend: Backend) -> None:
    rows = [CaseRow(case_id=f"case-{n:05d}", seq=n) for n in range(2_100)]
    with backend.session() as store:
        store.save_cases(rows)
    with backend.session() as store:
        found = store.load([r.case_id for r in rows] + ["case-none"])
    assert found == {r.case_id: r for r in rows}


def test_a_dead_letter_round_trips(backend: Backend) -> None:
    text = dead_letter(10, RejectionReason.INVALID, '{"名": 1}'.encode())
    binary = dead_letter(11, RejectionReason.NOT_UTF8, b"\x00\xff")
    text = text.model_copy(
        update={"payload": text.payload.model_copy(update={"errors": _errors()})}
    )
    with backend.session() as store:
        store.add_dead_letters([DeadLetterRow.of(text, NOW), DeadLetterRow.of(binary, NOW)])
        assert store.get_dead_letter("nope") is None
    with backend.session() as store:
        kept, other = store.get_dead_letter(text.event_id), store.get_dead_letter(binary.event_id)
    assert kept is not None and other is not None
    assert (kept.processor, kept.reason, kept.message) == ("router", "invalid", "bad")
    assert kept.errors == [{"loc": "payload.unit_id", "msg": "Field required", "type": "missing"}]
    assert (kept.original_topic, kept.original_partition, kept.original_offset) == (
        "gridflow.cases.updates", 0, 10
    )  # fmt: skip
    assert (kept.original_key, kept.original_text, kept.original_base64) == (
        "case-x", '{"名": 1}', None
    )  # fmt: skip
    assert (kept.occurred_at, kept.archived_at) == (T0, NOW)
    assert (other.original_text, other.original_base64, other.errors) == (None, "AP8=", [])


def _errors() -> list[FieldError]:
    return [FieldError(loc="payload.unit_id", msg="Field required", type="missing")]


def test_report_figures_are_the_same_on_every_backend(backend: Backend) -> None:
    backend.archive(scripted_history())
    with backend.session() as store:
        assert store.report() == EXPECTED


def test_arrival_order_and_duplicates_change_neither_rows_nor_figures(backend: Backend) -> None:
    events = scripted_history()
    memory = Backend(MemoryArchiveStore())
    memory.archive(events)
    shuffled = events + events[::3]
    random.Random(11).shuffle(shuffled)
    backend.archive(shuffled, batch=7)
    case_ids = {e.case_id for e in events if e.case_id}
    with backend.session() as store:
        assert store.report() == EXPECTED
        assert store.load(case_ids) == memory.store.load(case_ids)


def test_an_empty_archive_reports_zeroes(backend: Backend) -> None:
    with backend.session() as store:
        report = store.report()
    assert (report.cases, report.closed, report.events, report.ratings) == (0, 0, 0, 0)
    assert (report.open_by_stage, report.notifications, report.dead_letters_by_reason) == (
        {},
        {},
        {},
    )


def test_read_report_opens_its_own_transaction(sqlite_engine: Engine) -> None:
    tx = Transaction(sqlite_engine)
    Backend(SqlArchiveStore(tx), tx).archive(scripted_history())
    assert read_report(sqlite_engine) == EXPECTED


def test_open_overdue_cases_count_against_the_on_time_rate(backend: Backend) -> None:
    events = [*Story(1).full_loop(rating=5)]
    for n in (2, 3, 4):
        s = Story(n)
        events += [s.received(), s.assigned(), s.lapsed()]
    backend.archive(events)
    with backend.session() as store:
        report = store.report()
    assert (report.closed_on_time, report.open_overdue, report.on_time_rate) == (1, 3, 0.25)
