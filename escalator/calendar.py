"""Working days and deadline arithmetic on China's official calendar.

Which days are working days comes from the ``chinese_calendar`` package: the
official public holidays and the weekend days that become working days to make
up for them (调休). Its data covers 2004-2026 only; for any other year this
calendar falls back to Monday-Friday working days (no holidays at all) and logs
one warning per such year, so a stale package degrades deadlines, never crashes
the escalator. A site can add local holidays and working days on top.

Deadlines follow the Civil Code (arts. 201 and 203): a period counts from the
day after the start day; a period whose last day is a holiday ends on the next
working day (counting working days does that by construction); the last day
ends at 24:00, or at the end of business hours where there are any.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import date, datetime, time, timedelta, tzinfo

import chinese_calendar

log = logging.getLogger(__name__)

_ONE_DAY = timedelta(days=1)


class WorkingCalendar:
    """Working days and deadlines. Pure: no clock; results are cached per date."""

    def __init__(
        self,
        extra_holidays: Collection[date] = (),
        extra_workdays: Collection[date] = (),
    ) -> None:
        both = set(extra_holidays) & set(extra_workdays)
        if both:
            raise ValueError(f"dates both extra holidays and extra working days: {sorted(both)}")
        self._extra_holidays = frozenset(extra_holidays)
        self._extra_workdays = frozenset(extra_workdays)
        self._cache: dict[date, bool] = {}
        self._warned_years: set[int] = set()

    def is_workday(self, day: date) -> bool:
        """True when ``day`` is a working day here (official calendar plus local changes)."""
        known = self._cache.get(day)
        if known is None:
            known = self._compute(day)
            self._cache[day] = known
        return known

    def _compute(self, day: date) -> bool:
        if day in self._extra_holidays:
            return False
        if day in self._extra_workdays:
            return True
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            if day.year not in self._warned_years:
                self._warned_years.add(day.year)
                log.warning(
                    "no official calendar for this year: Monday-Friday working days assumed",
                    extra={"year": day.year},
                )
            return day.weekday() < 5

    def next_workday(self, day: date) -> date:
        """``day`` itself when it is a working day, else the first working day after it."""
        while not self.is_workday(day):
            day += _ONE_DAY
        return day

    def add_workdays(self, day: date, n: int) -> date:
        """The ``n``-th working day after ``day`` (``day`` itself not counted), n >= 1."""
        if n < 1:
            raise ValueError("n must be at least 1")
        while n:
            day += _ONE_DAY
            if self.is_workday(day):
                n -= 1
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]: after ``start``, up to and including ``end``."""
        if end <= start:
            return 0
        count, day = 0, start
        while day < end:
            day += _ONE_DAY
            count += self.is_workday(day)
        return count

    def due(
        self,
        start: datetime,
        working_days: int,
        business_hours_end: time | None = None,
        tz: tzinfo | None = None,
    ) -> datetime:
        """When a period of ``working_days`` begun at ``start`` ends, as an aware datetime.

        N >= 1 ends at the end of the N-th working day after the start date.
        N = 0 means "the same working day": the end of the start date when it is a
        working day, else the end of the next working day. The end of a day is
        24:00 (00:00 of the next calendar day) in ``tz`` (the site's; by default the
        start's own timezone), or ``business_hours_end``
        on that day when given. With business hours, an N = 0 period started after
        they closed ends with the next working day's hours, never before its start.
        """
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if working_days < 0:
            raise ValueError("working_days must be >= 0")
        tz = tz or start.tzinfo
        assert tz is not None
        local = start.astimezone(tz)
        if working_days == 0:
            last = self.next_workday(local.date())
            end = self._end_of(last, business_hours_end, tz)
            if end <= local:  # after hours on a working day: the next one counts
                end = self._end_of(self.add_workdays(last, 1), business_hours_end, tz)
            return end
        return self._end_of(self.add_workdays(local.date(), working_days), business_hours_end, tz)

    @staticmethod
    def _end_of(day: date, business_hours_end: time | None, tz: tzinfo) -> datetime:
        if business_hours_end is not None:
            return datetime.combine(day, business_hours_end, tzinfo=tz)
        return datetime.combine(day + _ONE_DAY, time(0), tzinfo=tz)
