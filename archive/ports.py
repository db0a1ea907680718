"""The records the archive keeps besides case rows, and the port it keeps them behind."""

from __future__ import annotations

import abc
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from archive.projection import CaseRow
from archive.report import ArchiveReport
from schemas.deadletter import MessageRejected
from schemas.envelope import Envelope


@dataclass(frozen=True)
class ArchivedEvent:
    """One envelope as archived (archive_events); ``payload`` is its JSON form."""

    event_id: str
    type: str
    case_id: str | None
    occurred_at: datetime
    producer: str
    correlation_id: str
    causation_id: str | None
    schema_version: int
    payload: Any
    archived_at: datetime

    @classmethod
    def of(cls, envelope: Envelope, archived_at: datetime) -> ArchivedEvent:
        return cls(
            event_id=envelope.event_id,
            type=envelope.type,
            case_id=envelope.case_id,
            occurred_at=envelope.occurred_at,
            producer=envelope.producer,
            correlation_id=envelope.correlation_id,
            causation_id=envelope.causation_id,
            schema_version=envelope.schema_version,
            payload=envelope.model_dump(mode="json")["payload"],
            archived_at=archived_at,
        )


@dataclass(frozen=True)
class DeadLetterRow:
    """One dead letter, flattened for queries (archive_dead_letters)."""

    event_id: str
    processor: str
    reason: str
    message: str
    errors: list[dict[str, Any]]
    original_topic: str
    original_partition: int | None
    original_offset: int | None
    original_key: str | None
    original_text: str | None
    original_base64: str | None
    occurred_at: datetime
    archived_at: datetime
    original_key_base64: str | None = None
    original_value_null: bool = False
    original_headers: list[dict[str, Any]] = field(default_factory=list)
    original_cut: dict[str, Any] | None = None
    """Set when the letter holds only a prefix of the value (see schemas.deadletter.Cut)."""

    @classmethod
    def of(cls, rejected: MessageRejected, archived_at: datetime) -> DeadLetterRow:
        p = rejected.payload
        return cls(
            event_id=rejected.event_id,
            processor=p.processor,
            reason=p.reason.value,
            message=p.message,
            errors=[e.model_dump(mode="json") for e in p.errors],
            original_topic=p.original.topic,
            original_partition=p.original.partition,
            original_offset=p.original.offset,
            original_key=p.original.key,
            original_text=p.original.text,
            original_base64=p.original.base64,
            occurred_at=rejected.occurred_at,
            archived_at=archived_at,
            original_key_base64=p.original.key_base64,
            original_value_null=p.original.value_null,
            original_headers=[h.model_dump(mode="json") for h in p.original.headers],
            original_cut=p.original.cut.model_dump(mode="json") if p.original.cut else None,
        )


class ArchiveStore(abc.ABC):
    """Every event, every dead letter, and one projected row per case.

    The archive is called once per batch: it loads the rows of the cases the batch
    concerns with one call and writes what the batch made with three. It never
    checks whether an event is already in: the runtime's inbox, in the same
    transaction, has dropped every event id it has seen before the batch gets
    here, so an id that reaches ``add_events`` twice is a bug and the primary key
    refuses it.
    """

    @abc.abstractmethod
    def load(self, case_ids: Collection[str]) -> dict[str, CaseRow]:
        """The rows of those of ``case_ids`` that have one."""

    @abc.abstractmethod
    def save_cases(self, rows: Sequence[CaseRow]) -> None:
        """Insert or replace these case rows."""

    @abc.abstractmethod
    def add_events(self, events: Sequence[ArchivedEvent]) -> None:
        """Archive these events (new ids only)."""

    @abc.abstractmethod
    def add_dead_letters(self, rows: Sequence[DeadLetterRow]) -> None:
        """Record these dead letters (new ids only)."""

    @abc.abstractmethod
    def history(self, case_id: str) -> list[ArchivedEvent]:
        """The case's archived events, by occurred_at then event id."""

    @abc.abstractmethod
    def get_dead_letter(self, event_id: str) -> DeadLetterRow | None:
        """One dead letter, or None."""

    @abc.abstractmethod
    def report(self) -> ArchiveReport:
        """The figures over everything archived so far."""
