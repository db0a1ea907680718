"""The archive store in memory, for unit tests and the embedded demo."""

from __future__ import annotations

from datetime import datetime

from archive.ports import ArchivedEvent, ArchiveStore, DeadLetterRow
from archive.projection import CaseRow
from archive.report import ArchiveReport, tally
from schemas.deadletter import MessageRejected
from schemas.envelope import Envelope


class MemoryArchiveStore(ArchiveStore):
    def __init__(self) -> None:
        self.events: dict[str, ArchivedEvent] = {}
        self.cases: dict[str, CaseRow] = {}
        self.dead_letters: dict[str, DeadLetterRow] = {}

    def add_event(self, envelope: Envelope, archived_at: datetime) -> bool:
        if envelope.event_id in self.events:
            return False
        self.events[envelope.event_id] = ArchivedEvent.of(envelope, archived_at)
        return True

    def history(self, case_id: str) -> list[ArchivedEvent]:
        found = [e for e in self.events.values() if e.case_id == case_id]
        return sorted(found, key=lambda e: (e.occurred_at, e.event_id))

    def get_case(self, case_id: str) -> CaseRow | None:
        return self.cases.get(case_id)

    def put_case(self, row: CaseRow) -> None:
        self.cases[row.case_id] = row

    def add_dead_letter(self, rejected: MessageRejected, archived_at: datetime) -> bool:
        if rejected.event_id in self.dead_letters:
            return False
        self.dead_letters[rejected.event_id] = DeadLetterRow.of(rejected)
        return True

    def get_dead_letter(self, event_id: str) -> DeadLetterRow | None:
        return self.dead_letters.get(event_id)

    def report(self) -> ArchiveReport:
        return tally(
            self.cases.values(),
            ((e.type, e.payload) for e in self.events.values()),
            (d.reason for d in self.dead_letters.values()),
        )
