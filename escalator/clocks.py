"""Which clocks an assignment starts, and when each runs out: the one place it is decided.

For a matter within the holding tier's duties, accept and resolve (resolve alone
on rework, which the unit accepted once already); for one beyond them, refer
alone, since such a matter has no accept limit and must only be reported up a
tier. Each limit is in working days on the site's policy for the unit's tier,
on the site's working calendar.

The escalator arms these clocks; the router writes their due times into the
assignment the unit receives, so the unit knows its limits from its own topic.
Both call :func:`clocks_for`, so the two can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from escalator.calendar import WorkingCalendar
from schemas.cases import Assignment, AssignmentReason, DeadlineKind
from schemas.catalogue import Site


@dataclass(frozen=True)
class Clock:
    kind: DeadlineKind
    working_days: int
    due_at: datetime
    warn_at: datetime | None  # None when the warning moment is not after the start


def site_calendar(site: Site) -> WorkingCalendar:
    """The official calendar with the site's own holidays and working days."""
    return WorkingCalendar(
        extra_holidays=site.deadlines.holidays, extra_workdays=site.deadlines.workdays
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
    warn_before = timedelta(hours=site.deadlines.warn_before_hours)
    out: list[Clock] = []
    for kind, days in limits:
        due_at = calendar.due(a.assigned_at, days, site.deadlines.business_hours_end, site.tz)
        warn_at = due_at - warn_before
        out.append(Clock(kind, days, due_at, warn_at if a.assigned_at < warn_at < due_at else None))
    return out
