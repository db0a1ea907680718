"""Which clocks an assignment starts, and when each runs out: the one place it is decided.

For a matter within the holding tier's duties, accept and resolve (resolve alone
on rework, which the unit accepted once already); for one beyond them, refer
alone, since such a matter has no accept limit and must only be reported up a
tier. A case holds each of its clocks at once, and each is stopped by its own
step (accepted; handled; referred or escalated), as SLA engines do.

Each limit is the holding tier's, in working days, unless one of the site's
overrides (``deadlines.overrides``: by urgency, category, request type and
jurisdiction, in working days, calendar days or hours) decides it:
:meth:`schemas.catalogue.Site.limit_for` applies their precedence. Every policy
limit attaches to one of those three steps on purpose: a clock needs a step that
stops it, or it would lapse on every case. It is counted on the site's working
calendar; a clock counted on a day of a year no official schedule covers yet is
marked provisional (:mod:`escalator.calendar`), and :func:`reckoned_again` tells
what it becomes once the schedule is known.

The escalator arms these clocks; the router writes their due times into the
assignment the unit receives, so the unit knows its limits from its own topic.
Both call :func:`clocks_for`, so the two can never disagree. The warning moments
(:func:`warning_moments`) and the reminder period after a lapse at the top
(:func:`next_reminder`) are decided here too, from the clock alone, so they are
the same whenever and wherever they are computed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from escalator.calendar import Reckoning, WorkingCalendar
from schemas.calendar import bundled_schedule
from schemas.cases import (
    Assignment,
    AssignmentReason,
    CoHandler,
    DeadlineKind,
    Due,
    Limit,
    LimitUnit,
)
from schemas.catalogue import Site
from schemas.reports import CaseFacts, Tier


@dataclass(frozen=True)
class Clock:
    kind: DeadlineKind
    limit: Limit
    due_at: datetime
    warn_at: datetime | None  # the first warning moment; None when there is none
    provisional: bool = False  # a day counted came from a year no schedule covers yet
    policy: str | None = None  # the override that set the limit; None: the tier's
    warnings: tuple[datetime, ...] = field(default=())  # every warning moment, in order

    @property
    def working_days(self) -> int | None:
        """The limit in working days, when it is counted in them (the older field)."""
        return self.limit.amount if self.limit.unit is LimitUnit.WORKING_DAYS else None


def site_calendar(site: Site) -> WorkingCalendar:
    """The official calendar: the bundled notices with the site's ``calendar.yaml`` on
    top, then the site's own holidays and working days."""
    return WorkingCalendar(
        extra_holidays=site.deadlines.holidays,
        extra_workdays=site.deadlines.workdays,
        schedule=bundled_schedule().merged(site.calendar),
    )


def warning_moments(site: Site, start: datetime, due_at: datetime) -> tuple[datetime, ...]:
    """When the holder of a clock begun at ``start`` and due at ``due_at`` is warned:
    the site's shares of the elapsed time, 00:00 of the last day, and the hours
    before, each strictly between start and due, in order, each once.

    A share is of wall-clock time, not of working time: halfway through a 5 working
    day limit begun on a Friday falls on the Tuesday or so. It is the moment a
    resident would call halfway, and it needs no calendar to be exact."""
    policy = site.deadlines.warning
    span = due_at - start
    moments = [start + span * share for share in policy.shares]
    if policy.last_day:
        local = (due_at - timedelta(microseconds=1)).astimezone(site.tz)
        moments.append(datetime.combine(local.date(), time(0), tzinfo=site.tz))
    if policy.before_hours is not None:
        moments.append(due_at - timedelta(hours=policy.before_hours))
    inside = {m.astimezone(site.tz) for m in moments if start < m < due_at}
    return tuple(sorted(inside))


def next_warning(site: Site, start: datetime, due_at: datetime, after: datetime) -> datetime | None:
    """The warning moment that follows ``after`` (one sent) for a clock begun at
    ``start``; None once the last one is sent."""
    return next((m for m in warning_moments(site, start, due_at) if m > after), None)


def clock(
    site: Site,
    calendar: WorkingCalendar,
    kind: DeadlineKind,
    start: datetime,
    limit: Limit,
    policy: str | None = None,
) -> Clock:
    """One clock of ``limit`` begun at ``start``, on the site's policy and zone."""
    r: Reckoning = calendar.reckon_limit(
        start, limit.amount, limit.unit, site.deadlines.business_hours_end, site.tz
    )
    moments = warning_moments(site, start, r.due_at)
    return Clock(
        kind,
        limit,
        r.due_at,
        moments[0] if moments else None,
        r.provisional,
        policy,
        moments,
    )


def clocks_for(
    site: Site, calendar: WorkingCalendar, a: Assignment, case: CaseFacts
) -> list[Clock]:
    """Every clock assignment ``a`` of ``case`` starts, in the site's timezone."""
    kinds: list[DeadlineKind] = []
    if a.tier.rank < a.owner_tier.rank:
        kinds.append(DeadlineKind.REFER)  # beyond its duties: report it up
    else:
        if a.reason is not AssignmentReason.REWORK:
            kinds.append(DeadlineKind.ACCEPT)
        kinds.append(DeadlineKind.RESOLVE)
    out = []
    for kind in kinds:
        limit, override = site.limit_for(kind, a.tier, case)
        name = override.name if override else None
        out.append(clock(site, calendar, kind, a.assigned_at, limit, name))
    return out


def assist_clocks(
    site: Site, calendar: WorkingCalendar, a: Assignment, case: CaseFacts
) -> list[tuple[CoHandler, Clock]]:
    """Each co-handler's (协办) clock of assignment ``a``: ``assist``, its own tier's
    resolve limit (overrides apply as to the lead's), from the assignment's time. A
    co-handler's report of its part stops it; so does the lead's of the case."""
    out = []
    for co in a.co_handlers:
        limit, override = site.limit_for(DeadlineKind.RESOLVE, co.tier, case)
        name = override.name if override else None
        out.append((co, clock(site, calendar, DeadlineKind.ASSIST, a.assigned_at, limit, name)))
    return out


def dispatch_clock(site: Site, calendar: WorkingCalendar, tier: Tier, start: datetime) -> Clock:
    """The dispatch queue's clock (人工分拨): a command room of ``tier`` assigns a queued
    case within its tier's ``dispatch`` limit (deadlines.tiers.<tier>.dispatch; 0, the
    default, is the same working day, as a unit must accept), from when it was queued."""
    limit = site.deadlines_for(tier).limit(DeadlineKind.DISPATCH)
    return clock(site, calendar, DeadlineKind.DISPATCH, start, limit)


def next_reminder(site: Site, calendar: WorkingCalendar, after: datetime) -> datetime | None:
    """When the holder of a case that lapsed at the top tier is next reminded, after
    ``after`` (the lapse, or the reminder before): one of the site's periods later.
    None when the site sends no reminders.

    Counted like any limit, but never marked provisional: a reminder is a nudge, not
    a legal limit, and a day's difference in a guessed year does not wrong anyone."""
    every = site.deadlines.reminder_every
    if every is None:
        return None
    # A lapse falls at 24:00, which is 00:00 of the next date: counted from there, "the
    # day of receipt is not counted" would skip a whole day. A period in days counts
    # from the day that just ended, so one working day means the end of the next one.
    start = after if every.unit is LimitUnit.HOURS else after - timedelta(microseconds=1)
    r = calendar.reckon_limit(
        start, every.amount, every.unit, site.deadlines.business_hours_end, site.tz
    )
    return r.due_at


def reckoned_again(
    site: Site, calendar: WorkingCalendar, started_at: datetime, kind: DeadlineKind, limit: Limit
) -> Clock | None:
    """A provisional clock counted again on ``calendar``: the new clock once no day it
    counts is provisional any more, else None (the schedule is still not known).

    The escalator calls this for its armed provisional deadlines when it starts, so a
    notice loaded as data, or a package release that ships the year, corrects them."""
    again = clock(site, calendar, kind, started_at, limit)
    return None if again.provisional else again


def dues(
    site: Site, calendar: WorkingCalendar, assignment: Assignment, case: CaseFacts
) -> list[Due]:
    """The clocks ``assignment`` of ``case`` starts, as the wire tells them (``due`` on the
    assignment) and as the escalator will arm them."""
    return [_due(c) for c in clocks_for(site, calendar, assignment, case)]


def co_dues(
    site: Site, calendar: WorkingCalendar, assignment: Assignment, case: CaseFacts
) -> dict[str, list[Due]]:
    """Each co-handler's clock, by unit id, as its copy of the assignment tells it."""
    return {co.unit_id: [_due(c)] for co, c in assist_clocks(site, calendar, assignment, case)}


def _due(c: Clock) -> Due:
    return Due(
        kind=c.kind,
        working_days=c.working_days,
        limit=c.limit,
        policy=c.policy,
        due_at=c.due_at,
        warn_at=c.warn_at,
        warnings=list(c.warnings),
        provisional=c.provisional,
    )
