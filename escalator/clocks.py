"""Which clocks an assignment starts, and when each runs out: the one place it is decided.

For a matter within the holding tier's duties, accept and resolve (resolve alone
on rework, which the unit accepted once already); for one beyond them, refer
alone, since such a matter has no accept limit and must only be reported up a
tier. Each limit is in working days on the site's policy for the unit's tier,
on the site's working calendar. A clock counted on a day of a year no official
schedule covers yet is marked provisional (:mod:`escalator.calendar`), and
:func:`reckoned_again` tells what it becomes once the schedule is known.

The escalator arms these clocks; the router writes their due times into the
assignment the unit receives, so the unit knows its limits from its own topic.
Both call :func:`clocks_for`, so the two can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from escalator.calendar import Reckoning, WorkingCalendar
from schemas.calendar import bundled_schedule
from schemas.cases import Assignment, AssignmentReason, DeadlineKind
from schemas.catalogue import Site


@dataclass(frozen=True)
class Clock:
    kind: DeadlineKind
    working_days: int
    due_at: datetime
    warn_at: datetime | None  # None when the warning moment is not after the start
    provisional: bool = False  # a day counted came from a year no schedule covers yet


def site_calendar(site: Site) -> WorkingCalendar:
    """The official calendar: the bundled notices with the site's ``calendar.yaml`` on
    top, then the site's own holidays and working days."""
    return WorkingCalendar(
        extra_holidays=site.deadlines.holidays,
        extra_workdays=site.deadlines.workdays,
        schedule=bundled_schedule().merged(site.calendar),
    )


def clock(
    site: Site, calendar: WorkingCalendar, kind: DeadlineKind, start: datetime, working_days: int
) -> Clock:
    """One clock of ``working_days`` begun at ``start``, on the site's policy and zone."""
    r: Reckoning = calendar.reckon(start, working_days, site.deadlines.business_hours_end, site.tz)
    warn_at = r.due_at - timedelta(hours=site.deadlines.warn_before_hours)
    return Clock(
        kind,
        working_days,
        r.due_at,
        warn_at if start < warn_at < r.due_at else None,
        r.provisional,
    )


def clocks_for(site: Site, calendar: WorkingCalendar, a: Assignment) -> list[Clock]:
    """The clocks assignment ``a`` starts, in the site's timezone."""
    policy = site.deadlines_for(a.tier)
    limits: list[tuple[DeadlineKind, int]] = []
    if a.tier.rank < a.owner_tier.rank:
        limits.append((DeadlineKind.REFER, policy.refer))  # beyond its duties: report it up
    else:
        if a.reason is not AssignmentReason.REWORK:
            limits.append((DeadlineKind.ACCEPT, policy.accept))
        limits.append((DeadlineKind.RESOLVE, policy.resolve))
    return [clock(site, calendar, kind, a.assigned_at, days) for kind, days in limits]


def reckoned_again(
    site: Site, calendar: WorkingCalendar, started_at: datetime, kind: DeadlineKind, days: int
) -> Clock | None:
    """A provisional clock counted again on ``calendar``: the new clock once no day it
    counts is provisional any more, else None (the schedule is still not known).

    The escalator calls this for its armed provisional deadlines when it starts, so a
    notice loaded as data, or a package release that ships the year, corrects them."""
    again = clock(site, calendar, kind, started_at, days)
    return None if again.provisional else again
