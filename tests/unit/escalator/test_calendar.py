"""WorkingCalendar against real 2026 dates (checked with chinese_calendar) and a year past them."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta

import pytest

from escalator.calendar import LimitUnit, Reckoning, WorkingCalendar
from tests.support.sites import SHANGHAI

from .builders import at

CLOSE = time(17, 30)
ONE_DAY = timedelta(days=1)


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


def test_an_uncovered_year_is_provisional_with_one_warning(
    cal: WorkingCalendar, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="escalator.calendar")
    assert not cal.is_workday(date(2030, 1, 1))  # New Year's Day: statutory in every year
    assert not cal.is_workday(date(2030, 1, 5))  # Saturday
    # Fri 4 Jan 2030 + 1 working day: Mon 7 Jan.
    assert cal.reckon(at(2030, 1, 4, 10), 1) == Reckoning(at(2030, 1, 8, 0), provisional=True)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].year == 2030  # type: ignore[attr-defined]
    cal.is_workday(date(2031, 6, 2))
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2


def test_a_period_running_into_an_uncovered_year_is_provisional(cal: WorkingCalendar) -> None:
    # Thu 31 Dec 2026 + 2: Fri 1 Jan 2027 is New Year's Day, so Mon 4 (1), Tue 5 (2).
    assert cal.reckon(at(2026, 12, 31, 10), 2) == Reckoning(at(2027, 1, 6, 0), provisional=True)
    # Mon 28 Dec 2026 + 3 ends on Thu 31 Dec: no day of 2027 counted.
    assert cal.reckon(at(2026, 12, 28, 10), 3) == Reckoning(at(2027, 1, 1, 0), provisional=False)
    # The same working day on Thu 31 Dec ends at 24:00, 00:00 of 2027: still official.
    assert cal.reckon(at(2026, 12, 31, 10), 0) == Reckoning(at(2027, 1, 1, 0), provisional=False)


# --- the counting rules (ARCHITECTURE.md, "Deadlines"), in several years ---------------


def test_spring_festival_2025_and_its_make_up_days(cal: WorkingCalendar) -> None:
    # 28 Jan - 4 Feb off; Sun 26 Jan and Sat 8 Feb worked (调休)
    assert cal.is_workday(date(2025, 1, 26)) and cal.is_workday(date(2025, 2, 8))
    assert not any(cal.is_workday(date(2025, 1, 28) + (i * ONE_DAY)) for i in range(8))
    # Mon 27 Jan + 3: Wed 5 (1), Thu 6 (2), Fri 7 Feb (3)
    assert cal.due(at(2025, 1, 27, 10), 3) == at(2025, 2, 8, 0)
    # + 4: Sat 8 Feb is worked, so it counts
    assert cal.due(at(2025, 1, 27, 10), 4) == at(2025, 2, 9, 0)


def test_spring_festival_2026_nine_days(cal: WorkingCalendar) -> None:
    # Fri 13 Feb + 1: Sat 14 Feb is worked (调休); 15-23 off; Sat 28 worked
    assert cal.due(at(2026, 2, 13, 10), 1) == at(2026, 2, 15, 0)
    assert cal.due(at(2026, 2, 14, 10), 1) == at(2026, 2, 25, 0)


def test_national_day_2025_with_mid_autumn(cal: WorkingCalendar) -> None:
    # 1-8 Oct off, Sun 28 Sep and Sat 11 Oct worked. Fri 26 Sep + 1: Sun 28 Sep.
    assert cal.due(at(2025, 9, 26, 10), 1) == at(2025, 9, 29, 0)
    # Tue 30 Sep + 2: Thu 9 (1), Fri 10 Oct (2); + 3: Sat 11 Oct (worked)
    assert cal.due(at(2025, 9, 30, 10), 2) == at(2025, 10, 11, 0)
    assert cal.due(at(2025, 9, 30, 10), 3) == at(2025, 10, 12, 0)


def test_national_day_in_a_provisional_year(cal: WorkingCalendar) -> None:
    # 2027: Fri 1 - Sun 3 Oct off, 补假 Mon 4 and Tue 5; no weekend worked
    r = cal.reckon(at(2027, 9, 30, 10), 1)
    assert r == Reckoning(at(2027, 10, 7, 0), provisional=True)  # Wed 6 Oct
    # Spring Festival 2027: eve Fri 5 Feb - Mon 8, 补假 Tue 9 and Wed 10
    assert cal.reckon(at(2027, 2, 4, 10), 1) == Reckoning(at(2027, 2, 12, 0), provisional=True)


def test_the_day_of_receipt_is_not_counted(cal: WorkingCalendar) -> None:
    # received in the first minute or the last, Thursday + 1 is Friday 24:00
    assert cal.due(at(2026, 3, 5, 0, 0), 1) == at(2026, 3, 7, 0)
    assert cal.due(at(2026, 3, 5, 23, 59), 1) == at(2026, 3, 7, 0)


def test_business_hours_close_the_last_day_in_a_provisional_year(cal: WorkingCalendar) -> None:
    assert cal.reckon(at(2026, 12, 31, 10), 1, CLOSE) == Reckoning(
        at(2027, 1, 4, 17, 30), provisional=True
    )


def test_calendar_days_end_on_a_working_day(cal: WorkingCalendar) -> None:
    # Thu 5 Mar + 3 calendar days: Sun 8, a day off, so Mon 9 (Civil Code art. 203)
    assert cal.reckon_calendar_days(at(2026, 3, 5, 10), 3) == Reckoning(at(2026, 3, 10), False)
    # Thu 24 Sep + 7: Thu 1 Oct, National Day, so Thu 8 Oct
    assert cal.reckon_calendar_days(at(2026, 9, 24, 10), 7) == Reckoning(at(2026, 10, 9), False)
    # Fri 25 Dec 2026 + 7: Fri 1 Jan 2027, New Year's Day on the provisional rule: Mon 4
    assert cal.reckon_calendar_days(at(2026, 12, 25, 10), 7) == Reckoning(at(2027, 1, 5), True)
    assert cal.reckon_calendar_days(at(2026, 3, 7, 10), 0) == Reckoning(at(2026, 3, 8), False)
    assert cal.reckon_calendar_days(at(2026, 3, 6, 20), 0, CLOSE) == Reckoning(
        at(2026, 3, 7, 17, 30), False
    )


def test_hours_are_elapsed_hours_whatever_the_calendar(cal: WorkingCalendar) -> None:
    assert cal.reckon_hours(at(2026, 10, 1, 9), 24) == Reckoning(at(2026, 10, 2, 9), False)
    assert cal.reckon_hours(at(2026, 12, 31, 23), 2) == Reckoning(at(2027, 1, 1, 1), False)
    # given in UTC, answered in the site's zone
    got = cal.reckon_hours(datetime(2026, 3, 6, 17, tzinfo=UTC), 2, SHANGHAI)
    assert got.due_at == at(2026, 3, 7, 3) and got.due_at.tzinfo == SHANGHAI


def test_limits_by_unit_share_one_entry(cal: WorkingCalendar) -> None:
    start = at(2026, 3, 5, 10)
    assert cal.reckon_limit(start, 3, LimitUnit.WORKING_DAYS) == cal.reckon(start, 3)
    assert cal.reckon_limit(start, 3, LimitUnit.CALENDAR_DAYS) == cal.reckon_calendar_days(start, 3)
    assert cal.reckon_limit(start, 3, LimitUnit.HOURS) == cal.reckon_hours(start, 3)
    with pytest.raises(ValueError):
        cal.reckon_hours(start, -1)
    with pytest.raises(ValueError):
        cal.reckon_calendar_days(start, -1)
