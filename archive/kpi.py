"""The KPIs (考核指标) as the seeds and the 12345 hotlines measure them: one definition,
pure over case rows (:class:`archive.projection.CaseRow`), by a key and a period.

Each measure is a ratio or a count over the cases whose own date falls in the
period (local time of the site); :data:`MEASURES` below is the definition and
docs/ARCHITECTURE.md ("KPIs") repeats it in words:

- acceptance rate (受理率): of the cases first dispatched in the period whose
  acceptance is settled (accepted, or its same-day limit passed by ``as_of``), those
  first accepted by the first assignment's accept due time;
- on-time completion rate (按时办结率): of every case due in the period (its current
  assignment's resolve due time) and due by ``as_of`` or closed, open ones included,
  those closed whose last handling report came by that due time;
- response rate (响应率) and resolution rate (解决率): of the follow-up calls (回访) in
  the period that reached the resident and asked, those where the resident said the
  unit contacted them, and that the matter is solved;
- satisfaction rate (满意率): of the ratings in the period, those satisfied (满意, 4-5)
  or basically satisfied (基本满意, 3);
- escalations on lapse (升级), referrals up by the holder (上报), supervisions (督办) and
  reopenings (重办), counted apart over the cases received in the period;
- duplicates (重复件): reports received in the period that were linked to an open case
  instead of dispatched; counted apart, and in no other figure;
- handling time: mean and 90th percentile (nearest rank), in working days of the
  escalator's calendar, from the first dispatch to the last handling report, of the
  cases closed in the period.

A case belongs to its current holder's unit and tier (the closing one once closed).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from enum import StrEnum

from archive.projection import DUPLICATE, CaseRow
from escalator.calendar import WorkingCalendar
from schemas.cases import Satisfaction, Stage

ALL = "all"


class By(StrEnum):
    UNIT = "unit"
    TIER = "tier"
    CATEGORY = "category"
    CHANNEL = "channel"
    ALL = "all"


class Period(StrEnum):
    DAY = "day"
    WEEK = "week"  # ISO weeks, Monday first: 2026-W10
    MONTH = "month"


KEYS: dict[By, Callable[[CaseRow], str | None]] = {
    By.UNIT: lambda r: r.unit_id,
    By.TIER: lambda r: r.tier,
    By.CATEGORY: lambda r: r.category,
    By.CHANNEL: lambda r: r.channel,
    By.ALL: lambda r: ALL,
}


def period_of(moment: datetime, period: Period, tz: tzinfo) -> str:
    """The label of the period ``moment`` falls in, in the site's local time."""
    day = moment.astimezone(tz).date()
    if period is Period.DAY:
        return day.isoformat()
    if period is Period.WEEK:
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{day.year}-{day.month:02d}"


@dataclass
class Figures:
    """The counts of one group in one period, and the rates derived from them."""

    group: str
    period: str
    received: int = 0
    duplicates: int = 0  # reports linked to an open case (重复件): counted apart, in no rate
    acceptance_due: int = 0
    accepted_on_time: int = 0
    completion_due: int = 0
    completed_on_time: int = 0
    response_asked: int = 0
    responded: int = 0
    resolution_asked: int = 0
    resolved: int = 0
    ratings: int = 0
    satisfied: int = 0
    basically_satisfied: int = 0
    unsatisfied: int = 0
    escalations: int = 0
    referrals: int = 0
    supervisions: int = 0
    reopenings: int = 0
    closed: int = 0
    handling_days: list[int] = field(default_factory=list)

    @staticmethod
    def _rate(part: int, whole: int) -> float | None:
        return part / whole if whole else None

    @property
    def acceptance_rate(self) -> float | None:
        return self._rate(self.accepted_on_time, self.acceptance_due)

    @property
    def on_time_rate(self) -> float | None:
        return self._rate(self.completed_on_time, self.completion_due)

    @property
    def response_rate(self) -> float | None:
        return self._rate(self.responded, self.response_asked)

    @property
    def resolution_rate(self) -> float | None:
        return self._rate(self.resolved, self.resolution_asked)

    @property
    def satisfaction_rate(self) -> float | None:
        return self._rate(self.satisfied + self.basically_satisfied, self.ratings)

    @property
    def mean_handling_days(self) -> float | None:
        days = self.handling_days
        return sum(days) / len(days) if days else None

    @property
    def p90_handling_days(self) -> int | None:
        """The 90th percentile by nearest rank: the ceil(0.9 n)-th smallest."""
        days = sorted(self.handling_days)
        return days[math.ceil(0.9 * len(days)) - 1] if days else None

    def as_dict(self) -> dict[str, object]:
        """Every figure, rates included, for the CLI and the API (no raw day lists)."""
        out: dict[str, object] = {k: v for k, v in vars(self).items() if k != "handling_days"}
        for name in RATES:
            out[name] = getattr(self, name)
        out["handled_cases"] = len(self.handling_days)
        return out


RATES = (
    "acceptance_rate",
    "on_time_rate",
    "response_rate",
    "resolution_rate",
    "satisfaction_rate",
    "mean_handling_days",
    "p90_handling_days",
)


def _accepted_on_time(r: CaseRow) -> bool:
    return (
        r.first_accepted_at is not None
        and r.accept_due_at is not None
        and r.first_accepted_at <= r.accept_due_at
    )


def _completed_on_time(r: CaseRow) -> bool:
    return (
        r.stage == Stage.CLOSED.value
        and r.handled_at is not None
        and r.due_at is not None
        and r.handled_at <= r.due_at
    )


@dataclass(frozen=True)
class Context:
    as_of: datetime
    calendar: WorkingCalendar
    tz: tzinfo


def _measures(r: CaseRow, c: Context) -> Iterable[tuple[datetime, dict[str, int]]]:
    """Each (date, counts) a case adds: the one definition of every figure."""
    if r.stage == DUPLICATE:  # linked to an open case, never dispatched: counted apart
        if r.received_at is not None:
            yield r.received_at, {"duplicates": 1}
        return
    if r.received_at is not None:
        yield (
            r.received_at,
            {
                "received": 1,
                "escalations": r.escalations - r.referrals,
                "referrals": r.referrals,
                "supervisions": r.supervisions,
                "reopenings": r.reopenings,
            },
        )
    if r.assigned_at is not None and r.accept_due_at is not None:
        settled = r.first_accepted_at is not None or r.accept_due_at <= c.as_of
        if settled:
            yield r.assigned_at, {"acceptance_due": 1, "accepted_on_time": _accepted_on_time(r)}
    if r.due_at is not None and (r.due_at <= c.as_of or r.stage == Stage.CLOSED.value):
        yield r.due_at, {"completion_due": 1, "completed_on_time": _completed_on_time(r)}
    if r.followed_up_at is not None:
        counts = {}
        if r.responded is not None:
            counts |= {"response_asked": 1, "responded": r.responded}
        if r.resolved is not None:
            counts |= {"resolution_asked": 1, "resolved": r.resolved}
        yield r.followed_up_at, counts
    if r.rated_at is not None and r.rating is not None:
        verdict = Satisfaction.of(r.rating)
        yield r.rated_at, {"ratings": 1, verdict.value: 1}
    if r.stage == Stage.CLOSED.value and r.closed_at is not None:
        yield r.closed_at, {"closed": 1}


def handling_days(r: CaseRow, c: Context) -> int | None:
    """Working days from the first dispatch to the last handling report (counted from
    the day after, as Chinese law counts periods), or None."""
    if r.assigned_at is None or r.handled_at is None:
        return None
    start = r.assigned_at.astimezone(c.tz).date()
    end = r.handled_at.astimezone(c.tz).date()
    return c.calendar.working_days_between(start, end)


def compute(
    rows: Iterable[CaseRow],
    by: By,
    period: Period,
    as_of: datetime,
    calendar: WorkingCalendar,
    tz: tzinfo,
    since: date | None = None,
    until: date | None = None,
) -> list[Figures]:
    """The figures of every (group, period) with anything in it, sorted by both.

    ``since`` and ``until`` (local days, inclusive) bound the dates counted."""
    c = Context(as_of, calendar, tz)
    key = KEYS[by]
    out: dict[tuple[str, str], Figures] = {}

    def figures(group: str, moment: datetime) -> Figures | None:
        day = moment.astimezone(tz).date()
        if (since and day < since) or (until and day > until):
            return None
        label = period_of(moment, period, tz)
        found = out.get((group, label))
        if found is None:
            found = out[(group, label)] = Figures(group, label)
        return found

    for r in rows:
        group = key(r) or "unknown"
        for moment, counts in _measures(r, c):
            f = figures(group, moment)
            if f is None:
                continue
            for name, n in counts.items():
                setattr(f, name, getattr(f, name) + int(n))
            if "closed" in counts:
                days = handling_days(r, c)
                if days is not None:
                    f.handling_days.append(days)
    return [out[k] for k in sorted(out)]


def totals(figures: Iterable[Figures], group: str = ALL, period: str = ALL) -> Figures:
    """Counts summed over ``figures`` (rates follow from the sums)."""
    total = Figures(group, period)
    lists: dict[str, list[int]] = defaultdict(list)
    for f in figures:
        for name, value in vars(f).items():
            if name in ("group", "period"):
                continue
            if isinstance(value, list):
                lists[name] += value
            else:
                setattr(total, name, getattr(total, name) + value)
    total.handling_days = lists["handling_days"]
    return total


__all__ = ["By", "Figures", "Period", "compute", "handling_days", "period_of", "totals"]
