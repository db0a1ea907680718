"""The archive processor: keeps every event and dead letter, and folds cases into rows.

It is the history owner: it reads every topic that tells a case's story and writes
nothing back. That includes the commands as their senders wrote them, stamped with
the sender (``gridflow.cases.updates``): the notes and comments in them are the
case's free text, which the shared story does not carry.

A batch at a time: the rows of the cases the batch concerns are
loaded with one query, the batch's events are folded into them in order
(:func:`archive.projection.project`), each changed row gets its handling time in
working days (:class:`archive.kpi.HandlingClock`, the site's calendar), and the events,
the dead letters and the changed rows are written with one statement each. The runtime's inbox has
already dropped every event seen before, so each event is archived and projected
once and counters never double. The archive time of an event is the time of the
record it came in (the time rule in :mod:`schemas.processing`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from archive.kpi import HandlingClock
from archive.ports import ArchivedEvent, ArchiveStore, DeadLetterRow
from archive.projection import CaseRow, project, projects
from schemas.deadletter import MessageRejected, Rejected, RejectionReason
from schemas.envelope import Envelope
from schemas.processing import Inbound, Outcome
from schemas.topics import (
    CASE_EVENTS,
    CASE_UPDATES,
    CASES_RECEIVED,
    DEADLETTER,
    DEADLINES,
    NOTIFICATIONS,
    Emit,
)


class Archive:
    """Processor ``archive``: append to the archive, update the case rows, emit nothing."""

    name = "archive"
    topics = tuple(
        t.name
        for t in (CASES_RECEIVED, CASE_UPDATES, CASE_EVENTS, DEADLINES, NOTIFICATIONS, DEADLETTER)
    )

    def __init__(self, store: ArchiveStore, clock: HandlingClock) -> None:
        self.store = store
        self.clock = clock

    def handle(self, batch: Sequence[Inbound]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        kept: list[tuple[Envelope, datetime]] = []
        for item in batch:
            message = item.message
            if isinstance(message, Envelope):
                kept.append((message, item.now))
                outcomes.append([])
            else:
                outcomes.append(
                    Rejected(
                        RejectionReason.UNKNOWN_TYPE,
                        f"the archive keeps envelopes, not {type(message).__name__}",
                    )
                )
        rows = self.store.load({e.case_id for e, _ in kept if e.case_id and projects(e)})
        loaded = dict(rows)
        for envelope, _ in kept:
            if envelope.case_id is not None and projects(envelope):
                new = project(rows.get(envelope.case_id), envelope)
                if new is not None:
                    rows[envelope.case_id] = new
        self.store.add_events([ArchivedEvent.of(e, now) for e, now in kept])
        self.store.add_dead_letters(
            [DeadLetterRow.of(e, now) for e, now in kept if isinstance(e, MessageRejected)]
        )
        self.store.save_cases([self.clock.stamp(r) for r in _changed(loaded, rows)])
        return outcomes

    def tick(self, now: datetime) -> list[Emit]:
        return []


def _changed(before: dict[str, CaseRow], after: dict[str, CaseRow]) -> list[CaseRow]:
    return [row for case_id, row in after.items() if before.get(case_id) != row]
