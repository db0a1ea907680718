"""The ArchiveStore port suite, run on memory, SQLite and PostgreSQL, report queries included."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, timedelta

import pytest
from sqlalchemy import Engine

from archive.core import Archive
from archive.memory import MemoryArchiveStore
from archive.ports import ArchiveStore
from archive.projection import CaseRow
from archive.sql import SqlArchiveStore, read_report
from schemas.deadletter import FieldError, RejectionReason
from schemas.envelope import SHANGHAI, Envelope
from services.storage.db import Transaction
from tests.unit.archive.story import (
    ADDRESS,
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
        """Through the processor, a few events per transaction, as the runtime does."""
        archive = Archive(self.store)
        for i in range(0, len(events), batch):
            with self.session():
                for event in events[i : i + batch]:
                    assert archive.handle(event, NOW) == []


@pytest.fixture(params=["memory", "sqlite", pytest.param("pg", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "memory":
        return Backend(MemoryArchiveStore())
    engine: Engine = request.getfixturevalue(f"{request.param}_engine")  # tests/conftest.py
    tx = Transaction(engine)
    return Backend(SqlArchiveStore(tx), tx)


def test_an_event_is_added_once(backend: Backend) -> None:
    event = Story(1).received()
    with backend.session() as store:
        assert store.add_event(event, NOW) is True
        assert store.add_event(event, NOW + timedelta(hours=1)) is False
    with backend.session() as store:
        (kept,) = store.history(event.case_id or "")
    assert kept.archived_at == NOW


def test_history_round_trips_every_field(backend: Backend) -> None:
    s = Story(1)
    events = s.full_loop()
    with backend.session() as store:
        for event in reversed(events):
            store.add_event(event, NOW)
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


def test_a_case_row_round_trips_and_is_replaced(backend: Backend) -> None:
    row = full_row()
    with backend.session() as store:
        assert store.get_case(row.case_id) is None
        store.put_case(row)
    with backend.session() as store:
        got = store.get_case(row.case_id)
    assert got == row
    assert got is not None and got.closed_at is not None and got.closed_at.tzinfo is not None
    sparse = CaseRow(case_id=row.case_id, stage="received", on_time=True)
    with backend.session() as store:
        store.put_case(sparse)
        store.put_case(CaseRow(case_id="case-0002", received_at=T0.astimezone(UTC)))
    with backend.session() as store:
        assert store.get_case(row.case_id) == sparse
        other = store.get_case("case-0002")
    assert other is not None and other.received_at == T0 and other.seq == 0


def test_a_dead_letter_round_trips(backend: Backend) -> None:
    text = dead_letter(10, RejectionReason.INVALID, '{"名": 1}'.encode())
    binary = dead_letter(11, RejectionReason.NOT_UTF8, b"\x00\xff")
    text = text.model_copy(
        update={"payload": text.payload.model_copy(update={"errors": _errors()})}
    )
    with backend.session() as store:
        assert store.add_dead_letter(text, NOW) is True
        assert store.add_dead_letter(binary, NOW) is True
        assert store.add_dead_letter(text, NOW) is False
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
    assert kept.occurred_at == T0
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
        for case_id in sorted(case_ids):
            assert store.get_case(case_id) == memory.store.get_case(case_id)


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
