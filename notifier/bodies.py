"""What a webhook says: the subject of each notifiable event and its JSON body.

Bodies are built field by field from an allow-list, never by dumping the event:
a case carries the reporter's name, phone and address, and free text (title,
description) that may quote them. None of that leaves in a webhook; a unit reads
the full case on its own assignment topic. The body carries ids, the category,
the grid, units, tiers, deadlines and times.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas.cases import (
    CaseAssigned,
    CaseClosed,
    CaseEscalated,
    CaseExtensionRequested,
    CaseQueued,
    CaseReturned,
    CaseSuspensionRequested,
    CaseVerified,
)
from schemas.catalogue import Site
from schemas.deadlines import DeadlineReminder, DeadlineWarning
from schemas.envelope import Envelope
from schemas.reports import Tier

NOTIFIABLE_EVENTS: tuple[type[Envelope], ...] = (
    CaseAssigned,
    CaseEscalated,
    DeadlineWarning,
    DeadlineReminder,
    CaseClosed,
    CaseVerified,
    CaseSuspensionRequested,
    CaseExtensionRequested,
    CaseReturned,
    CaseQueued,
)
"""The events a subscriber or an audience may ask for: each has a subject and a body."""


@dataclass(frozen=True)
class Subject:
    """What an event is about: its template, units and tiers (for matching
    subscribers), the unit holding the case, the command room named, the deadline."""

    event_type: str
    template: str
    units: frozenset[str]
    tiers: frozenset[Tier]
    holder: str | None = None
    room: str | None = None
    due_at: datetime | None = None


def subject_of(event: Envelope) -> Subject | None:
    """The subject of a notifiable event; None for events nobody is told about."""
    holder: str | None = None
    room: str | None = None
    due: datetime | None = None
    tiers: set[Tier] = set()
    match event:
        case CaseAssigned(payload=p):
            units, tiers, template = {p.assignment.unit_id}, {p.assignment.tier}, "assignment"
            holder = p.assignment.unit_id
        case CaseEscalated(payload=p):
            units = {p.from_unit_id} | ({p.to_unit_id} if p.to_unit_id else set())
            tiers = {p.from_tier} | ({p.to_tier} if p.to_tier else set())
            template = "escalation" if p.to_unit_id else "supervision"  # 督办: no tier above
            holder, due = p.from_unit_id, p.due_at
        case DeadlineWarning(payload=p):
            units, tiers, template = {p.unit_id}, {p.tier}, "deadline_warning"
            holder, due = p.unit_id, p.due_at
        case DeadlineReminder(payload=p):  # 督办 at the top: the holder is pressed again
            units, tiers, template = {p.unit_id}, {p.tier}, "supervision_reminder"
            holder = p.unit_id
        case CaseClosed(payload=p):
            units, tiers, template, holder = {p.unit_id}, {p.tier}, "closure", p.unit_id
        case CaseVerified(payload=p) if p.passed:  # 核查 passed: the resident is asked to rate
            units, template, holder = {p.unit_id}, "rating_request", p.unit_id
        case CaseSuspensionRequested(payload=p):
            units, template, holder = {p.unit_id}, "suspension_request", p.unit_id
            due = p.until
        case CaseExtensionRequested(payload=p):
            units, template, holder = {p.unit_id}, "extension_request", p.unit_id
        case CaseReturned(payload=p):
            units = {p.unit_id} | ({p.to_unit_id} if p.to_unit_id else set())
            template, holder = "returned", p.unit_id
        case CaseQueued(payload=p):
            units, template, room = set(p.returned_by[-1:]), "queued", p.room
            holder = p.returned_by[-1] if p.returned_by else None
        case _:
            return None
    return Subject(event.type, template, frozenset(units), frozenset(tiers), holder, room, due)


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _unit(site: Site, unit_id: str | None, tier: Tier | None) -> dict[str, Any] | None:
    if unit_id is None:
        return None
    unit = site.unit(unit_id)
    return {
        "id": unit_id,
        "name": unit.name if unit else None,
        "tier": tier.value if tier else None,
    }


def _details(event: Envelope, site: Site) -> dict[str, Any]:
    match event:
        case CaseAssigned(payload=p):
            a, case = p.assignment, p.case
            category = site.category(case.category)
            grid = site.jurisdiction(case.grid_id)
            return {
                "unit": _unit(site, a.unit_id, a.tier),
                "owner_tier": a.owner_tier.value,
                "jurisdiction_id": a.jurisdiction_id,
                "seq": a.seq,
                "reason": a.reason.value,
                "assigned_at": _time(a.assigned_at),
                "category": {
                    "code": case.category,
                    "name": category.name if category else None,
                    "name_zh": category.name_zh if category else None,
                },
                "grid": {"id": case.grid_id, "name": grid.name if grid else None},
                "channel": case.channel.value,
                "external_id": case.external_id,
                "urgency": case.urgency.value,
                "reported_at": _time(case.reported_at),
                "received_at": _time(case.received_at),
            }
        case CaseEscalated(payload=p):
            return {
                "from_unit": _unit(site, p.from_unit_id, p.from_tier),
                "to_unit": _unit(site, p.to_unit_id, p.to_tier),
                "reason": p.reason.value,
                "deadline_kind": p.deadline_kind.value if p.deadline_kind else None,
                "due_at": _time(p.due_at),
            }
        case DeadlineWarning(payload=p):
            return {
                "unit": _unit(site, p.unit_id, p.tier),
                "deadline_kind": p.kind.value,
                "seq": p.seq,
                "due_at": _time(p.due_at),
                "working_days": p.working_days,
                "limit": p.limit.model_dump(mode="json") if p.limit else None,
                "policy": p.policy,
            }
        case DeadlineReminder(payload=p):
            return {
                "unit": _unit(site, p.unit_id, p.tier),
                "seq": p.seq,
                "overdue_since": _time(p.started_at),
                "reminded_at": _time(p.due_at),
                "late_by_seconds": p.late_by_seconds,
            }
        case CaseClosed(payload=p):
            return {
                "unit": _unit(site, p.unit_id, p.tier),
                "closed_at": _time(p.at),
                "escalations": p.escalations,
                "on_time": p.on_time,
                "rating": p.rating,
            }
        case CaseVerified(payload=p):
            return {"unit": _unit(site, p.unit_id, None), "verified_at": _time(p.at)}
        case CaseSuspensionRequested(payload=p):
            return {
                "unit": _unit(site, p.unit_id, None),
                "request_id": p.request_id,
                "reason": p.reason.value,
                "until": _time(p.until),
                "requested_at": _time(p.at),
            }
        case CaseExtensionRequested(payload=p):
            return {
                "unit": _unit(site, p.unit_id, None),
                "request_id": p.request_id,
                "reason": p.reason.value,
                "working_days": p.working_days,
                "requested_at": _time(p.at),
            }
        case CaseReturned(payload=p):
            return {
                "unit": _unit(site, p.unit_id, None),
                "reason": p.reason.value,
                "returns": p.returns,
                "to_unit": _unit(site, p.to_unit_id, None),
                "returned_at": _time(p.at),
            }
        case CaseQueued(payload=p):
            return {
                "reason": p.reason.value,
                "room": p.room,
                "returned_by": list(p.returned_by),
                "queued_at": _time(p.at),
            }
    return {}


def body_for(event: Envelope, subject: Subject, notification_id: str, site: Site) -> dict[str, Any]:
    """The JSON body a subscriber receives for ``event``."""
    return {
        "notification_id": notification_id,
        "template": subject.template,
        "event_id": event.event_id,
        "event_type": event.type,
        "occurred_at": _time(event.occurred_at),
        "case_id": event.case_id,
        **_details(event, site),
    }
