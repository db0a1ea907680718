"""WorkingCalendar against real 2026 dates (checked with chinese_calendar) and the fallback."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time

import pytest

from escalator.calendar import WorkingCalendar
from tests.support.sites import SHANGHAI

from .builders import at

CLOSE = time(17, 30)


@pytest.fixture
def cal() -> WorkingCalendar:
    return WorkingCalendar()


def test_national_day_2026_holidays_and_make_up_days(cal: WorkingCalendar) -> None:
    for day in range(1, 8):
        assert not cal.is_workday(date(2026, 10, day)), f"Oct {day} is a holiday"
    assert cal.is_workday(date(2026, 9, 20))  # Sunday, made a working day (调休)
    assert cal.is_workday(date(2026, 10, 10))  # Saturday, made a working day
    assert not cal.is_workday(date(2026, 10, 11))  # an ordinary Sunday
    assert cal.is_workday(date(2026, 10, 8))


def test_same_day_on_a_friday_evening_ends_at_midnight(cal: WorkingCalendar) -> None:
    assert cal.due(at(2026, 3, 6, 20), 0) == at(2026, 3, 7, 0)


def test_same_day_on_a_sunday_ends_with_monday(cal: WorkingCalendar) -> None:
    assert cal.due(at(2026, 3, 8, 10), 0) == at(2026, 3, 10, 0)


def test_three_days_across_a_weekend_count_from_the_next_day(cal: WorkingCalendar) -> None:
    # Thu 5 March: Fri 6 (1), Mon 9 (2), Tue 10 (3) -> ends at 24:00 on Tuesday.
    assert cal.due(at(2026, 3, 5, 10), 3) == at(2026, 3, 11, 0)
    assert cal.due(at(2026, 3, 5, 0, 1), 3) == at(2026, 3, 11, 0)  # the hour does not matter


def test_five_days_across_national_day(cal: WorkingCalendar) -> None:
    # Tue 29 Sep: Wed 30 Sep (1), Thu 8 Oct (2), Fri 9 (3), Sat 10 (4, 调休), Mon 12 (5).
    assert cal.due(at(2026, 9, 29, 15), 5) == at(2026, 10, 13, 0)


def test_a_period_ending_on_a_holiday_runs_to_the_next_working_day(
    cal: WorkingCalendar,
) -> None:
    # Wed 30 Sep + 1 working day: Oct 1-7 are holidays, so Thu 8 Oct.
    assert cal.due(at(2026, 9, 30, 9), 1) == at(2026, 10, 9, 0)


def test_business_hours_end_the_day(cal: WorkingCalendar) -> None:
    assert cal.due(at(2026, 3, 5, 10), 3, CLOSE) == at(2026, 3, 10, 17, 30)
    assert cal.due(at(2026, 3, 6, 10), 0, CLOSE) == at(2026, 3, 6, 17, 30)


def test_same_day_after_business_hours_moves_to_the_next_working_day(
    cal: WorkingCalendar,
) -> None:
    assert cal.due(at(2026, 3, 6, 20), 0, CLOSE) == at(2026, 3, 9, 17, 30)


def test_start_is_read_in_the_site_timezone(cal: WorkingCalendar) -> None:
    # 17:00 UTC on Friday is 01:00 on Saturday in Shanghai: same day means Monday.
    start = datetime(2026, 3, 6, 17, 0, tzinfo=UTC)
    assert cal.due(start, 0, tz=SHANGHAI) == at(2026, 3, 10, 0)
    # Without a site timezone the start's own zone counts: Friday 17:00 UTC is a working day.
    assert cal.due(start, 0) == datetime(2026, 3, 7, 0, 0, tzinfo=UTC)


def test_naive_start_and_negative_days_are_refused(cal: WorkingCalendar) -> None:
    with pytest.raises(ValueError):
        cal.due(datetime(2026, 3, 6, 10), 1)
    with pytest.raises(ValueError):
        cal.due(at(2026, 3, 6, 10), -1)


def test_local_holidays_and_working_days() -> None:
    cal = WorkingCalendar(extra_holidays={date(2026, 3, 9)}, extra_workdays={date(2026, 3, 7)})
    assert cal.is_workday(date(2026, 3, 7)) and not cal.is_workday(date(2026, 3, 9))
    # Fri 6: Sat 7 (1, local working day), Mon 9 is a local holiday, Tue 10 (2).
    assert cal.due(at(2026, 3, 6, 10), 2) == at(2026, 3, 11, 0)
    with pytest.raises(ValueError):
        WorkingCalendar(extra_holidays={date(2026, 3, 7)}, extra_workdays={date(2026, 3, 7)})


def test_working_days_between(cal: WorkingCalendar) -> None:
    assert cal.working_days_between(date(2026, 9, 29), date(2026, 10, 12)) == 5
    assert cal.working_days_between(date(2026, 3, 6), date(2026, 3, 8)) == 0
    assert cal.working_days_between(date(2026, 3, 6), date(2026, 3, 6)) == 0


def test_fallback_year_is_monday_to_friday_with_one_warning(
    cal: WorkingCalendar, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="escalator.calendar")
    assert cal.is_workday(date(2030, 1, 1))  # New Year's Day, but no data: a Tuesday
    assert not cal.is_workday(date(2030, 1, 5))  # Saturday
    # Fri 4 Jan 2030 + 1 working day: Mon 7 Jan.
    assert cal.due(at(2030, 1, 4, 10), 1) == at(2030, 1, 8, 0)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].year == 2030  # type: ignore[attr-defined]
    cal.is_workday(date(2031, 6, 2))
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2


def test_a_period_running_into_an_uncovered_year_does_not_crash(cal: WorkingCalendar) -> None:
    # Thu 31 Dec 2026 + 2: Fri 1 Jan 2027 counts (no data: Monday-Friday), Mon 4 Jan.
    assert cal.due(at(2026, 12, 31, 10), 2) == at(2027, 1, 5, 0)
