"""The deadline record and the port the escalator keeps its deadlines behind.

The port works a batch at a time: the case story loads every case of a batch
at once and writes back only what changed; a tick reads what fell due and then
removes or marks all of it at once, learning which rows it really took.
"""

from __future__ import annotations

import abc
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from escalator.calendar import WorkingCalendar
from schemas.cases import DeadlineKind, Limit, LimitUnit
from schemas.reports import Tier


@dataclass(frozen=True)
class Deadline:
    """One armed deadline of a case: at most one per (case_id, slot).

    The slot is the kind, but for a co-handler's (协办) clocks: ``assist.<part>``, the
    co-handler's place (1, 2, ...) among the assignment's, so each has its own."""

    case_id: str
    kind: DeadlineKind
    seq: int  # the assignment it belongs to
    unit_id: str
    tier: Tier
    due_at: datetime
    warn_at: datetime | None  # the next warning moment; None when there is none
    working_days: int  # the limit's amount, in ``unit`` (working days unless it says)
    correlation_id: str
    warned: bool = False  # every warning moment is sent (or there is none left)
    provisional: bool = False  # counted on a year no official schedule covered yet
    started_at: datetime | None = None  # when its clock began (a reminder: the lapse)
    unit: LimitUnit = LimitUnit.WORKING_DAYS
    policy: str | None = None  # the site override that set the limit; None: the tier's
    # while a suspension stops it (escalator.suspension): since when, and the time it
    # had left; such a deadline is kept apart, out of every due and warning scan
    paused_at: datetime | None = None
    remaining_seconds: int | None = None
    part: int = 0  # a co-handler's clock (kind assist): its place among them, from 1

    @property
    def slot(self) -> str:
        """Where it is kept: its kind, or ``assist.<part>`` for a co-handler's."""
        return f"{self.kind.value}.{self.part}" if self.part else self.kind.value

    @property
    def limit(self) -> Limit:
        return Limit(amount=self.working_days, unit=self.unit)

    @property
    def exact(self) -> tuple[str, str, int, datetime]:
        """What identifies exactly this deadline: its (case, slot), and the assignment
        (seq) and due time it was armed with. A deadline re-armed in the same slot
        since it was read differs here."""
        return (self.case_id, self.slot, self.seq, self.due_at)


class DeadlineStore(abc.ABC):
    """Armed deadlines, looked up by case and by when they fall due.

    Every write matches rows exactly (:attr:`Deadline.exact`), never by slot
    alone: several escalator instances may tick at once, and race the case story
    handled in other transactions, so a write must not touch a row re-armed,
    removed or marked by someone else since it was read.
    """

    @abc.abstractmethod
    def load(self, case_ids: Collection[str]) -> dict[str, list[Deadline]]:
        """Every case of ``case_ids`` with its armed deadlines, ordered by kind
        (``[]`` for a case with none), the paused ones (``paused_at`` set) included.

        A paused deadline is kept apart from the running ones: no due, warning,
        provisional or next-due look-up ever sees it, and :meth:`write` moves it
        back among them when it is resumed (removed paused, added running)."""

    @abc.abstractmethod
    def write(self, removed: Sequence[Deadline], added: Sequence[Deadline]) -> None:
        """Disarm exactly ``removed`` (one already gone is skipped), then arm ``added``.

        A deadline of ``added`` whose (case, kind) slot is still armed after the
        removals is a conflict: another transaction armed it meanwhile. The store
        raises then (SQL: the primary key's IntegrityError), and the batch's
        transaction rolls back and is retried.
        """

    @abc.abstractmethod
    def due(self, now: datetime, limit: int) -> list[Deadline]:
        """Up to ``limit`` deadlines with due_at <= now, by (due_at, case_id, kind)."""

    @abc.abstractmethod
    def warnings_due(self, now: datetime, limit: int) -> list[Deadline]:
        """Up to ``limit`` unwarned deadlines with warn_at <= now < due_at, by
        (warn_at, case_id, kind)."""

    @abc.abstractmethod
    def remove(self, deadlines: Sequence[Deadline]) -> list[Deadline]:
        """Disarm exactly ``deadlines``; the ones it removed, in their given order.

        One gone or re-armed meanwhile (by another transaction, or another escalator
        instance's tick) is left alone and not returned."""

    @abc.abstractmethod
    def provisional(self, after: tuple[str, str] | None, limit: int) -> list[Deadline]:
        """Up to ``limit`` provisional deadlines by (case_id, slot), from after the
        (case_id, slot) ``after`` (None: from the start): a page of those to count again."""

    @abc.abstractmethod
    def reschedule(self, pairs: Sequence[tuple[Deadline, Deadline]]) -> list[Deadline]:
        """Replace each ``old`` of ``(old, new)`` by ``new`` in its slot, but only while
        exactly ``old`` is armed there (matched as in :meth:`remove`); the ``new`` ones
        it wrote, in their given order. One gone (lapsed, disarmed) or re-armed meanwhile
        is left alone: a lapsed deadline must not come back."""

    @abc.abstractmethod
    def next_due(self) -> datetime | None:
        """The earliest moment a tick will find work: the least ``due_at`` of every
        armed deadline and ``warn_at`` of every unwarned one; None when none is armed.

        The escalator's runner sleeps until then (:mod:`services.runtime.worker`)
        instead of polling the table, so it must cost one indexed lookup whatever the
        table's size. It may be in the past: work is waiting."""

    @abc.abstractmethod
    def advance_warnings(self, pairs: Sequence[tuple[Deadline, Deadline]]) -> list[Deadline]:
        """For each ``(old, new)``: a warning of ``old`` went out, so its row takes
        ``new``'s ``warn_at`` (the next moment) and ``warned`` (none left: the row then
        keeps the moment it had, so a store may mark it as :meth:`mark_warned` does), but only
        while exactly ``old`` is armed there (matched as in :meth:`remove`) with the
        same ``warn_at`` and not ``warned``; the ``old`` ones it advanced, in their
        given order. So each warning moment is sent once, whichever instance ticks."""

    @abc.abstractmethod
    def mark_warned(self, deadlines: Sequence[Deadline]) -> list[Deadline]:
        """Record that the warnings for exactly ``deadlines`` went out (matched as in
        :meth:`remove`); the ones it marked, in their given order. One gone, re-armed
        meanwhile, or already marked (another instance's tick warned of it) is not
        returned."""


class CalendarSource(Protocol):
    """Where a new calendar comes from while the process runs (the site's
    ``calendar.yaml`` changed: :mod:`services.calendar_watch`)."""

    def changed(self) -> WorkingCalendar | None:
        """The calendar to count on from now, when it changed since the last call."""
