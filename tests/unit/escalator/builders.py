"""Per-tier limits for the tiny site, and message builders for the escalator's tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from schemas.cases import (
    Assignment,
    AssignmentReason,
    CaseAccepted,
    CaseAssigned,
    CaseAssignedPayload,
    CaseClosed,
    CaseEscalated,
    CaseHandled,
    ClosedPayload,
    EscalatedPayload,
    StepPayload,
)
from schemas.envelope import Envelope
from schemas.processing import Inbound
from schemas.reports import CaseFacts, Channel, Tier, Urgency
from schemas.topics import DEADLINES, Emit
from tests.support.sites import SHANGHAI

ROUTER = "router"


def at(*parts: int) -> datetime:
    """A Shanghai time: at(2026, 3, 5, 10) is 5 March 2026, 10:00."""
    return datetime(*parts, tzinfo=SHANGHAI)  # type: ignore[misc]


THU = at(2026, 3, 5, 10)  # Thursday 5 March 2026, 10:00: a working day


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
    case = CaseFacts(
        case_id=case_id,
        channel=Channel.GRID_APP,
        external_id=f"ext-{case_id}",
        reported_at=when,
        received_at=when,
        category="env.litter",
        grid_id="s-a-g1",
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


def inbound(messages: Sequence[Envelope]) -> list[Inbound]:
    """``messages`` as a runtime hands them over, each at the time it occurred."""
    return [Inbound(message=m, now=m.occurred_at) for m in messages]


def step(
    kind: type[CaseAccepted | CaseHandled],
    case_id: str | None,
    seq: int,
    when: datetime,
    unit_id: str = "community-unit",
) -> CaseAccepted | CaseHandled:
    payload = StepPayload(unit_id=unit_id, seq=seq, at=when)
    return kind.derive(payload, producer=ROUTER, now=when, case_id=case_id, key=(seq,))


def escalated(case_id: str, from_unit: str, to_unit: str | None, when: datetime) -> CaseEscalated:
    payload = EscalatedPayload(
        from_unit_id=from_unit,
        from_tier=Tier.COMMUNITY,
        to_unit_id=to_unit,
        to_tier=Tier.STREET if to_unit else None,
        reason=AssignmentReason.ESCALATED,
    )
    key = (from_unit,)
    return CaseEscalated.derive(payload, producer=ROUTER, now=when, case_id=case_id, key=key)


def closed(case_id: str, when: datetime) -> CaseClosed:
    payload = ClosedPayload(at=when, unit_id="u", tier=Tier.COMMUNITY, escalations=0, on_time=True)
    return CaseClosed.derive(payload, producer=ROUTER, now=when, case_id=case_id)


def story() -> list[Envelope]:
    """One case touched several times, with other cases between its steps."""
    fri = at(2026, 3, 6, 9)
    return [
        assigned("c1", when=THU),
        assigned("c2", when=THU),
        step(CaseAccepted, "c1", 1, at(2026, 3, 5, 11)),
        assigned("c3", when=THU, tier=Tier.STREET, owner=Tier.DISTRICT),
        escalated("c1", "community-unit", "street-unit", fri),
        step(CaseHandled, "c2", 1, at(2026, 3, 5, 12)),
        assigned("c1", when=fri, tier=Tier.STREET, seq=2, reason=AssignmentReason.ESCALATED),
        step(CaseAccepted, "c1", 1, fri),  # late, of the first assignment: no effect
        closed("c3", fri),
        assigned("c3", when=fri, seq=2),  # armed again after the close
    ]


def story_of(out: list[Emit]) -> list[Emit]:
    """What a tick wrote on ``gridflow.deadlines`` (each is also on the unit's topic)."""
    copies = [e for e in out if e.topic != DEADLINES.name]
    story = [e for e in out if e.topic == DEADLINES.name]
    assert [e.message for e in copies] == [e.message for e in story]
    return story
