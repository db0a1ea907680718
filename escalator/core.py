"""The escalator: arms deadlines from the case story and reports the near and the lapsed.

It reads ``gridflow.cases.events``. Each assignment arms the holding unit's
deadlines: for a matter within its tier's duties, accept and resolve (resolve
alone on rework); for one beyond them, refer alone, since such a matter has no
accept limit and must only be reported up (DOMAIN.md: within 1 working day, the
site's refer limit). Later steps disarm them. ``handle`` never emits: output
comes from ``tick(now)`` alone, as warnings (the deadline is near) and lapses (it
passed) on ``gridflow.deadlines``, for the router to escalate and the notifier
to tell people. Every emitted id is derived from (case, kind, seq) with no
cause, so re-running a tick after a crash re-emits the same ids and downstream
inboxes drop the repeats.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from escalator.calendar import WorkingCalendar
from escalator.ports import Deadline, DeadlineStore
from schemas.cases import (
    AssignmentReason,
    CaseAccepted,
    CaseAssigned,
    CaseClosed,
    CaseEscalated,
    CaseHandled,
    DeadlineKind,
)
from schemas.catalogue import Site
from schemas.deadlines import DeadlineLapsed, DeadlinePayload, DeadlineWarning
from schemas.envelope import Model
from schemas.topics import CASE_EVENTS, DEADLINES, Emit

__all__ = ["Deadline", "Escalator"]

log = logging.getLogger(__name__)
NAME = "escalator"
# Handled settles the holder's deadlines; an accept still open then is moot, so it goes too.
_HANDLING = (DeadlineKind.RESOLVE, DeadlineKind.REFER, DeadlineKind.ACCEPT)


class Escalator:
    """Processor ``escalator``: owns every case's deadlines."""

    name = NAME
    topics = (CASE_EVENTS.name,)

    def __init__(
        self, site: Site, calendar: WorkingCalendar, store: DeadlineStore, batch: int = 1000
    ) -> None:
        self._site = site
        self._calendar = calendar
        self._store = store
        self._tz = ZoneInfo(site.timezone)
        self._warn_before = timedelta(hours=site.deadlines.warn_before_hours)
        self._batch = batch  # most lapses (and, apart, warnings) one tick works through

    # --- the case story arms and disarms ------------------------------------------

    def handle(self, message: Model, now: datetime) -> list[Emit]:
        """Arm or disarm the case's deadlines; never emits."""
        if isinstance(message, CaseAssigned):
            self._arm(message)
        elif isinstance(message, CaseAccepted):
            self._disarm(message.case_id, message.payload.seq, (DeadlineKind.ACCEPT,))
        elif isinstance(message, CaseHandled):
            self._disarm(message.case_id, message.payload.seq, _HANDLING)
        elif isinstance(message, CaseEscalated) and message.case_id:
            self._drop_held_by(message.case_id, message.payload.from_unit_id)
        elif isinstance(message, CaseClosed) and message.case_id:
            self._store.drop(message.case_id)
        return []

    def _arm(self, message: CaseAssigned) -> None:
        case_id = message.payload.case.case_id
        a = message.payload.assignment
        if any(d.seq > a.seq for d in self._store.get(case_id)):
            log.warning("stale assignment ignored", extra={"case_id": case_id, "seq": a.seq})
            return
        self._store.drop(case_id)
        policy = self._site.deadlines_for(a.tier)
        armed: list[tuple[DeadlineKind, int]] = []
        if a.tier.rank < a.owner_tier.rank:
            # beyond this tier's duties: no accept limit, only report it up (上报)
            armed.append((DeadlineKind.REFER, policy.refer))
        else:
            if a.reason is not AssignmentReason.REWORK:  # rework: already accepted once
                armed.append((DeadlineKind.ACCEPT, policy.accept))
            armed.append((DeadlineKind.RESOLVE, policy.resolve))
        for kind, days in armed:
            due_at = self._calendar.due(
                a.assigned_at, days, self._site.deadlines.business_hours_end, self._tz
            )
            warn_at = due_at - self._warn_before
            self._store.put(
                Deadline(
                    case_id=case_id,
                    kind=kind,
                    seq=a.seq,
                    unit_id=a.unit_id,
                    tier=a.tier,
                    due_at=due_at,
                    warn_at=warn_at if a.assigned_at < warn_at < due_at else None,
                    working_days=days,
                    correlation_id=message.correlation_id,
                )
            )

    def _disarm(self, case_id: str | None, seq: int, kinds: tuple[DeadlineKind, ...]) -> None:
        """Drop ``kinds`` of the case, but only those of assignment ``seq``: a late step
        of an earlier assignment must not clear the current holder's deadlines."""
        if case_id is None:
            return
        current = [d.kind for d in self._store.get(case_id) if d.kind in kinds and d.seq == seq]
        if current:
            self._store.drop(case_id, current)

    def _drop_held_by(self, case_id: str, unit_id: str) -> None:
        """The escalated-from unit's deadlines go; those of the unit it went to stay,
        whichever of CaseEscalated and the new CaseAssigned comes first."""
        held = [d.kind for d in self._store.get(case_id) if d.unit_id == unit_id]
        if held:
            self._store.drop(case_id, held)

    # --- time passes ---------------------------------------------------------------

    def tick(self, now: datetime) -> list[Emit]:
        """Warn of near deadlines and report lapsed ones, a bounded batch of each.

        Ticks may run on several escalator instances at once, and race the case story
        handled in other transactions. So a tick marks or removes exactly the deadline
        it read, matched by (case, kind, seq, due_at): one re-armed meanwhile for the
        same (case, kind) is left alone. It emits only what it marked or removed: a
        deadline already gone (disarmed, or taken by another instance's tick) is not
        reported twice or late.
        """
        out: list[Emit] = []
        for d in self._store.warnings_due(now, self._batch):
            if self._store.mark_warned(d):
                out.append(self._emit(DeadlineWarning, d, now))
            else:
                self._superseded(d)
        for d in self._store.due(now, self._batch):
            if self._store.remove(d):
                out.append(self._emit(DeadlineLapsed, d, now))
                log.info("deadline lapsed", extra={"case_id": d.case_id, "kind": d.kind.value})
            else:
                self._superseded(d)
        return out

    @staticmethod
    def _superseded(d: Deadline) -> None:
        log.debug(
            "deadline gone or re-armed since read: not emitted",
            extra={"case_id": d.case_id, "kind": d.kind.value, "seq": d.seq},
        )

    @staticmethod
    def _emit(kind: type[DeadlineWarning | DeadlineLapsed], d: Deadline, now: datetime) -> Emit:
        payload = DeadlinePayload(
            kind=d.kind,
            unit_id=d.unit_id,
            tier=d.tier,
            seq=d.seq,
            due_at=d.due_at,
            working_days=d.working_days,
        )
        message = kind.derive(
            payload,
            producer=NAME,
            now=now,
            case_id=d.case_id,
            key=(d.case_id, d.kind.value, d.seq),
            correlation_id=d.correlation_id,
        )
        return Emit(topic=DEADLINES.name, key=d.case_id, message=message)
