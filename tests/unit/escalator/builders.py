"""Per-tier limits for the tiny site, and message builders for the escalator's tests."""

from __future__ import annotations

from datetime import datetime

from schemas.cases import Assignment, AssignmentReason, CaseAssigned, CaseAssignedPayload
from schemas.envelope import SHANGHAI
from schemas.reports import Case, Channel, Tier, Urgency

ROUTER = "router"


def at(*parts: int) -> datetime:
    """A Shanghai time: at(2026, 3, 5, 10) is 5 March 2026, 10:00."""
    return datetime(*parts, tzinfo=SHANGHAI)  # type: ignore[misc]


# the escalator's working-day limits differ by tier; the rest of the site is tests.support's
LIMITS = {
    Tier.GRID: {"accept": 0, "resolve": 3, "refer": 1},
    Tier.COMMUNITY: {"accept": 0, "resolve": 3, "refer": 1},
    Tier.STREET: {"accept": 0, "resolve": 5, "refer": 1},
    Tier.DISTRICT: {"accept": 0, "resolve": 5, "refer": 1},
    Tier.CITY: {"accept": 1, "resolve": 10, "refer": 1},
}


def assigned(
    case_id: str,
    *,
    when: datetime,
    tier: Tier = Tier.COMMUNITY,
    owner: Tier | None = None,
    seq: int = 1,
    reason: AssignmentReason = AssignmentReason.INITIAL,
    unit_id: str | None = None,
) -> CaseAssigned:
    case = Case(
        case_id=case_id,
        channel=Channel.GRID_APP,
        external_id=f"ext-{case_id}",
        reported_at=when,
        received_at=when,
        category="env.litter",
        grid_id="s-a-g1",
        title="litter",
        description="litter by the gate",
        urgency=Urgency.NORMAL,
    )
    assignment = Assignment(
        unit_id=unit_id or f"{tier.value}-unit",
        unit_name="unit",
        tier=tier,
        owner_tier=owner or tier,
        jurisdiction_id="s-a",
        seq=seq,
        reason=reason,
        assigned_at=when,
    )
    payload = CaseAssignedPayload(assignment=assignment, case=case)
    return CaseAssigned.derive(payload, producer=ROUTER, now=when, case_id=case_id, key=(seq,))
