"""Working days and deadline arithmetic on China's official calendar, knowing what it knows.

Which days are working days comes, for each year, from the first of these that
covers it:

1. a State Council notice in the schedule data (:mod:`schemas.calendar`: the bundled
   file, with the site's own ``calendar.yaml`` on top), so a notice published after
   a release is loaded as data;
2. the ``chinese_calendar`` package (2004-2026 in release 1.11), including the
   make-up working days (调休);
3. else the provisional statutory rule (:mod:`escalator.statutory`): the statutory
   holidays and their make-up days (补假), Monday to Friday otherwise. Every result
   that looked at a day of such a year says so (:attr:`Reckoning.provisional`), so a
   deadline is never silently guessed.

The site's own holidays and working days (``site.yaml``) come on top of all three.

Counting (Civil Code arts. 201 and 203), in the site's timezone:

- the day of receipt is not counted: a period counts from the next day;
- N working days end at 24:00 of the N-th working day after it, or at the close of
  business hours where the site sets them; 0 is "the same working day";
- N calendar days end at 24:00 of the N-th day after it, or, when that day is not a
  working day, of the next working day (art. 203);
- hours are elapsed hours from the moment of receipt, whatever the calendar.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from functools import cache

import chinese_calendar

from escalator.statutory import is_provisional_workday, statutory_holidays
from schemas.calendar import CalendarError, Schedule, bundled_schedule
from schemas.cases import LimitUnit  # the contract's: a limit on the wire names its unit

log = logging.getLogger(__name__)

_ONE_DAY = timedelta(days=1)
STATUTORY_SINCE = 2025
"""The first year of the 2024 revision of the holiday rules, which the rule and the
check of each notice against it follow."""


class Source(StrEnum):
    """Where a year's working days come from."""

    NOTICE = "notice"  # a notice in the schedule data
    PACKAGE = "package"  # chinese_calendar
    PROVISIONAL = "provisional"  # the statutory rule: no notice known yet


@dataclass(frozen=True)
class Reckoning:
    """When a period ends, and whether any day counted for it came from a provisional year."""

    due_at: datetime
    provisional: bool


@cache
def _package_covers(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
    except NotImplementedError:
        return False
    return True


@cache
def _bundled() -> Schedule:
    return bundled_schedule()


def check_against_statute(schedule: Schedule) -> None:
    """Refuse a notice that leaves out a statutory holiday: a typing error, since every
    notice gives at least the days the regulation fixes (years since 2025)."""
    problems = []
    for year, entry in sorted(schedule.years.items()):
        if year < STATUTORY_SINCE:
            continue
        off = entry.holiday_dates()
        missing = {d: n for d, n in statutory_holidays(year).items() if d not in off}
        if missing:
            problems.append(f"{year}: {', '.join(f'{n} {d}' for d, n in missing.items())}")
    if problems:
        raise CalendarError("statutory holidays missing from the notice: " + "; ".join(problems))


class WorkingCalendar:
    """Working days and deadlines. Pure: no clock; results are cached per date.

    ``schedule`` is the notices by year (default: the bundled ones); it is checked
    against the statutory holidays here, so a bad file stops the process at start.
    """

    def __init__(
        self,
        extra_holidays: Collection[date] = (),
        extra_workdays: Collection[date] = (),
        schedule: Schedule | None = None,
    ) -> None:
        both = set(extra_holidays) & set(extra_workdays)
        if both:
            raise ValueError(f"dates both extra holidays and extra working days: {sorted(both)}")
        self._extra_holidays = frozenset(extra_holidays)
        self._extra_workdays = frozenset(extra_workdays)
        self._schedule = _bundled() if schedule is None else schedule
        check_against_statute(self._schedule)
        self._notice_off = {y: e.holiday_dates() for y, e in self._schedule.years.items()}
        self._notice_work = {y: frozenset(e.workdays) for y, e in self._schedule.years.items()}
        self._cache: dict[date, bool] = {}
        self._sources: dict[int, Source] = {}

    # --- which days ------------------------------------------------------------------

    def source(self, year: int) -> Source:
        """Where ``year``'s working days come from."""
        known = self._sources.get(year)
        if known is None:
            if year in self._notice_off:
                known = Source.NOTICE
            elif _package_covers(year):
                known = Source.PACKAGE
            else:
                known = Source.PROVISIONAL
                log.warning(
                    "no official schedule for this year: provisional statutory calendar",
                    extra={"year": year},
                )
            self._sources[year] = known
        return known

    def is_provisional(self, year: int) -> bool:
        """True when no notice and no package release covers ``year`` yet."""
        return self.source(year) is Source.PROVISIONAL

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
        source = self.source(day.year)
        if source is Source.NOTICE:
            if day in self._notice_work[day.year]:
                return True
            return day.weekday() < 5 and day not in self._notice_off[day.year]
        if source is Source.PACKAGE:
            return bool(chinese_calendar.is_workday(day))
        return is_provisional_workday(day)

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

    def _looked_at(self, first: date, last: date) -> bool:
        """Whether a day in [first, last] belongs to a provisional year."""
        return any(self.is_provisional(y) for y in range(first.year, last.year + 1))

    # --- deadlines -------------------------------------------------------------------

    def due(
        self,
        start: datetime,
        working_days: int,
        business_hours_end: time | None = None,
        tz: tzinfo | None = None,
    ) -> datetime:
        """When a period of ``working_days`` begun at ``start`` ends (see :meth:`reckon`)."""
        return self.reckon(start, working_days, business_hours_end, tz).due_at

    def reckon(
        self,
        start: datetime,
        working_days: int,
        business_hours_end: time | None = None,
        tz: tzinfo | None = None,
    ) -> Reckoning:
        """When a period of ``working_days`` begun at ``start`` ends, as an aware
        datetime, and whether a provisional year's day was counted for it.

        N >= 1 ends at the end of the N-th working day after the start date.
        N = 0 means "the same working day": the end of the start date when it is a
        working day, else the end of the next working day. The end of a day is
        24:00 (00:00 of the next calendar day) in ``tz`` (the site's; by default the
        start's own timezone), or ``business_hours_end``
        on that day when given. With business hours, an N = 0 period started after
        they closed ends with the next working day's hours, never before its start.
        """
        local, tz = _local(start, tz)
        if working_days < 0:
            raise ValueError("working_days must be >= 0")
        if working_days == 0:
            first = local.date()
            last = self.next_workday(first)
            end = self._end_of(last, business_hours_end, tz)
            if end <= local:  # after hours on a working day: the next one counts
                last = self.add_workdays(last, 1)
                end = self._end_of(last, business_hours_end, tz)
        else:
            first = local.date() + _ONE_DAY
            last = self.add_workdays(local.date(), working_days)
            end = self._end_of(last, business_hours_end, tz)
        return Reckoning(end, self._looked_at(first, last))

    def reckon_calendar_days(
        self,
        start: datetime,
        days: int,
        business_hours_end: time | None = None,
        tz: tzinfo | None = None,
    ) -> Reckoning:
        """N calendar days from ``start``: the end of the N-th day after the start date;
        when that day is not a working day, the end of the next working day (Civil Code
        art. 203). 0 is the same calendar day (the next one when begun after hours)."""
        local, tz = _local(start, tz)
        if days < 0:
            raise ValueError("days must be >= 0")
        if days == 0:
            end = self._end_of(local.date(), business_hours_end, tz)
            if end <= local:
                end = self._end_of(local.date() + _ONE_DAY, business_hours_end, tz)
            return Reckoning(end, False)
        nominal = local.date() + days * _ONE_DAY
        last = self.next_workday(nominal)
        return Reckoning(self._end_of(last, business_hours_end, tz), self._looked_at(nominal, last))

    @staticmethod
    def reckon_hours(start: datetime, hours: float, tz: tzinfo | None = None) -> Reckoning:
        """``hours`` elapsed hours after ``start``, in ``tz``: no calendar is consulted."""
        local, tz = _local(start, tz)
        if hours < 0:
            raise ValueError("hours must be >= 0")
        end = (local.astimezone(UTC) + timedelta(hours=hours)).astimezone(tz)
        return Reckoning(end, False)

    def reckon_limit(
        self,
        start: datetime,
        amount: int,
        unit: LimitUnit,
        business_hours_end: time | None = None,
        tz: tzinfo | None = None,
    ) -> Reckoning:
        """A limit of ``amount`` in ``unit``: the one entry the CLI and the clocks share."""
        if unit is LimitUnit.WORKING_DAYS:
            return self.reckon(start, amount, business_hours_end, tz)
        if unit is LimitUnit.CALENDAR_DAYS:
            return self.reckon_calendar_days(start, amount, business_hours_end, tz)
        return self.reckon_hours(start, amount, tz)

    @staticmethod
    def _end_of(day: date, business_hours_end: time | None, tz: tzinfo) -> datetime:
        if business_hours_end is not None:
            return datetime.combine(day, business_hours_end, tzinfo=tz)
        return datetime.combine(day + _ONE_DAY, time(0), tzinfo=tz)


def _local(start: datetime, tz: tzinfo | None) -> tuple[datetime, tzinfo]:
    """``start`` in ``tz`` (default: its own zone), refusing a naive one."""
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    zone = tz or start.tzinfo
    assert zone is not None
    return start.astimezone(zone), zone
