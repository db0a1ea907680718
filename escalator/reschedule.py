"""Provisional deadlines counted again once their year's official schedule is known.

A deadline counted on a day of a year no schedule covered (:mod:`escalator.calendar`)
is armed with ``provisional`` set and the moment its clock began. The calendar is
built when the process starts, from the bundled notices, the site's ``calendar.yaml``
and the installed ``chinese_calendar``, and again when ``calendar.yaml`` changes while
it runs (:mod:`services.calendar_watch`). Each new calendar starts a pass: from the
next tick on, :class:`Rescheduler` walks the provisional deadlines, a page per tick,
by (case, kind):

- one still counting a provisional day stays as it is;
- one now counted on official days only takes its new due and warning times,
  ``provisional`` cleared, and is announced once on the holding unit's topic as
  ``deadline.rescheduled`` (even when the time did not move: the unit learns it is
  no longer a guess).

Once. A rescheduled row is provisional no more, so no later pass finds it again,
and its message id is derived from (case, kind, seq, new due), so a tick re-run
after a crash repeats the same id for downstream inboxes to drop. A row that
lapsed, was disarmed or re-armed meanwhile is not touched (the store matches it
exactly), so a lapsed deadline never comes back.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from escalator.calendar import WorkingCalendar
from escalator.clocks import reckoned_again
from escalator.metrics import PROVISIONAL_DEADLINES
from escalator.ports import Deadline, DeadlineStore
from schemas.access import own_topic
from schemas.cases import LimitUnit
from schemas.catalogue import Site
from schemas.deadlines import DeadlineRescheduled, RescheduledPayload
from schemas.topics import Emit

log = logging.getLogger(__name__)
PRODUCER = "escalator"


class Rescheduler:
    """One pass over the armed provisional deadlines, a page at a time.

    One pass per calendar, from the first tick on it (the escalator starts another
    when it takes up a new calendar). :attr:`done` once it reached the end.

    Its place survives a tick rolled back: a page that rescheduled anything is read
    again by the next step (the rows rescheduled are gone from it once committed,
    and are rescheduled again, with the same ids, if they were not); only a page
    with nothing left to reschedule moves the place past it. So every page costs
    one read more, and nothing is skipped.
    """

    def __init__(self, site: Site, calendar: WorkingCalendar, page: int = 1000) -> None:
        self._site = site
        self._calendar = calendar
        self._page = page
        self._after: tuple[str, str] | None = None
        self.done = False

    def step(self, store: DeadlineStore, now: datetime) -> list[Emit]:
        """Count one page again; the announcements of the deadlines it rescheduled."""
        if self.done:
            return []
        page = store.provisional(self._after, self._page)
        pairs = [(d, new) for d in page if (new := self.recount(d)) is not None]
        if not pairs:  # all still provisional: on to the next page, or done
            if len(page) < self._page:
                self.done = True
            else:
                self._after = (page[-1].case_id, page[-1].slot)
            return []
        written = store.reschedule(pairs)
        previous = {(old.case_id, old.slot): old for old, _ in pairs}
        for n in written:
            PROVISIONAL_DEADLINES.labels("rescheduled", n.kind.value).inc()
        if written:
            log.info("provisional deadlines rescheduled", extra={"count": len(written)})
        return [self.announce(previous[(n.case_id, n.slot)], n, now) for n in written]

    def recount(self, d: Deadline) -> Deadline | None:
        """``d`` counted on the calendar as it is now; None while it is still provisional
        (or when it has no start to count from: armed before starts were kept)."""
        if d.started_at is None:
            return None
        clock = reckoned_again(self._site, self._calendar, d.started_at, d.kind, d.limit)
        if clock is None:
            return None
        # the warnings already sent are those before the row's next one: the new clock's
        # moments from there on are still to come (all of them, if it had none left)
        sent_before = d.warn_at if not d.warned else clock.due_at
        left = [m for m in clock.warnings if sent_before is None or m >= sent_before]
        warn_at = left[0] if left else None
        return replace(
            d, due_at=clock.due_at, warn_at=warn_at, warned=warn_at is None, provisional=False
        )

    def announce(self, old: Deadline, new: Deadline, now: datetime) -> Emit:
        """``deadline.rescheduled`` for ``new``, on the holding unit's topic.

        It happens at ``now``, but never before its clock began: a simulated clock
        reads the epoch until its first tick arrives."""
        tz = self._site.tz
        payload = RescheduledPayload(
            kind=new.kind,
            unit_id=new.unit_id,
            tier=new.tier,
            seq=new.seq,
            due_at=new.due_at.astimezone(tz),
            working_days=new.working_days if new.unit is LimitUnit.WORKING_DAYS else None,
            limit=new.limit,
            policy=new.policy,
            started_at=new.started_at.astimezone(tz) if new.started_at is not None else None,
            provisional=False,
            previous_due_at=old.due_at.astimezone(tz),
            warn_at=new.warn_at.astimezone(tz) if new.warn_at is not None else None,
        )
        message = DeadlineRescheduled.derive(
            payload,
            producer=PRODUCER,
            now=max(now, new.started_at or now).astimezone(tz),
            case_id=new.case_id,
            key=(new.case_id, new.slot, new.seq, new.due_at.astimezone(tz).isoformat()),
            correlation_id=new.correlation_id,
        )
        return Emit(topic=own_topic(self._site, new.unit_id).name, key=new.case_id, message=message)
