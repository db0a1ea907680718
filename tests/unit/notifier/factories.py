"""Builders for the notifier's tests: one case's events on the tiny site (tests.support).

The case's reporter has a name, phone and address that must never reach a webhook;
the description quotes the address too, so free text leaking would show.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from schemas.cases import (
    Assignment,
    AssignmentReason,
    CaseAssigned,
    CaseAssignedPayload,
    CaseClosed,
    CaseEscalated,
    CaseReceived,
    CaseSuspensionRequested,
    CaseVerified,
    ClosedPayload,
    DeadlineKind,
    EscalatedPayload,
    RequestReason,
    SuspensionRequested,
    VerifiedPayload,
)
from schemas.deadlines import DeadlinePayload, DeadlineWarning
from schemas.envelope import stable_id
from schemas.reports import Case, Channel, Location, Reporter, Tier, Urgency
from tests.support.sites import SHANGHAI

NOW = datetime(2024, 6, 3, 10, 0, tzinfo=SHANGHAI)
NAME, PHONE, ADDRESS = "王秀英", "13912345678", "兴庄路88号3幢"
CASE_ID = "GF-0123456789ABCDEF"


def case() -> Case:
    return Case(
        case_id=CASE_ID,
        channel=Channel.HOTLINE_12345,
        external_id="NB-0001",
        reported_at=NOW - timedelta(minutes=5),
        received_at=NOW,
        category="urban.garbage",
        grid_id="s-a-g1",
        title=f"{ADDRESS}垃圾",
        description=f"{ADDRESS}门口垃圾三天没人清运，请联系{NAME}。",
        urgency=Urgency.URGENT,
        location=Location(address=ADDRESS, lat=29.9, lon=121.6),
        reporter=Reporter(name=NAME, phone=PHONE),
    )


def assigned(unit_id: str = "s.urban", tier: Tier = Tier.STREET) -> CaseAssigned:
    assignment = Assignment(
        unit_id=unit_id,
        unit_name="whatever",
        tier=tier,
        owner_tier=Tier.STREET,
        jurisdiction_id="s",
        seq=1,
        reason=AssignmentReason.INITIAL,
        assigned_at=NOW,
    )
    payload = CaseAssignedPayload(assignment=assignment, case=case())
    return CaseAssigned.derive(payload, producer="router", now=NOW, case_id=CASE_ID)


def escalated(to_unit: str | None = "d.command") -> CaseEscalated:
    payload = EscalatedPayload(
        from_unit_id="s.urban",
        from_tier=Tier.STREET,
        to_unit_id=to_unit,
        to_tier=Tier.DISTRICT if to_unit else None,
        reason=AssignmentReason.ESCALATED,
        deadline_kind=DeadlineKind.RESOLVE,
        due_at=NOW,
    )
    return CaseEscalated.derive(payload, producer="router", now=NOW, case_id=CASE_ID)


def warning(unit_id: str = "s.urban") -> DeadlineWarning:
    payload = DeadlinePayload(
        kind=DeadlineKind.RESOLVE,
        unit_id=unit_id,
        tier=Tier.STREET,
        seq=1,
        due_at=NOW + timedelta(hours=4),
        working_days=5,
    )
    return DeadlineWarning.derive(payload, producer="escalator", now=NOW, case_id=CASE_ID)


def closed() -> CaseClosed:
    payload = ClosedPayload(
        at=NOW, unit_id="s.urban", tier=Tier.STREET, escalations=0, on_time=True, rating=5
    )
    return CaseClosed.derive(payload, producer="router", now=NOW, case_id=CASE_ID)


def received(channel: Channel = Channel.HOTLINE_12345) -> CaseReceived:
    c = case().model_copy(update={"channel": channel})
    return CaseReceived.derive(c, producer="intake", now=NOW, case_id=CASE_ID)


def verified(passed: bool = True) -> CaseVerified:
    payload = VerifiedPayload(unit_id="s.urban", seq=1, at=NOW, passed=passed)
    return CaseVerified.derive(payload, producer="router", now=NOW, case_id=CASE_ID)


def suspension_requested() -> CaseSuspensionRequested:
    payload = SuspensionRequested(
        request_id=stable_id("req-1"),
        by="s.urban",
        unit_id="s.urban",
        seq=1,
        at=NOW,
        reason=RequestReason.AWAITING_REPORTER,
        until=NOW + timedelta(days=2),
        note=f"等{NAME}回电",
    )
    return CaseSuspensionRequested.derive(payload, producer="router", now=NOW, case_id=CASE_ID)
