"""The KPIs (考核指标) as the seeds and the 12345 hotlines measure them: one definition,
written as data (:data:`MEASURES`), counted in SQL by :func:`archive.sql.kpi_figures`
and in Python over case rows by :func:`compute` (the memory store's, and the reference
the SQL is tested against). docs/ARCHITECTURE.md ("KPIs") repeats it in words.

Each measure counts the cases whose own date falls in the period (the site's local
day, ISO week or month):

- acceptance rate (受理率): of the cases first dispatched in the period whose
  acceptance is settled (accepted, or its same-day limit passed by ``as_of``), those
  first accepted by the first assignment's accept due time;
- completion rate (办结率): of the cases received in the period, those closed (as the
  seeds score street departments, and the command room shows it);
- on-time completion rate (按时办结率): of every case due in the period (its current
  assignment's resolve due time) and due by ``as_of`` or closed, open ones included,
  those closed whose last handling report came by that due time;
- response rate (响应率) and resolution rate (解决率): of the follow-up calls (回访) in
  the period that reached the resident and asked, those where the resident said the
  unit contacted them, and that the matter is solved;
- satisfaction rate (满意率): of the ratings in the period, those satisfied (满意, 4-5)
  or basically satisfied (基本满意, 3) (:meth:`schemas.cases.Satisfaction.of`);
- escalations on lapse (升级), referrals up by the holder (上报), supervisions (督办) and
  reopenings (重办), counted apart over the cases received in the period;
- duplicates (重复件): reports received in the period that were linked to an open case
  instead of dispatched; counted apart, and in no other figure;
- handling time: mean and 90th percentile (nearest rank: the ceil(0.9 n)-th smallest),
  in working days of the site's calendar, from the first dispatch to the last handling
  report, of the cases closed in the period. The archive stamps each case's figure
  when it projects the case (:class:`HandlingClock`, column ``handling_days``), so a
  query reads it instead of walking the calendar.

Whose figure a case is (``--by unit`` or ``tier``): its current holder's, the unit of
``archive_cases.unit_id``, i.e. the assignment with the highest ``seq`` (the one an
escalation, a referral or a return moved it to), and the closing one once closed.
Every figure of the case counts there, its earlier dates included: a case dispatched
to a community in March and escalated to the street in April counts its March
acceptance for the street.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, tzinfo
from enum import StrEnum

from archive.projection import DUPLICATE, CaseRow
from escalator.calendar import WorkingCalendar
from schemas.cases import Satisfaction, Stage

ALL = "all"
UNKNOWN = "unknown"  # the group of a case whose key (unit, tier, ...) is not known
AS_OF = "as_of"
"""In a condition, the time the figures are as of."""


class By(StrEnum):
    UNIT = "unit"
    TIER = "tier"
    CATEGORY = "category"
    CHANNEL = "channel"
    ALL = "all"


KEYS: dict[By, str | None] = {
    By.UNIT: "unit_id",
    By.TIER: "tier",
    By.CATEGORY: "category",
    By.CHANNEL: "channel",
    By.ALL: None,
}
"""The case row field each grouping is by (none: every case in one group, ``all``)."""


class Period(StrEnum):
    DAY = "day"  # 2026-03-02
    WEEK = "week"  # ISO weeks, Monday first: 2026-W10
    MONTH = "month"  # 2026-03


def period_of(moment: datetime, period: Period, tz: tzinfo) -> str:
    """The label of the period ``moment`` falls in, in the site's local time."""
    day = moment.astimezone(tz).date()
    if period is Period.DAY:
        return day.isoformat()
    if period is Period.WEEK:
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{day.year}-{day.month:02d}"


def bounds(
    since: date | None, until: date | None, tz: tzinfo
) -> tuple[datetime | None, datetime | None]:
    """``since`` and ``until`` (local days, inclusive) as the instants [start, end)."""
    start = datetime.combine(since, time(0), tz) if since else None
    end = datetime.combine(until + timedelta(days=1), time(0), tz) if until else None
    return start, end


# --- the definitions, as data ------------------------------------------------------


@dataclass(frozen=True)
class IsSet:
    """The field has a value."""

    field: str


@dataclass(frozen=True)
class Is:
    """The field equals ``value``."""

    field: str
    value: object


@dataclass(frozen=True)
class IsNot:
    """The field is not ``value`` (no value at all counts as not)."""

    field: str
    value: object


@dataclass(frozen=True)
class AtMost:
    """Both have a value and the field is at most ``other``: a field's name, or AS_OF."""

    field: str
    other: str


@dataclass(frozen=True)
class InRange:
    """The field has a value in [low, high]."""

    field: str
    low: int
    high: int


@dataclass(frozen=True)
class OneOf:
    """The field has one of ``values`` (a viewer's scope: its unit, grids or channel)."""

    field: str
    values: frozenset[str]


@dataclass(frozen=True)
class AnyOf:
    """At least one of ``conditions`` holds."""

    conditions: tuple[Condition, ...]


Condition = IsSet | Is | IsNot | AtMost | InRange | OneOf | AnyOf


@dataclass(frozen=True)
class Measure:
    """A :class:`Figures` field: what a case adds to it when ``when`` all hold; one, or
    the value of ``plus`` less that of ``minus``."""

    name: str
    when: tuple[Condition, ...] = ()
    plus: str | None = None
    minus: str | None = None


@dataclass(frozen=True)
class Dated:
    """The measures counted by one date of the case: a case whose ``date`` is in the
    period and for which ``gate`` holds gives its group a row for that period."""

    date: str
    gate: tuple[Condition, ...]
    measures: tuple[Measure, ...]
    histogram: Measure | None = None
    """Cases for which this holds add their ``histogram.name`` field's value to a
    histogram (the handling days)."""


CLOSED = Stage.CLOSED.value
_KEPT = IsNot("stage", DUPLICATE)  # a duplicate is never dispatched: in no figure but its own
_SATISFIED = [r for r in range(1, 6) if Satisfaction.of(r) is Satisfaction.SATISFIED]
_BASICALLY = [r for r in range(1, 6) if Satisfaction.of(r) is Satisfaction.BASICALLY_SATISFIED]
_UNSATISFIED = [r for r in range(1, 6) if Satisfaction.of(r) is Satisfaction.UNSATISFIED]

MEASURES: tuple[Dated, ...] = (
    Dated(
        "received_at",
        gate=(),
        measures=(
            Measure("duplicates", (Is("stage", DUPLICATE),)),
            Measure("received", (_KEPT,)),
            Measure("received_closed", (_KEPT, Is("stage", CLOSED))),
            Measure("escalations", (_KEPT,), plus="escalations", minus="referrals"),
            Measure("referrals", (_KEPT,), plus="referrals"),
            Measure("supervisions", (_KEPT,), plus="supervisions"),
            Measure("reopenings", (_KEPT,), plus="reopenings"),
        ),
    ),
    Dated(
        "assigned_at",
        gate=(
            _KEPT,
            IsSet("accept_due_at"),
            AnyOf((IsSet("first_accepted_at"), AtMost("accept_due_at", AS_OF))),
        ),
        measures=(
            Measure("acceptance_due"),
            Measure("accepted_on_time", (AtMost("first_accepted_at", "accept_due_at"),)),
        ),
    ),
    Dated(
        "due_at",
        gate=(_KEPT, AnyOf((AtMost("due_at", AS_OF), Is("stage", CLOSED)))),
        measures=(
            Measure("completion_due"),
            Measure("completed_on_time", (Is("stage", CLOSED), AtMost("handled_at", "due_at"))),
        ),
    ),
    Dated(
        "followed_up_at",
        gate=(_KEPT,),
        measures=(
            Measure("response_asked", (IsSet("responded"),)),
            Measure("responded", (Is("responded", True),)),
            Measure("resolution_asked", (IsSet("resolved"),)),
            Measure("resolved", (Is("resolved", True),)),
        ),
    ),
    Dated(
        "rated_at",
        gate=(_KEPT, IsSet("rating")),
        measures=(
            Measure("ratings"),
            Measure("satisfied", (InRange("rating", min(_SATISFIED), max(_SATISFIED)),)),
            Measure("basically_satisfied", (InRange("rating", min(_BASICALLY), max(_BASICALLY)),)),
            Measure("unsatisfied", (InRange("rating", min(_UNSATISFIED), max(_UNSATISFIED)),)),
        ),
    ),
    Dated(
        "closed_at",
        gate=(_KEPT, Is("stage", CLOSED)),
        measures=(Measure("closed"),),
        histogram=Measure("handling_days", (IsSet("handling_days"),)),
    ),
)


# --- the figures -------------------------------------------------------------------


def _nearest_rank(n: int, share_percent: int) -> int:
    """The rank (1-based) of the nearest-rank percentile: ceil(share n), in integers."""
    return max(1, -(-share_percent * n // 100))


@dataclass
class Figures:
    """The counts of one group in one period, and the rates derived from them."""

    group: str
    period: str
    received: int = 0
    received_closed: int = 0  # of those received in the period, the ones closed by now
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
    handling_days: dict[int, int] = field(default_factory=dict)
    """Working days -> how many cases closed in the period took that long."""

    @staticmethod
    def _rate(part: int, whole: int) -> float | None:
        return part / whole if whole else None

    @property
    def acceptance_rate(self) -> float | None:
        return self._rate(self.accepted_on_time, self.acceptance_due)

    @property
    def completion_rate(self) -> float | None:
        return self._rate(self.received_closed, self.received)

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
    def handled_cases(self) -> int:
        return sum(self.handling_days.values())

    @property
    def mean_handling_days(self) -> float | None:
        n = self.handled_cases
        return sum(d * k for d, k in self.handling_days.items()) / n if n else None

    @property
    def p90_handling_days(self) -> int | None:
        """The 90th percentile by nearest rank: the ceil(0.9 n)-th smallest."""
        n = self.handled_cases
        if not n:
            return None
        rank, seen = _nearest_rank(n, 90), 0
        for days in sorted(self.handling_days):
            seen += self.handling_days[days]
            if seen >= rank:
                return days
        raise AssertionError("unreachable: the ranks add up to n")

    def as_dict(self) -> dict[str, object]:
        """Every figure, rates included, for the CLI and the API (no histogram)."""
        out: dict[str, object] = {k: v for k, v in vars(self).items() if k != "handling_days"}
        for name in RATES:
            out[name] = getattr(self, name)
        out["handled_cases"] = self.handled_cases
        return out


RATES = (
    "acceptance_rate",
    "completion_rate",
    "on_time_rate",
    "response_rate",
    "resolution_rate",
    "satisfaction_rate",
    "mean_handling_days",
    "p90_handling_days",
)


class Tally:
    """Figures by (group, period), summed from counts: both ways of counting end here."""

    def __init__(self) -> None:
        self._out: dict[tuple[str, str], Figures] = {}

    def figures(self, group: str | None, period: str) -> Figures:
        key = (UNKNOWN if group is None else group, period)
        found = self._out.get(key)
        if found is None:
            found = self._out[key] = Figures(*key)
        return found

    def add(self, group: str | None, period: str, counts: Mapping[str, int]) -> None:
        f = self.figures(group, period)
        for name, n in counts.items():
            setattr(f, name, getattr(f, name) + int(n))

    def add_days(self, group: str | None, period: str, days: int, n: int) -> None:
        histogram = self.figures(group, period).handling_days
        histogram[days] = histogram.get(days, 0) + n

    def result(self) -> list[Figures]:
        """Sorted by group, then period."""
        return [self._out[k] for k in sorted(self._out)]


# --- counted in Python --------------------------------------------------------------


def holds(c: Condition, row: CaseRow, as_of: datetime) -> bool:
    """Whether the condition holds for the row (the same truth SQL gives it)."""
    if isinstance(c, AnyOf):
        return any(holds(x, row, as_of) for x in c.conditions)
    value = getattr(row, c.field)
    if isinstance(c, IsSet):
        return value is not None
    if isinstance(c, Is):
        return value is not None and value == c.value
    if isinstance(c, IsNot):
        return value is None or value != c.value
    if isinstance(c, AtMost):
        other = as_of if c.other == AS_OF else getattr(row, c.other)
        return value is not None and other is not None and value <= other
    if isinstance(c, InRange):
        return value is not None and c.low <= value <= c.high
    return value in c.values


def _value(m: Measure, row: CaseRow) -> int:
    if m.plus is None:
        return 1
    return getattr(row, m.plus) - (getattr(row, m.minus) if m.minus else 0)


def compute(
    rows: Iterable[CaseRow],
    by: By,
    period: Period,
    as_of: datetime,
    tz: tzinfo,
    since: date | None = None,
    until: date | None = None,
    scope: Condition | None = None,
) -> list[Figures]:
    """The figures of every (group, period) with anything in it, sorted by both, over
    the rows ``scope`` admits; ``since`` and ``until`` (local days, inclusive) bound
    the dates counted."""
    key, tally = KEYS[by], Tally()
    start, end = bounds(since, until, tz)
    for r in rows:
        if scope is not None and not holds(scope, r, as_of):
            continue
        group = getattr(r, key) if key else ALL
        for dated in MEASURES:
            moment: datetime | None = getattr(r, dated.date)
            if moment is None or (start and moment < start) or (end and moment >= end):
                continue
            if not all(holds(c, r, as_of) for c in dated.gate):
                continue
            label = period_of(moment, period, tz)
            tally.add(
                group,
                label,
                {
                    m.name: _value(m, r)
                    for m in dated.measures
                    if all(holds(c, r, as_of) for c in m.when)
                },
            )
            h = dated.histogram
            if h is not None and all(holds(c, r, as_of) for c in h.when):
                tally.add_days(group, label, getattr(r, h.name), 1)
    return tally.result()


def totals(figures: Iterable[Figures], group: str = ALL, period: str = ALL) -> Figures:
    """Counts summed over ``figures`` (rates follow from the sums)."""
    total = Figures(group, period)
    histogram: dict[int, int] = defaultdict(int)
    for f in figures:
        for name, value in vars(f).items():
            if name in ("group", "period"):
                continue
            if isinstance(value, dict):
                for days, n in value.items():
                    histogram[days] += n
            else:
                setattr(total, name, getattr(total, name) + value)
    total.handling_days = dict(histogram)
    return total


# --- the handling time, stamped per case -------------------------------------------


class HandlingClock:
    """The archive's reckoning on the site's calendar, stamped on each case row it
    projects: ``handling_days``, the working days from the first dispatch to the last
    handling report, counted from the day after (as Chinese law counts periods), in the
    site's local days; and ``due_at``, the current assignment's due time moved by the
    extensions approved for it (escalator.suspension.Counting.extended's rule: the end
    of the N-th working day after the day it was due; tests/unit/archive/test_kpi.py
    checks they agree)."""

    def __init__(
        self, calendar: WorkingCalendar, tz: tzinfo, business_hours_end: time | None = None
    ) -> None:
        self.calendar = calendar
        self.tz = tz
        self.business_hours_end = business_hours_end
        self._memo: dict[tuple[date, date], int] = {}

    def days(self, row: CaseRow) -> int | None:
        if row.assigned_at is None or row.handled_at is None:
            return None
        tz = self.tz
        span = (row.assigned_at.astimezone(tz).date(), row.handled_at.astimezone(tz).date())
        found = self._memo.get(span)
        if found is None:
            if len(self._memo) > 100_000:
                self._memo.clear()
            found = self._memo[span] = self.calendar.working_days_between(*span)
        return found

    def extended(self, due: datetime, working_days: int) -> datetime:
        """The due time ``working_days`` more working days give a clock due at ``due``."""
        last_instant = due.astimezone(self.tz) - timedelta(microseconds=1)
        close, tz = self.business_hours_end, self.tz
        return self.calendar.reckon(last_instant, working_days, close, tz).due_at

    def due(self, row: CaseRow) -> datetime | None:
        base = row.assignment_due_at
        if base is None:  # archived before revision 0014: as it was
            return row.due_at
        return self.extended(base, row.extension_days) if row.extension_days else base

    def stamp(self, row: CaseRow) -> CaseRow:
        """The row with its ``handling_days`` and ``due_at`` worked out (itself when
        unchanged)."""
        days, due = self.days(row), self.due(row)
        if row.handling_days == days and row.due_at == due:
            return row
        return replace(row, handling_days=days, due_at=due)


__all__ = [
    "AS_OF",
    "MEASURES",
    "By",
    "Figures",
    "HandlingClock",
    "Period",
    "Tally",
    "bounds",
    "compute",
    "holds",
    "period_of",
    "totals",
]
