"""What a webhook says: the template of each notifiable event and its JSON body.

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

from schemas.cases import CaseAssigned, CaseClosed, CaseEscalated
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
)
"""The events a subscriber may ask for: each has a subject and a body below."""


@dataclass(frozen=True)
class Subject:
    """What an event is about, for matching subscribers: its template, units and tiers."""

    event_type: str
    template: str
    units: frozenset[str]
    tiers: frozenset[Tier]


def subject_of(event: Envelope) -> Subject | None:
    """The subject of a notifiable event; None for events nobody is told about."""
    match event:
        case CaseAssigned(payload=p):
            units, tiers, template = {p.assignment.unit_id}, {p.assignment.tier}, "assignment"
        case CaseEscalated(payload=p):
            units = {p.from_unit_id} | ({p.to_unit_id} if p.to_unit_id else set())
            tiers = {p.from_tier} | ({p.to_tier} if p.to_tier else set())
            template = "escalation" if p.to_unit_id else "supervision"  # 督办: no tier above
        case DeadlineWarning(payload=p):
            units, tiers, template = {p.unit_id}, {p.tier}, "deadline_warning"
        case DeadlineReminder(payload=p):  # 督办 at the top: the holder is pressed again
            units, tiers, template = {p.unit_id}, {p.tier}, "supervision_reminder"
        case CaseClosed(payload=p):
            units, tiers, template = {p.unit_id}, {p.tier}, "closure"
        case _:
            return None
    return Subject(event.type, template, frozenset(units), frozenset(tiers))


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
