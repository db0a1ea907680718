"""Clocks stopped, restarted and moved: suspension and extension (挂起, 延期).

An approved suspension stops each running clock of the suspended assignment and
records the time it had left; resuming restarts it with exactly that time, so a
case never loses or gains time by waiting on the resident. An approved extension
moves the due time by working days.

**The time left** is counted as the clock counts (:mod:`escalator.calendar`):

- a limit in working days counts working time only: each working day from its
  start until its end (24:00, or the close of business where the site sets it),
  and no time at all on a day off. Stopped on Thursday 10:00 with the clock due
  at Friday 24:00, it has 14 + 24 = 38 hours left; resumed on Monday 10:00 it is
  due on Tuesday 24:00, the weekend not counted. A holiday is skipped the same way;
- a limit in hours, or in calendar days, counts elapsed time: those periods run
  whatever the calendar.

Moments are taken to the whole second (the clock stops and restarts on a second),
so the time left is an exact number of seconds and a clock stopped and restarted
at once is due exactly when it was.

**An extension** of N working days ends at the end of the N-th working day after
the day the clock fell due (so a clock due at 24:00 on Friday and extended by 2 is
due at 24:00 on Tuesday), whatever the limit's own unit.

The next warning is the site's next warning moment after the clock restarts (or
the extension is approved), over the span from the clock's start to its new due
time (:func:`escalator.clocks.next_warning`).

A resumed clock is no longer a function of when it began, and neither is an
extended one whose limit is not in working days (an extended working-day clock is:
its limit grows by the days added). The rescheduler counts provisional clocks again
from their start (:mod:`escalator.reschedule`), so such a clock, when provisional,
loses its ``started_at`` and the rescheduler leaves it alone: it stays marked
provisional rather than be counted wrongly, and keeps one warning, as far before
its due time as it was.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from escalator.calendar import Reckoning, WorkingCalendar
from escalator.clocks import next_warning
from escalator.ports import Deadline
from schemas.cases import DeadlineKind
from schemas.catalogue import Site

_ONE_DAY = timedelta(days=1)
WORKING_DAYS = "working_days"  # the limit unit whose clocks count working time only


def whole_second(moment: datetime) -> datetime:
    """``moment`` without its fraction of a second: clocks stop and restart on a second."""
    return moment.replace(microsecond=0)


def _counts_working_time(d: Deadline) -> bool:
    return str(getattr(d, "unit", WORKING_DAYS)) == WORKING_DAYS


class Counting:
    """Working time on the site's calendar: each working day from 00:00 to its end."""

    def __init__(self, site: Site, calendar: WorkingCalendar) -> None:
        self.site = site
        self._calendar = calendar
        self._close = site.deadlines.business_hours_end
        self._tz: tzinfo = site.tz

    def _window(self, day: date) -> tuple[datetime, datetime] | None:
        """The counted part of ``day``, in UTC; None on a day off."""
        if not self._calendar.is_workday(day):
            return None
        start = datetime.combine(day, time(0), tzinfo=self._tz)
        if self._close is not None:
            end = datetime.combine(day, self._close, tzinfo=self._tz)
        else:
            end = datetime.combine(day + _ONE_DAY, time(0), tzinfo=self._tz)
        return start.astimezone(UTC), end.astimezone(UTC)

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Working time in [start, end)."""
        lo, hi = start.astimezone(UTC), end.astimezone(UTC)
        total = timedelta()
        day, last = start.astimezone(self._tz).date(), end.astimezone(self._tz).date()
        while day <= last and lo < hi:
            window = self._window(day)
            if window is not None:
                a, b = max(lo, window[0]), min(hi, window[1])
                if b > a:
                    total += b - a
            day += _ONE_DAY
        return total

    def after(self, start: datetime, left: timedelta) -> Reckoning:
        """The moment ``left`` of working time after ``start``, and whether a day of a
        year without an official schedule was counted for it."""
        at = start.astimezone(UTC)
        first = day = start.astimezone(self._tz).date()
        while left > timedelta():
            window = self._window(day)
            if window is not None and window[1] > max(at, window[0]):
                begin = max(at, window[0])
                if left <= window[1] - begin:
                    at = begin + left
                    break
                left -= window[1] - begin
            day += _ONE_DAY
        provisional = any(self._calendar.is_provisional(y) for y in range(first.year, day.year + 1))
        return Reckoning(at.astimezone(self._tz), provisional)

    def extended(self, due: datetime, working_days: int) -> Reckoning:
        """The end of the ``working_days``-th working day after the day ``due`` ends."""
        last_instant = due.astimezone(self._tz) - timedelta(microseconds=1)
        return self._calendar.reckon(last_instant, working_days, self._close, self._tz)

    def left(self, d: Deadline, at: datetime) -> timedelta:
        """What ``d`` has left at ``at``: working time, or elapsed time (see the module)."""
        if _counts_working_time(d):
            return self.between(at, d.due_at)
        return max(d.due_at.astimezone(UTC) - at.astimezone(UTC), timedelta())

    def until(self, d: Deadline, at: datetime, left: timedelta) -> Reckoning:
        """When a clock counting as ``d`` does, restarted at ``at`` with ``left``, runs out."""
        if _counts_working_time(d):
            return self.after(at, left)
        return Reckoning((at.astimezone(UTC) + left).astimezone(self._tz), False)


def _warning(site: Site, d: Deadline, due: datetime, after: datetime) -> datetime | None:
    """The next warning of ``d`` moved to ``due``: the policy's next moment after
    ``after`` over the clock's span (:func:`escalator.clocks.next_warning`), or, for a
    clock with no start, its pending warning kept as far before the due time (at once
    if that is already past)."""
    if d.kind is DeadlineKind.REMIND:
        return d.warn_at
    if d.started_at is not None:
        return next_warning(site, d.started_at, due, after)
    if d.warn_at is None or d.warned:
        return None
    moved = due.astimezone(UTC) - (d.due_at.astimezone(UTC) - d.warn_at.astimezone(UTC))
    return max(moved, after.astimezone(UTC) + timedelta(seconds=1)).astimezone(due.tzinfo)


def paused(counting: Counting, d: Deadline, at: datetime) -> Deadline | None:
    """``d`` stopped at ``at`` with the time it has left; None when it is due by then
    (it lapsed already: the tick reports it, and the suspension does not undo that)."""
    at = whole_second(at)
    if d.paused_at is not None or d.due_at <= at:
        return None
    seconds = int(counting.left(d, at).total_seconds())
    return replace(d, paused_at=at, remaining_seconds=seconds)


def resumed(counting: Counting, d: Deadline, at: datetime) -> Deadline | None:
    """``d`` running again from ``at`` with the time it had left; None unless paused."""
    if d.paused_at is None or d.remaining_seconds is None:
        return None
    at = whole_second(max(at, d.paused_at))
    r = counting.until(d, at, timedelta(seconds=d.remaining_seconds))
    provisional = d.provisional or r.provisional
    # counted again from its start, a resumed clock would lose its pause: so it has none
    start = None if provisional and d.kind is not DeadlineKind.REMIND else d.started_at
    warn_at = _warning(counting.site, replace(d, started_at=start), r.due_at, at)
    return replace(
        d,
        due_at=r.due_at,
        warn_at=warn_at,
        warned=warn_at is None,
        provisional=provisional,
        started_at=start,
        paused_at=None,
        remaining_seconds=None,
    )


def extended(counting: Counting, d: Deadline, working_days: int, at: datetime) -> Deadline:
    """``d``, extended at ``at``, due ``working_days`` working days later; a paused one
    keeps the extra time in what it has left, so it is added when it restarts."""
    r = counting.extended(d.due_at, working_days)
    provisional = d.provisional or r.provisional
    moved = replace(d, due_at=r.due_at, provisional=provisional)
    if _counts_working_time(d):  # counted again from its start, it still ends there
        moved = replace(moved, working_days=d.working_days + working_days)
    elif provisional:
        moved = replace(moved, started_at=None)
    warn_at = _warning(counting.site, moved, r.due_at, whole_second(at))
    moved = replace(moved, warn_at=warn_at, warned=warn_at is None)
    if d.paused_at is not None:
        left = counting.left(moved, d.paused_at)
        moved = replace(moved, remaining_seconds=int(left.total_seconds()))
    return moved
