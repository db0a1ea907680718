"""The provisional rule for a year no notice covers: statutory holidays and 补假 only."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from escalator.calendar import Source, WorkingCalendar
from escalator.statutory import provisional_days_off, statutory_holidays


def test_spring_festival_falls_on_its_lunar_new_year() -> None:
    # Known lunar new years: 6 Feb 2027, 26 Jan 2028, 13 Feb 2029, 3 Feb 2030
    for first in (date(2027, 2, 6), date(2028, 1, 26), date(2029, 2, 13), date(2030, 2, 3)):
        days = statutory_holidays(first.year)
        eve = first - timedelta(days=1)
        assert days[eve] == "除夕"
        assert [days[first + timedelta(days=i)] for i in range(3)] == ["春节"] * 3


def test_the_lunar_and_solar_term_holidays_of_2027_and_2028() -> None:
    h27, h28 = statutory_holidays(2027), statutory_holidays(2028)
    assert h27[date(2027, 4, 5)] == "清明节"
    assert h27[date(2027, 6, 9)] == "端午节"
    assert h27[date(2027, 9, 15)] == "中秋节"
    assert h28[date(2028, 4, 4)] == "清明节"
    assert h28[date(2028, 5, 28)] == "端午节"
    # Mid-Autumn 2028 is on 3 October, a National Day holiday already: one day off
    assert h28[date(2028, 10, 3)] == "中秋节"
    assert len(h28) == 12 and len(h27) == 13


def test_2027_days_off_with_their_make_up_days() -> None:
    expected = {
        date(2027, 1, 1),  # Friday
        *(date(2027, 2, d) for d in (5, 6, 7, 8)),  # eve Fri, Sat, Sun, Mon
        date(2027, 2, 9),  # 补假 for Sat 6 Feb
        date(2027, 2, 10),  # 补假 for Sun 7 Feb
        date(2027, 4, 5),  # Qingming, Monday
        date(2027, 5, 1),  # Saturday
        date(2027, 5, 2),  # Sunday
        date(2027, 5, 3),  # 补假
        date(2027, 5, 4),  # 补假
        date(2027, 6, 9),
        date(2027, 9, 15),
        *(date(2027, 10, d) for d in (1, 2, 3, 4, 5)),  # Fri-Sun and two 补假
    }
    assert provisional_days_off(2027) == expected


def test_2028_make_up_days_skip_the_other_holidays() -> None:
    expected = {
        date(2028, 1, 1),  # Saturday
        date(2028, 1, 3),  # its 补假: Monday
        *(date(2028, 1, d) for d in (25, 26, 27, 28)),
        date(2028, 4, 4),
        date(2028, 5, 1),
        date(2028, 5, 2),
        date(2028, 5, 28),  # Dragon Boat, Sunday
        date(2028, 5, 29),  # its 补假
        date(2028, 10, 1),  # Sunday
        date(2028, 10, 2),
        date(2028, 10, 3),  # and Mid-Autumn
        date(2028, 10, 4),  # 补假 for 1 October, after the block
    }
    assert provisional_days_off(2028) == expected


def test_new_years_day_2027_is_not_a_working_day() -> None:
    cal = WorkingCalendar()
    assert cal.source(2027) is Source.PROVISIONAL
    assert not cal.is_workday(date(2027, 1, 1))
    assert cal.is_workday(date(2027, 1, 4))


@pytest.mark.parametrize("year", [2027, 2028, 2031, 2045, 2063, 2099])
def test_no_weekend_becomes_a_working_day_and_every_holiday_is_off(year: int) -> None:
    cal = WorkingCalendar()
    day = date(year, 1, 1)
    while day.year == year:
        if day.weekday() >= 5 or day in statutory_holidays(year):
            assert not cal.is_workday(day), day
        day += timedelta(days=1)
    assert date(year, 4, 4) <= min(d for d, n in statutory_holidays(year).items() if n == "清明节")
    assert max(d for d, n in statutory_holidays(year).items() if n == "清明节") <= date(year, 4, 6)


def test_a_year_of_the_package_is_not_provisional() -> None:
    cal = WorkingCalendar()
    assert cal.source(2024) is Source.PACKAGE
    assert cal.source(2026) is Source.NOTICE  # the bundled notice, as the package has it
    assert not cal.is_provisional(2025)
