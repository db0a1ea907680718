"""The provisional calendar of a year no notice covers yet: the statutory holidays alone.

The regulation (全国年节及纪念日放假办法, as revised in 2024, in force since
1 January 2025, art. 2) fixes the days off every citizen has:

- New Year's Day, 1 January;
- Spring Festival: its eve and the first three days of the first lunar month
  (the eve is the last day of the twelfth month, the 29th or the 30th);
- Qingming, the day of the solar term (4 or 5 April);
- Labour Day, 1 and 2 May;
- Dragon Boat, the 5th day of the fifth lunar month;
- Mid-Autumn, the 15th day of the eighth lunar month;
- National Day, 1 to 3 October.

A holiday that falls on a Saturday or a Sunday is made up on a working day (art. 6,
补假): here on the first weekdays after it that are not holidays themselves. The
yearly notice also moves weekend days to build longer breaks (调休); those swaps are
a choice published each year and cannot be guessed, so no weekend becomes a
working day here. Two holidays on one date (Mid-Autumn on 1-3 October, as in 2028)
are one day off: the regulation gives no second day for it, and the notices of
such years have not either.

Lunar dates and the solar term come from ``borax`` (1900-2100), which computes
them; the years past that are outside the contract's time range anyway.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

from borax.calendars.lunardate import LunarDate, TermUtils

_ONE_DAY = timedelta(days=1)


def statutory_holidays(year: int) -> dict[date, str]:
    """The statutory days off of ``year`` by date, named, before any make-up day."""
    spring = LunarDate(year, 1, 1).to_solar_date()
    days: dict[date, str] = {}

    def add(day: date, name: str) -> None:
        days.setdefault(day, name)

    add(date(year, 1, 1), "元旦")
    add(spring - _ONE_DAY, "除夕")
    for i in range(3):
        add(spring + i * _ONE_DAY, "春节")
    add(TermUtils.nth_term_day(year, term_name="清明"), "清明节")
    add(date(year, 5, 1), "劳动节")
    add(date(year, 5, 2), "劳动节")
    add(LunarDate(year, 5, 5).to_solar_date(), "端午节")
    add(LunarDate(year, 8, 15).to_solar_date(), "中秋节")
    for d in (1, 2, 3):
        add(date(year, 10, d), "国庆节")
    return dict(sorted(days.items()))


@lru_cache(maxsize=64)
def provisional_days_off(year: int) -> frozenset[date]:
    """Every day off of ``year`` on the provisional rule, weekends aside: the statutory
    holidays and the make-up day (补假) of each that falls on a weekend.

    A make-up day is the first weekday after its holiday that is neither a holiday
    nor another make-up day; one may fall in the next January (a 31 December never
    is a holiday, so in practice it never does), and it is kept: the caller asks
    about days of ``year`` only.
    """
    holidays = statutory_holidays(year)
    off = set(holidays)
    for day in holidays:
        if day.weekday() >= 5:
            sub = day + _ONE_DAY
            while sub.weekday() >= 5 or sub in off:
                sub += _ONE_DAY
            off.add(sub)
    return frozenset(off)


def is_provisional_workday(day: date) -> bool:
    """Monday to Friday, except the statutory holidays and their make-up days."""
    return day.weekday() < 5 and day not in provisional_days_off(day.year)
