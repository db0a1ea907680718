"""The archive processor: keeps every event and dead letter, and folds cases into rows.

It is the history owner: it reads every topic that tells a case's story and writes
nothing back. Each envelope is archived once (a duplicate event id changes
nothing); only a newly archived event is projected, so counters never double.
"""

from __future__ import annotations

import logging
from datetime import datetime

from archive.ports import ArchiveStore
from archive.projection import project, projects
from schemas.deadletter import MessageRejected, Rejected, RejectionReason
from schemas.envelope import Envelope, Model
from schemas.topics import CASE_EVENTS, CASES_RECEIVED, DEADLETTER, DEADLINES, NOTIFICATIONS, Emit

log = logging.getLogger(__name__)


class Archive:
    """Processor ``archive``: append to the archive, update the case row, emit nothing."""

    name = "archive"
    topics = tuple(
        t.name for t in (CASES_RECEIVED, CASE_EVENTS, DEADLINES, NOTIFICATIONS, DEADLETTER)
    )

    def __init__(self, store: ArchiveStore) -> None:
        self.store = store

    def handle(self, message: Model, now: datetime) -> list[Emit]:
        """Archive ``message`` (steps: event, dead letter, case row); always returns []."""
        if not isinstance(message, Envelope):
            raise Rejected(
                RejectionReason.UNKNOWN_TYPE,
                f"the archive keeps envelopes, not {type(message).__name__}",
            )
        if not self.store.add_event(message, now):
            log.debug("duplicate event", extra={"event_id": message.event_id})
            return []
        if isinstance(message, MessageRejected):
            self.store.add_dead_letter(message, now)
        if message.case_id is not None and projects(message):
            row = self.store.get_case(message.case_id)
            new = project(row, message)
            if new is not None and new != row:
                self.store.put_case(new)
        return []

    def tick(self, now: datetime) -> list[Emit]:
        return []
