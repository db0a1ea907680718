"""The deadline record and the port the escalator keeps its deadlines behind."""

from __future__ import annotations

import abc
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from schemas.cases import DeadlineKind
from schemas.reports import Tier


@dataclass(frozen=True)
class Deadline:
    """One armed deadline of a case: at most one per (case_id, kind)."""

    case_id: str
    kind: DeadlineKind
    seq: int  # the assignment it belongs to
    unit_id: str
    tier: Tier
    due_at: datetime
    warn_at: datetime | None  # None when the warning moment is not after the start
    working_days: int
    correlation_id: str
    warned: bool = False


class DeadlineStore(abc.ABC):
    """Armed deadlines, looked up by case and by when they fall due."""

    @abc.abstractmethod
    def put(self, deadline: Deadline) -> None:
        """Arm ``deadline``, replacing the case's deadline of the same kind."""

    @abc.abstractmethod
    def drop(self, case_id: str, kinds: Collection[DeadlineKind] | None = None) -> None:
        """Disarm the case's deadlines of ``kinds`` (all of them when None)."""

    @abc.abstractmethod
    def due(self, now: datetime, limit: int) -> list[Deadline]:
        """Up to ``limit`` deadlines with due_at <= now, earliest first."""

    @abc.abstractmethod
    def warnings_due(self, now: datetime, limit: int) -> list[Deadline]:
        """Up to ``limit`` unwarned deadlines with warn_at <= now < due_at, earliest first."""

    @abc.abstractmethod
    def remove(self, deadline: Deadline) -> bool:
        """Disarm exactly ``deadline``: the case's deadline of its kind, and only while
        it is still the same one (same seq and due_at). False when it is gone or was
        re-armed meanwhile, by another transaction or another escalator instance."""

    @abc.abstractmethod
    def mark_warned(self, deadline: Deadline) -> bool:
        """Record that the warning for exactly ``deadline`` went out (matched as in
        :meth:`remove`); False when it is gone, was re-armed meanwhile, or is already
        marked (another instance's tick warned of it)."""

    @abc.abstractmethod
    def get(self, case_id: str) -> list[Deadline]:
        """The case's armed deadlines, ordered by kind."""
