"""The schedule as data: the bundled notices, a site's calendar.yaml, and their checks."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import chinese_calendar
import pytest

from escalator.calendar import Source, WorkingCalendar
from escalator.clocks import site_calendar
from schemas.calendar import CalendarError, Schedule, bundled_schedule, load_schedule
from schemas.catalogue import DEFAULT_SITE, CatalogueError, load_site

# A 2027 notice for the tests alone: no real one was published when this was written.
# Its shape follows the real ones: statutory days, longer blocks, weekend days worked.
TEST_NOTICE_2027 = """\
years:
  2027:
    notice: a test notice, not the State Council's
    holidays:
      - {name: 元旦, from: 2027-01-01, to: 2027-01-03}
      - {name: 春节, from: 2027-02-05, to: 2027-02-13}
      - {name: 清明节, from: 2027-04-03, to: 2027-04-05}
      - {name: 劳动节, from: 2027-05-01, to: 2027-05-05}
      - {name: 端午节, from: 2027-06-09, to: 2027-06-09}
      - {name: 中秋节, from: 2027-09-15, to: 2027-09-15}
      - {name: 国庆节, from: 2027-10-01, to: 2027-10-07}
    workdays: [2027-02-20, 2027-10-09]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "calendar.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_every_bundled_year_agrees_with_the_package_day_by_day() -> None:
    schedule = bundled_schedule()
    assert schedule.years, "the bundled file holds the notices known at release"
    for year, entry in schedule.years.items():
        off, worked = entry.holiday_dates(), set(entry.workdays)
        day = date(year, 1, 1)
        while day.year == year:
            ours = day in worked or (day.weekday() < 5 and day not in off)
            assert ours == chinese_calendar.is_workday(day), day
            day += timedelta(days=1)


def test_no_bundled_year_is_invented() -> None:
    assert max(bundled_schedule().years) <= 2026


def test_a_notice_makes_its_year_official(tmp_path: Path) -> None:
    cal = WorkingCalendar(schedule=load_schedule(write(tmp_path, TEST_NOTICE_2027)))
    assert cal.source(2027) is Source.NOTICE
    assert not cal.is_workday(date(2027, 2, 12))  # Friday inside the block
    assert cal.is_workday(date(2027, 2, 20))  # Saturday worked (调休)
    assert cal.is_workday(date(2027, 1, 4))
    assert not cal.is_workday(date(2027, 1, 9))  # an ordinary Saturday
    assert cal.source(2028) is Source.PROVISIONAL


def test_site_days_come_on_top_of_a_notice(tmp_path: Path) -> None:
    schedule = load_schedule(write(tmp_path, TEST_NOTICE_2027))
    cal = WorkingCalendar({date(2027, 1, 4)}, {date(2027, 1, 9)}, schedule=schedule)
    assert not cal.is_workday(date(2027, 1, 4))
    assert cal.is_workday(date(2027, 1, 9))


def test_a_sites_calendar_yaml_replaces_the_bundled_years(tmp_path: Path) -> None:
    site_dir = tmp_path / "site"
    shutil.copytree(DEFAULT_SITE, site_dir)
    write(site_dir, TEST_NOTICE_2027)
    site = load_site(site_dir)
    assert site.calendar is not None and 2027 in site.calendar.years
    cal = site_calendar(site)
    assert cal.source(2027) is Source.NOTICE
    assert cal.source(2026) is Source.NOTICE  # the bundled one still
    assert site_calendar(load_site(DEFAULT_SITE)).source(2027) is Source.PROVISIONAL


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (
            "years: {2027: {notice: n, holidays: [{name: a, from: 2027-01-01, to: 2026-12-31}]}}",
            "before it starts",
        ),
        (
            "years: {2027: {notice: n, holidays: [{name: a, from: 2026-12-31, to: 2027-01-01}]}}",
            "another year",
        ),
        (
            "years: {2027: {notice: n, holidays: [{name: a, from: 2027-01-01, to: 2027-01-01}],"
            " workdays: [2027-01-04]}}",
            "weekend days",
        ),
        (
            "years: {2027: {notice: n, holidays: [{name: a, from: 2027-01-01, to: 2027-01-03}],"
            " workdays: [2027-01-02]}}",
            "both off and worked",
        ),
        ("years: {2027: {notice: n, holidays: []}}", "at least 1"),
        ("years: {2027: {notice: n, holidays: [{name: a, from: 2027-01-01}]}}", "to"),
        ("years: [", "not valid YAML"),
    ],
)
def test_a_bad_file_is_refused_at_load(tmp_path: Path, text: str, why: str) -> None:
    with pytest.raises(CalendarError, match=why):
        load_schedule(write(tmp_path, text))


def test_a_notice_missing_a_statutory_holiday_is_refused(tmp_path: Path) -> None:
    text = TEST_NOTICE_2027.replace(
        "{name: 中秋节, from: 2027-09-15, to: 2027-09-15}",
        "{name: 中秋节, from: 2027-09-16, to: 2027-09-16}",
    )
    with pytest.raises(CalendarError, match="中秋节 2027-09-15"):
        WorkingCalendar(schedule=load_schedule(write(tmp_path, text)))


def test_a_bad_site_calendar_stops_the_site_from_loading(tmp_path: Path) -> None:
    site_dir = tmp_path / "site"
    shutil.copytree(DEFAULT_SITE, site_dir)
    write(site_dir, "years: {2027: {notice: n}}")
    with pytest.raises(CatalogueError, match="calendar file"):
        load_site(site_dir)


def test_merging_lets_the_newer_year_win() -> None:
    base = bundled_schedule()
    newer = Schedule.model_validate(
        {
            "years": {
                2026: {
                    "notice": "x",
                    "holidays": [{"name": "a", "from": date(2026, 1, 1), "to": date(2026, 1, 1)}],
                }
            }
        }
    )
    assert base.merged(newer).years[2026].notice == "x"
    assert base.merged(None) is base
