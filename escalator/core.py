"""The escalator: arms deadlines from the case story and reports the near and the lapsed.

It reads ``gridflow.cases.events``. Each assignment arms the holding unit's
deadlines, in working days on the site's policy for the unit's tier
(:mod:`escalator.clocks`: a community accepts the same working day and resolves
within 3, a street the same day and within 5; a matter beyond the tier is
referred up within 1). Later steps disarm them. Each co-handler (协办) of an
assignment has a clock too (``assist``: its tier's resolve limit), stopped by its
``case.part_reported`` or the lead's ``case.handled``; a case queued for manual
dispatch (人工分拨) has the command room's (``dispatch``), stopped by the dispatch.

``handle`` works a batch at a time and never emits: it loads the deadlines of
every case in the batch at once, applies the batch's steps in order in memory,
and writes back only what changed. Output comes from ``tick(now)`` alone, as
warnings (the deadline is near) and lapses (it passed) on ``gridflow.deadlines``,
for the router to escalate and the notifier to tell people, and on the holding
unit's own topic, so that the unit hears of its own deadlines where it works.

Outputs are a function of the deadlines alone: a warning happens at the
deadline's ``warn_at`` and a lapse at its ``due_at`` (times in the site's timezone), whenever
the tick runs, and every id is derived from (case, kind, seq) with no cause. So
the same deadline always yields the same bytes, and a tick re-run after a crash,
or late, or on another instance re-emits what downstream inboxes drop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from escalator.calendar import WorkingCalendar
from escalator.clocks import (
    assist_clocks,
    clocks_for,
    dispatch_clock,
    next_reminder,
    next_warning,
)
from escalator.metrics import PROVISIONAL_DEADLINES
from escalator.ports import CalendarSource, Deadline, DeadlineStore
from escalator.reschedule import Rescheduler
from escalator.suspension import Counting, extended, paused, resumed, whole_second
from schemas.access import own_topic
from schemas.cases import (
    AssignmentReason,
    CaseAccepted,
    CaseAssigned,
    CaseClosed,
    CaseEscalated,
    CaseExtended,
    CaseHandled,
    CasePartReported,
    CaseQueued,
    CaseResumed,
    CaseReturned,
    CaseSuspended,
    DeadlineKind,
    LimitUnit,
)
from schemas.catalogue import Site
from schemas.deadletter import Rejected, RejectionReason
from schemas.deadlines import (
    DeadlineLapsed,
    DeadlinePayload,
    DeadlineReminder,
    DeadlineWarning,
    ReminderPayload,
)
from schemas.envelope import Model
from schemas.processing import Inbound, Outcome
from schemas.suspension import (
    DeadlineExtended,
    DeadlinePaused,
    DeadlineResumed,
    ExtendedPayload,
    PausedPayload,
    ResumedPayload,
)
from schemas.topics import CASE_EVENTS, DEADLINES, Emit, assignment_topic

__all__ = ["Deadline", "Escalator"]

log = logging.getLogger(__name__)
NAME = "escalator"
# Handled settles the holder's deadlines; an accept still open then is moot, so it goes too.
_HANDLING = (DeadlineKind.RESOLVE, DeadlineKind.REFER, DeadlineKind.ACCEPT)
# The steps that disarm or move clocks, and need to know whose: the envelope's case_id.
_STEPS = (
    CaseAccepted,
    CaseHandled,
    CaseEscalated,
    CaseClosed,
    CaseSuspended,
    CaseResumed,
    CaseExtended,
    CaseReturned,
    CaseQueued,
    CasePartReported,
)
# An extension moves the clocks of the work itself, not the same-day accept or a reminder.
_EXTENDED = (DeadlineKind.RESOLVE, DeadlineKind.REFER)

Armed = dict[str, dict[str, Deadline]]
"""A batch's working state: each case's armed deadlines by slot (:attr:`Deadline.slot`:
the kind, or a co-handler's ``assist.<part>``)."""


def _case_of(message: Model) -> str | None:
    """The case whose deadlines ``message`` may change; None when it changes none."""
    if isinstance(message, CaseAssigned):
        return message.payload.case.case_id
    if isinstance(message, _STEPS):
        return message.case_id
    return None


class Escalator:
    """Processor ``escalator``: owns every case's deadlines."""

    name = NAME
    topics = (CASE_EVENTS.name,)

    def __init__(
        self,
        site: Site,
        calendar: WorkingCalendar,
        store: DeadlineStore,
        batch: int = 1000,
        calendars: CalendarSource | None = None,
    ) -> None:
        self._site = site
        self._store = store
        self._tz = site.tz
        self._batch = batch  # most lapses (and, apart, warnings) one tick works through
        self._calendars = calendars  # a new notice taken up while running, if any
        self._count_on(calendar)

    def _count_on(self, calendar: WorkingCalendar) -> None:
        """Count on ``calendar`` from now: the clocks armed next, the time left of a
        suspension, and a pass over the provisional deadlines (escalator.reschedule),
        from the next tick on."""
        self._calendar = calendar
        self._rescheduler = Rescheduler(self._site, calendar, self._batch)
        self._counting = Counting(self._site, calendar)

    def _refresh_calendar(self) -> None:
        if self._calendars is not None and (new := self._calendars.changed()) is not None:
            self._count_on(new)

    # --- the case story arms and disarms ------------------------------------------

    def handle(self, batch: Sequence[Inbound]) -> list[Outcome]:
        """Arm or disarm the deadlines of the batch's cases. It emits only when a
        suspension, a resume or an extension moves a clock, or when a clock armed is
        not the one the unit was told: the unit's announcement.

        One load of every case the batch touches, its steps applied in order, then
        one write of the difference: the rows removed or changed go, exactly as they
        were loaded, and the new ones come. Rows left as they were are not written,
        so one a concurrent tick took meanwhile stays taken.
        """
        self._refresh_calendar()
        case_ids = [c for c in (_case_of(item.message) for item in batch) if c is not None]
        loaded = self._store.load(case_ids) if case_ids else {}
        armed: Armed = {c: {d.slot: d for d in ds} for c, ds in loaded.items()}
        out: list[Outcome] = []
        for item in batch:
            try:
                out.append(self._apply(item.message, armed))
            except Rejected as refused:
                out.append(refused)
        before = {(d.case_id, d.slot): d for ds in loaded.values() for d in ds}
        after = {(d.case_id, d.slot): d for kinds in armed.values() for d in kinds.values()}
        removed = [d for slot, d in sorted(before.items()) if after.get(slot) != d]
        added = [d for slot, d in sorted(after.items()) if before.get(slot) != d]
        if removed or added:
            self._store.write(removed, added)
        for d in added:
            if d.provisional:
                PROVISIONAL_DEADLINES.labels("armed", d.kind.value).inc()
        return out

    def _apply(self, message: Model, armed: Armed) -> list[Emit]:
        """One step of the story on ``armed``; Rejected (with ``armed`` untouched) for
        a step that does not say whose deadlines it settles. What it emits: the unit's
        announcements of the clocks a suspension, a resume or an extension moved, or
        that an assignment told otherwise."""
        case_id = _case_of(message)
        if case_id is None:
            if isinstance(message, _STEPS):
                raise Rejected(
                    RejectionReason.INVALID,
                    f"{message.type} without a case_id: no case's deadlines can be disarmed",
                )
            return []  # verified, rated: no deadline of theirs
        kinds = armed.setdefault(case_id, {})
        if isinstance(message, (CaseSuspended, CaseResumed, CaseExtended)):
            return self._move(message, kinds)
        if isinstance(message, CaseAssigned):
            return self._arm(message, kinds)
        if isinstance(message, CaseAccepted):
            self._disarm(kinds, message.payload.seq, (DeadlineKind.ACCEPT,))
        elif isinstance(message, CaseHandled):
            self._disarm(kinds, message.payload.seq, _HANDLING)
            self._drop_assists(kinds, message.payload.seq)  # the lead's report ends theirs
        elif isinstance(message, CasePartReported):  # 协办: that co-handler's clock stops
            p = message.payload
            self._drop_assists(kinds, p.seq, p.unit_id)
        elif isinstance(message, CaseQueued):  # 人工分拨: the queue's own clock
            kinds.clear()  # the returner's, its co-handlers': no one holds it now
            self._queued(message, kinds)
        elif isinstance(message, CaseEscalated):
            self._drop_held_by(kinds, message.payload.from_unit_id)
            if message.payload.to_unit_id is None:
                self._remind(message, kinds)
        elif isinstance(message, CaseReturned):  # 退回: the returner's clocks go with it
            self._drop_held_by(kinds, message.payload.unit_id)
        elif isinstance(message, CaseClosed):
            kinds.clear()
        return []

    def _move(
        self,
        message: CaseSuspended | CaseResumed | CaseExtended,
        kinds: dict[str, Deadline],
    ) -> list[Emit]:
        """Stop, restart or extend the clocks of the assignment the decision names
        (:mod:`escalator.suspension`), and tell the unit of each on its own topic.

        The moment is the case event's: when the router applied the decision. A clock
        of another assignment is left alone, as is one already due when a suspension
        comes (it lapsed: the tick reports it). Applied twice, nothing moves again:
        a paused clock is not paused anew, a running one not resumed."""
        p, at = message.payload, message.occurred_at
        out: list[Emit] = []
        for kind, d in sorted(kinds.items()):
            # the lead's clocks, and its co-handlers' (协办) of the same assignment
            if d.seq != p.seq or (d.unit_id != p.unit_id and d.kind is not DeadlineKind.ASSIST):
                continue
            moved: Deadline | None
            if isinstance(message, CaseSuspended):
                moved = paused(self._counting, d, at)
            elif isinstance(message, CaseResumed):
                moved = resumed(self._counting, d, at)
            elif kind in _EXTENDED:
                moved = extended(self._counting, d, message.payload.working_days, at)
            else:
                moved = None
            if moved is not None:
                kinds[kind] = moved
                out += self._announce(message, d, moved)
        return out

    def _announce(
        self, cause: CaseSuspended | CaseResumed | CaseExtended, old: Deadline, new: Deadline
    ) -> list[Emit]:
        """What became of one clock, on the holding unit's topic; derived from the
        decision and the clock, so a replay repeats its bytes."""
        tz, p = self._tz, cause.payload
        common = {
            "kind": new.kind,
            "unit_id": new.unit_id,
            "tier": new.tier,
            "seq": new.seq,
            "request_id": p.request_id,
            "provisional": new.provisional,
        }
        message: DeadlinePaused | DeadlineResumed | DeadlineExtended
        key = (new.case_id, new.slot, new.seq)
        if isinstance(cause, CaseSuspended):
            assert new.paused_at is not None and new.remaining_seconds is not None
            payload: Model = PausedPayload(
                **common,
                due_at=old.due_at.astimezone(tz),
                paused_at=new.paused_at.astimezone(tz),
                remaining_seconds=new.remaining_seconds,
            )
            kind: type[DeadlinePaused | DeadlineResumed | DeadlineExtended] = DeadlinePaused
        elif isinstance(cause, CaseResumed):
            assert old.paused_at is not None and old.remaining_seconds is not None
            payload = ResumedPayload(
                **common,
                due_at=new.due_at.astimezone(tz),
                previous_due_at=old.due_at.astimezone(tz),
                warn_at=new.warn_at.astimezone(tz) if new.warn_at else None,
                paused_at=old.paused_at.astimezone(tz),
                resumed_at=whole_second(cause.occurred_at).astimezone(tz),
                remaining_seconds=old.remaining_seconds,
            )
            kind = DeadlineResumed
        else:
            payload = ExtendedPayload(
                **common,
                due_at=new.due_at.astimezone(tz),
                previous_due_at=old.due_at.astimezone(tz),
                warn_at=new.warn_at.astimezone(tz) if new.warn_at else None,
                working_days=cause.payload.working_days,
            )
            kind = DeadlineExtended
        message = kind.derive(
            payload,
            producer=NAME,
            now=cause.occurred_at.astimezone(tz),
            case_id=new.case_id,
            cause=cause,
            key=key,
            correlation_id=new.correlation_id,
        )
        return [Emit(topic=assignment_topic(new.unit_id).name, key=new.case_id, message=message)]

    def _arm(self, message: CaseAssigned, kinds: dict[str, Deadline]) -> list[Emit]:
        """The new holder's deadlines replace all of the case's, unless a later
        assignment's are armed already (this one is stale).

        The escalator's count is the one that holds. Where the unit was told another
        due time (``due`` on the assignment: the router counted on a calendar the
        escalator has since left, when a new notice came in between), the unit hears
        the one armed, once, as ``deadline.rescheduled`` at the assignment's time."""
        case_id = message.payload.case.case_id
        a = message.payload.assignment
        if any(d.seq > a.seq for d in kinds.values()):
            log.warning("stale assignment ignored", extra={"case_id": case_id, "seq": a.seq})
            return []
        kinds.clear()
        told = {d.kind: d for d in message.payload.due}
        out: list[Emit] = []
        for clock in clocks_for(self._site, self._calendar, a, message.payload.case):
            kinds[clock.kind] = armed = Deadline(
                case_id=case_id,
                kind=clock.kind,
                seq=a.seq,
                unit_id=a.unit_id,
                tier=a.tier,
                due_at=clock.due_at,
                warn_at=clock.warn_at,
                working_days=clock.limit.amount,
                correlation_id=message.correlation_id,
                warned=clock.warn_at is None,
                provisional=clock.provisional,
                started_at=a.assigned_at,
                unit=clock.limit.unit,
                policy=clock.policy,
            )
            was = told.get(clock.kind)
            if was is not None and (was.due_at, was.provisional) != (
                clock.due_at,
                clock.provisional,
            ):
                old = replace(armed, due_at=was.due_at, provisional=was.provisional)
                out.append(self._rescheduler.announce(old, armed, message.occurred_at))
        for part, (co, clock) in enumerate(
            assist_clocks(self._site, self._calendar, a, message.payload.case), 1
        ):
            assist = Deadline(
                case_id=case_id,
                kind=DeadlineKind.ASSIST,
                seq=a.seq,
                unit_id=co.unit_id,
                tier=co.tier,
                due_at=clock.due_at,
                warn_at=clock.warn_at,
                working_days=clock.limit.amount,
                correlation_id=message.correlation_id,
                warned=clock.warn_at is None,
                provisional=clock.provisional,
                started_at=a.assigned_at,
                unit=clock.limit.unit,
                policy=clock.policy,
                part=part,
            )
            kinds[assist.slot] = assist
        return out

    def _queued(self, message: CaseQueued, kinds: dict[str, Deadline]) -> None:
        """The dispatch queue's clock (人工分拨), for the command room told of the case:
        its tier's ``dispatch`` limit from when it was queued (escalator.clocks). No room
        (the site has none over the last holder): no clock, and a warning logged."""
        p = message.payload
        room = self._site.sender(p.room) if p.room else None
        where = self._site.jurisdiction(room.jurisdiction or "") if room else None
        if room is None or where is None:
            log.warning(
                "queued with no command room: no dispatch clock", extra={"case_id": message.case_id}
            )
            return
        clock = dispatch_clock(self._site, self._calendar, where.tier, p.at)
        kinds[DeadlineKind.DISPATCH] = Deadline(
            case_id=message.case_id,
            kind=DeadlineKind.DISPATCH,
            seq=p.seq,
            unit_id=room.id,
            tier=where.tier,
            due_at=clock.due_at,
            warn_at=clock.warn_at,
            working_days=clock.limit.amount,
            correlation_id=message.correlation_id,
            warned=clock.warn_at is None,
            provisional=clock.provisional,
            started_at=p.at,
            unit=clock.limit.unit,
        )

    @staticmethod
    def _drop_assists(kinds: dict[str, Deadline], seq: int, unit_id: str | None = None) -> None:
        """Drop the co-handlers' clocks of assignment ``seq`` (only ``unit_id``'s if given)."""
        for slot, d in list(kinds.items()):
            if d.kind is DeadlineKind.ASSIST and d.seq == seq and unit_id in (None, d.unit_id):
                del kinds[slot]

    def _remind(self, message: CaseEscalated, kinds: dict[str, Deadline]) -> None:
        """Supervised at the top (no unit above took it): the holder keeps the case,
        and a reminder clock is armed, one period after the lapse, for the tick to
        repeat until the case closes (a close clears it; a new assignment replaces
        it with fresh clocks). Only a lapse's supervision: the case has then been
        overdue since the lapsed clock's due time."""
        p, every = message.payload, self._site.deadlines.reminder_every
        lapsed_at = p.due_at or message.occurred_at
        due = next_reminder(self._site, self._calendar, lapsed_at)
        if due is None or every is None or p.reason is not AssignmentReason.ESCALATED:
            return
        kinds[DeadlineKind.REMIND] = Deadline(
            case_id=message.case_id,
            kind=DeadlineKind.REMIND,
            seq=p.seq or 1,
            unit_id=p.from_unit_id,
            tier=p.from_tier,
            due_at=due,
            warn_at=None,
            working_days=every.amount,  # its limit is the period
            correlation_id=message.correlation_id,
            warned=True,
            started_at=lapsed_at,
            unit=every.unit,
        )

    @staticmethod
    def _disarm(kinds: dict[str, Deadline], seq: int, which: tuple[DeadlineKind, ...]) -> None:
        """Drop ``which`` kinds, but only those of assignment ``seq``: a late step of
        an earlier assignment must not clear the current holder's deadlines."""
        for kind in which:
            if kind in kinds and kinds[kind].seq == seq:
                del kinds[kind]

    @staticmethod
    def _drop_held_by(kinds: dict[str, Deadline], unit_id: str) -> None:
        """The escalated-from unit's deadlines go; those of the unit it went to stay,
        whichever of CaseEscalated and the new CaseAssigned comes first."""
        for kind in [k for k, d in kinds.items() if d.unit_id == unit_id]:
            del kinds[kind]

    # --- time passes ---------------------------------------------------------------

    def tick(self, now: datetime) -> list[Emit]:
        """Warn of near deadlines and report lapsed ones, a bounded batch of each.

        Ticks may run on several escalator instances at once, and race the case story
        handled in other transactions. So a tick marks or removes exactly the
        deadlines it read, matched by (case, kind, seq, due_at), in one statement
        each: one re-armed meanwhile for the same (case, kind) is left alone. It emits
        only what that statement marked or removed: a deadline already gone
        (disarmed, or taken by another instance's tick) is not reported twice or late.

        ``now`` only selects what is due; what is emitted is a function of the
        deadlines taken, in the order read: warnings by (warn_at, case, kind), then
        lapses by (due_at, case, kind). Before them, from its first ticks on, the
        process counts its provisional deadlines again (:mod:`escalator.reschedule`).
        While lapses fill whole rounds (a backlog), warnings wait for the round that
        drains it.
        """
        self._refresh_calendar()
        rescheduled = self._rescheduler.step(self._store, now)
        due = self._store.due(now, self._batch)
        lapsed = self._take(
            [d for d in due if d.kind is not DeadlineKind.REMIND], self._store.remove
        )
        reminded = self._take([d for d in due if d.kind is DeadlineKind.REMIND], self._repeat)
        # Warnings are read once the lapses are taken, so the read never walks overdue
        # rows (unwarned ones sort first by warn_at): with fewer lapses than a round,
        # every overdue row is gone (or, a reminder, moved on) by then, and at most a
        # round of them is left for the index to step over. A full round of lapses is a
        # backlog (after downtime): its rows' warnings are moot, and the overdue rows
        # left would be walked; warnings wait for the round that drains it, and one
        # still ahead of its due time comes then.
        backlog = len(due) >= self._batch
        read = [] if backlog else self._store.warnings_due(now, self._batch)
        warned = self._take(read, self._advance_warnings)
        for d in lapsed:
            log.info("deadline lapsed", extra={"case_id": d.case_id, "kind": d.kind.value})
        out: list[Emit] = list(rescheduled)
        for d in warned:
            out += self._emit(DeadlineWarning, d, d.warn_at or d.due_at)
        for d in sorted([*lapsed, *reminded], key=lambda d: (d.due_at, d.case_id, d.kind)):
            if d.kind is DeadlineKind.REMIND:
                out += self._emit(DeadlineReminder, d, d.due_at)
            else:
                out += self._emit(DeadlineLapsed, d, d.due_at)
        return out

    def _advance_warnings(self, read: Sequence[Deadline]) -> list[Deadline]:
        """Each deadline read warned of at its ``warn_at``: its row moves on to the next
        warning moment, or is marked warned once none is left. So each moment of the
        policy is sent once, in order, and one missed during downtime is sent late
        (a tick apart), never skipped."""
        pairs = []
        for d in read:
            assert d.warn_at is not None  # warnings_due reads only rows with a moment
            after = (  # a row armed before starts were kept had its one warning
                next_warning(self._site, d.started_at, d.due_at, d.warn_at)
                if d.started_at is not None
                else None
            )
            # none left: the row keeps its last moment, marked warned
            pairs.append((d, replace(d, warn_at=after or d.warn_at, warned=after is None)))
        return self._store.advance_warnings(pairs)

    def _repeat(self, read: Sequence[Deadline]) -> list[Deadline]:
        """Each reminder read is sent, and its row moves one period on, until the case
        closes (the story clears it). The next moment follows from this one alone, so a
        reminder missed during downtime is sent late, a tick apart, never skipped."""
        pairs = []
        for d in read:
            due = next_reminder(self._site, self._calendar, d.due_at)
            if due is None:  # the site stopped sending reminders: this is the last
                pairs.append((d, None))
            else:
                pairs.append((d, replace(d, due_at=due)))
        again = [(d, n) for d, n in pairs if n is not None]
        written = {(n.case_id, n.kind, n.seq) for n in self._store.reschedule(again)}
        stopped = self._store.remove([d for d, n in pairs if n is None])
        stop = {s.exact for s in stopped}
        return [d for d in read if (d.case_id, d.kind, d.seq) in written or d.exact in stop]

    def next_due(self) -> datetime | None:
        """When a tick next has work: the store's earliest due or warning time (in the
        past when work waits), at once while the provisional pass has pages left, None
        when nothing is armed. Read inside a transaction, as :meth:`tick` is.

        The runner sleeps until then rather than tick on a fixed period
        (:mod:`services.runtime.worker`); a tick at any ``now`` before it finds nothing."""
        if not self._rescheduler.done:
            return datetime.min.replace(tzinfo=UTC)
        return self._store.next_due()

    @staticmethod
    def _take(
        read: list[Deadline], take: Callable[[Sequence[Deadline]], list[Deadline]]
    ) -> list[Deadline]:
        """``take`` the deadlines read; the ones it got (the rest went meanwhile)."""
        if not read:
            return []
        got = take(read)
        if len(got) < len(read):
            kept = {d.exact for d in got}
            for d in read:
                if d.exact not in kept:
                    log.debug(
                        "deadline gone or re-armed since read: not emitted",
                        extra={"case_id": d.case_id, "kind": d.kind.value, "seq": d.seq},
                    )
        return got

    def _emit(
        self,
        kind: type[DeadlineWarning | DeadlineLapsed | DeadlineReminder],
        d: Deadline,
        happened: datetime,
    ) -> list[Emit]:
        """The message for ``d``, on the deadlines topic and on the holding unit's own:
        its times in the site's timezone, whatever the store read them back in, so
        every store gives the same bytes."""
        tz = self._tz
        fields = {
            "kind": d.kind,
            "unit_id": d.unit_id,
            "tier": d.tier,
            "seq": d.seq,
            "due_at": d.due_at.astimezone(tz),
            "working_days": d.working_days if d.unit is LimitUnit.WORKING_DAYS else None,
            "limit": d.limit,
            "policy": d.policy,
            "started_at": d.started_at.astimezone(tz) if d.started_at is not None else None,
            "provisional": d.provisional,
        }
        key: tuple[object, ...] = (d.case_id, d.slot, d.seq)
        payload: DeadlinePayload
        if kind is DeadlineReminder:
            lapsed_at = d.started_at or d.due_at
            late = int((d.due_at - lapsed_at).total_seconds())
            payload = ReminderPayload(**fields, late_by_seconds=late)  # limit: the period
            key = (*key, d.due_at.astimezone(tz).isoformat())  # one a period
        else:
            payload = DeadlinePayload(**fields)
            if kind is DeadlineWarning and d.warn_at is not None:
                key = (*key, d.warn_at.astimezone(tz).isoformat())  # one a warning moment
        message = kind.derive(
            payload,
            producer=NAME,
            now=happened.astimezone(tz),
            case_id=d.case_id,
            key=key,
            correlation_id=d.correlation_id,
        )
        return [
            Emit(topic=DEADLINES.name, key=d.case_id, message=message),
            # the holder's own topic: a unit's, or the command room's (a dispatch clock)
            Emit(topic=own_topic(self._site, d.unit_id).name, key=d.case_id, message=message),
        ]
