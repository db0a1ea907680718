"""The archive store in memory, for the unit tests of the processor and the report."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TypeVar

from archive.ports import ArchivedEvent, ArchiveStore, DeadLetterRow
from archive.projection import CaseRow
from archive.report import ArchiveReport, tally

T = TypeVar("T")


class MemoryArchiveStore(ArchiveStore):
    """Dicts keyed as the SQL tables are; an id added twice is refused like a primary key."""

    def __init__(self) -> None:
        self.events: dict[str, ArchivedEvent] = {}
        self.cases: dict[str, CaseRow] = {}
        self.dead_letters: dict[str, DeadLetterRow] = {}

    def load(self, case_ids: Collection[str]) -> dict[str, CaseRow]:
        return {i: self.cases[i] for i in case_ids if i in self.cases}

    def save_cases(self, rows: Sequence[CaseRow]) -> None:
        self.cases.update((r.case_id, r) for r in rows)

    def add_events(self, events: Sequence[ArchivedEvent]) -> None:
        _add_new(self.events, {e.event_id: e for e in events}, len(events))

    def add_dead_letters(self, rows: Sequence[DeadLetterRow]) -> None:
        _add_new(self.dead_letters, {d.event_id: d for d in rows}, len(rows))

    def history(self, case_id: str) -> list[ArchivedEvent]:
        found = [e for e in self.events.values() if e.case_id == case_id]
        return sorted(found, key=lambda e: (e.occurred_at, e.event_id))

    def get_dead_letter(self, event_id: str) -> DeadLetterRow | None:
        return self.dead_letters.get(event_id)

    def report(self) -> ArchiveReport:
        return tally(
            self.cases.values(),
            ((e.type, e.payload) for e in self.events.values()),
            (d.reason for d in self.dead_letters.values()),
        )


def _add_new(table: dict[str, T], rows: dict[str, T], count: int) -> None:
    if len(rows) != count or not rows.keys().isdisjoint(table):
        raise KeyError("an event id is archived already: the inbox should have dropped it")
    table.update(rows)
