"""The official holiday schedule as data: the State Council's notice for each year.

Each year the General Office of the State Council publishes a notice
(国务院办公厅关于某年部分节假日安排的通知) fixing that year's days off and the
weekend days worked to make up for them (调休). ``chinese_calendar`` ships them
with each release; a notice published after a release would otherwise wait for
the next one. So notices are also data, in this format (YAML):

.. code-block:: yaml

    years:
      2026:
        notice: 国务院办公厅关于2026年部分节假日安排的通知
        holidays:                     # every day off, weekend days inside a block too
          - {name: 元旦, from: 2026-01-01, to: 2026-01-03}
        workdays: [2026-01-04]        # make-up working days (调休), weekend days only

A year listed is covered completely by its entry: a day of it is a holiday when a
block holds it, a working day when ``workdays`` holds it, else Monday to Friday
work. The bundled file (``schemas/calendars/cn.yaml``) holds the notices known
at release; a site's ``calendar.yaml`` (same format, beside ``site.yaml``) holds
any published since, and its years replace the bundled ones. Validated at load:
dates in their year, blocks in order, no day both off and worked, and make-up
days on weekends only (a weekday is a working day anyway, so listing one is a
typing error). The escalator checks each year against the statutory holidays
when it builds its calendar (:mod:`escalator.statutory`).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import ConfigDict, Field, ValidationError, model_validator

from schemas.envelope import Model

BUNDLED_CALENDAR = Path(__file__).parent / "calendars" / "cn.yaml"
"""The notices known at release (China, national)."""
SITE_CALENDAR_FILE = "calendar.yaml"
"""A site's own notices, beside its ``site.yaml``: those published since the release."""


class CalendarError(ValueError):
    """A schedule file that cannot be loaded, with the reason."""


class HolidayBlock(Model):
    """One run of days off as the notice gives it (``2月15日至23日放假调休``)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1, max_length=40, description="春节, 国庆节...")
    from_: date = Field(alias="from")
    to: date

    @model_validator(mode="after")
    def _in_order(self) -> HolidayBlock:
        if self.to < self.from_:
            raise ValueError(f"{self.name}: ends {self.to} before it starts {self.from_}")
        return self

    def days(self) -> Iterator[date]:
        day = self.from_
        while day <= self.to:
            yield day
            day += timedelta(days=1)


class YearSchedule(Model):
    """One year's notice: every day off and every make-up working day."""

    notice: str = Field(min_length=1, max_length=200, description="The notice's title or number.")
    holidays: list[HolidayBlock] = Field(min_length=1)
    workdays: list[date] = Field(default_factory=list)

    def holiday_dates(self) -> frozenset[date]:
        return frozenset(d for block in self.holidays for d in block.days())


class Schedule(Model):
    """Notices by year."""

    years: dict[int, YearSchedule] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Schedule:
        problems: list[str] = []
        for year, entry in sorted(self.years.items()):
            off = entry.holiday_dates()
            stray = sorted(d for d in off | set(entry.workdays) if d.year != year)
            if stray:
                problems.append(f"{year}: dates of another year {[d.isoformat() for d in stray]}")
            both = sorted(off & set(entry.workdays))
            if both:
                problems.append(f"{year}: both off and worked {[d.isoformat() for d in both]}")
            weekday = sorted(d for d in entry.workdays if d.weekday() < 5)
            if weekday:
                days = [d.isoformat() for d in weekday]
                problems.append(f"{year}: make-up working days must be weekend days: {days}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def merged(self, newer: Schedule | None) -> Schedule:
        """This schedule with ``newer``'s years replacing its own."""
        if newer is None:
            return self
        return Schedule(years={**self.years, **newer.years})


def load_schedule(path: Path | str) -> Schedule:
    """Load and validate a schedule file; :class:`CalendarError` with the reason."""
    path = Path(path)
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError as exc:
        raise CalendarError(f"calendar file missing: {path}") from exc
    except yaml.YAMLError as exc:
        raise CalendarError(f"{path} is not valid YAML: {exc}") from exc
    try:
        return Schedule.model_validate(data)
    except ValidationError as exc:
        raise CalendarError(f"calendar file {path} is invalid:\n{exc}") from exc


def bundled_schedule() -> Schedule:
    """The notices known at release."""
    return load_schedule(BUNDLED_CALENDAR)
