"""A tiny site and message builders for the escalator's tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from schemas.cases import Assignment, AssignmentReason, CaseAssigned, CaseAssignedPayload
from schemas.catalogue import Site
from schemas.envelope import SHANGHAI
from schemas.reports import Case, Channel, Tier, Urgency

ROUTER = "router"


def at(*parts: int) -> datetime:
    """A Shanghai time: at(2026, 3, 5, 10) is 5 March 2026, 10:00."""
    return datetime(*parts, tzinfo=SHANGHAI)  # type: ignore[misc]


def tiny_site(**deadlines: Any) -> Site:
    """City > district > street > 2 communities > 4 grids, one default unit each."""
    places = [
        ("city", "city", None),
        ("dist", "district", "city"),
        ("street", "street", "dist"),
        ("comm-a", "community", "street"),
        ("comm-b", "community", "street"),
        ("grid-a1", "grid", "comm-a"),
        ("grid-a2", "grid", "comm-a"),
        ("grid-b1", "grid", "comm-b"),
        ("grid-b2", "grid", "comm-b"),
    ]
    limits = {
        "grid": {"accept": 0, "resolve": 3, "refer": 1},
        "community": {"accept": 0, "resolve": 3, "refer": 1},
        "street": {"accept": 0, "resolve": 5, "refer": 1},
        "district": {"accept": 0, "resolve": 5, "refer": 1},
        "city": {"accept": 1, "resolve": 10, "refer": 1},
    }
    return Site.model_validate(
        {
            "id": "tiny",
            "name": "Tiny",
            "deadlines": {"warn_before_hours": 4, "tiers": limits, **deadlines},
            "jurisdictions": [{"id": i, "name": i, "tier": t, "parent": p} for i, t, p in places],
            "units": [
                {
                    "id": f"{i}-unit",
                    "name": i,
                    "jurisdiction": i,
                    "unit_types": ["x"],
                    "default": True,
                }
                for i, _, _ in places
            ],
            "categories": [],
        }
    )


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
        grid_id="grid-a1",
        title="litter",
        description="litter by the gate",
        urgency=Urgency.NORMAL,
    )
    assignment = Assignment(
        unit_id=unit_id or f"{tier.value}-unit",
        unit_name="unit",
        tier=tier,
        owner_tier=owner or tier,
        jurisdiction_id="comm-a",
        seq=seq,
        reason=reason,
        assigned_at=when,
    )
    payload = CaseAssignedPayload(assignment=assignment, case=case)
    return CaseAssigned.derive(payload, producer=ROUTER, now=when, case_id=case_id, key=(seq,))
