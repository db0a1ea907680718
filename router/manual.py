"""The dispatch queue (人工分拨) and the people's decisions: why a case waits for a
dispatcher, who holds its place there, and why a returned or dispatched assignment
went where it went.

Pure look-ups in the site catalogue, like :mod:`router.routing`. A case goes to the
command room's dispatch queue instead of a dead letter when routing cannot place it:

- its category is not in the catalogue (``unknown_category``): the room nearest its
  grid hears of it;
- its point lies in no grid (``off_map``: intake files it under the site's whole area,
  :attr:`schemas.catalogue.Site.area`, ``placement.off_map``): that area's room;
- it was returned too often, or by every unit routing allows (:mod:`router.returns`);
- a lapse or a referral has no unit to go to (a dispatched case of an unknown
  category, or one placed above the tier it is sent to).

A case queued on arrival was never held by a unit. Its file's assignment is the
queue's (:func:`queue_place`), seq 1, never published: the default unit of the room's
jurisdiction stands for the room, so that the room is "over the holder" and may
dispatch it (:data:`schemas.access.PERMISSIONS`), and the dispatcher's assignment is
seq 2.
"""

from __future__ import annotations

from datetime import datetime

from router.returns import Candidate
from router.routing import path
from schemas.cases import (
    Assignment,
    AssignmentReason,
    Explanation,
    QueueReason,
    ReturnReason,
    RoutingRule,
    UnitChoice,
)
from schemas.catalogue import Jurisdiction, Sender, Site, Unit
from schemas.reports import Case, CaseFacts, Tier


def arrival_queue(site: Site, case: Case) -> tuple[QueueReason, str] | None:
    """Why a new case goes to the dispatch queue, in words; None when routing places it.

    An off-map point comes first: a dispatcher must place it whatever its category."""
    placement = case.placement
    if placement is not None and placement.off_map:
        unknown = "" if site.category(case.category) else f"; unknown category {case.category}"
        return QueueReason.OFF_MAP, f"point on no grid of site {site.id}{unknown}"
    if site.category(case.category) is None and site.is_grid(case.grid_id):
        return QueueReason.UNKNOWN_CATEGORY, f"unknown category {case.category}"
    return None  # routed; a grid the site does not know is refused there, as intake does


def queue_place(site: Site, case: CaseFacts, now: datetime) -> Assignment:
    """The queue's own assignment of a case queued on arrival (never published): the
    default unit of the nearest command room's jurisdiction stands for the room."""
    room = site.approver_for(case.grid_id)
    where = site.jurisdiction(room.jurisdiction or "") if room else None
    where = where or site.jurisdiction(case.grid_id) or site.area
    unit = _default_unit(site, where)
    category = site.category(case.category)
    return Assignment(
        unit_id=unit.id,
        unit_name=unit.name,
        tier=where.tier,
        owner_tier=category.tier if category else where.tier,
        jurisdiction_id=where.id,
        seq=1,
        reason=AssignmentReason.INITIAL,
        assigned_at=now,
        catalogue_version=site.version,
    )


def _default_unit(site: Site, where: Jurisdiction) -> Unit:
    place: Jurisdiction | None = where
    while place is not None:
        found = next((u for u in site.units if u.jurisdiction == place.id and u.default), None)
        if found is not None:
            return found
        place = site.jurisdiction(place.parent) if place.parent else None
    return site.units[0]  # a validated catalogue gives every jurisdiction a default unit


RETURN_WORDS = {
    ReturnReason.NOT_OUR_DUTY: "not its duty (非本单位职责)",
    ReturnReason.OUTSIDE_JURISDICTION: "outside its jurisdiction (不属本辖区)",
    ReturnReason.WRONG_CATEGORY: "wrong category (分类错误)",
    ReturnReason.OTHER: "another reason (its note says)",
}


def returned_explanation(
    site: Site,
    case: CaseFacts,
    returner: str,
    reason: ReturnReason,
    from_tier: Tier,
    to: Candidate,
    returned_by: tuple[str, ...],
    unit_type: str,
) -> Explanation:
    """Why a returned case (退回) went to ``to``: who returned it and why, and the rule of
    :mod:`router.returns` that chose the next unit."""
    typed = unit_type in to.unit.unit_types
    step = "at the same tier" if to.tier is from_tier else "one tier up"
    unit = f"the {unit_type} unit" if typed else f"the default unit (兜底) of {to.jurisdiction_id}"
    before = ", ".join(returned_by)
    text = (
        f"Returned (退回) by {returner} for {RETURN_WORDS[reason]}; re-routed to {to.unit.id} "
        f"({to.unit.name}), {unit} {step} ({to.tier}), the next candidate routing allows "
        f"(rule: the category's unit, then the default unit, then one tier up; never a unit "
        f"that returned it: {before}). Catalogue {site.version}."
    )
    return Explanation(
        rule=RoutingRule.RETURNED,
        unit_choice=UnitChoice.TYPED if typed else UnitChoice.DEFAULT,
        unit_type=unit_type,
        text=text,
        path=path(site, case.grid_id, to.jurisdiction_id),
    )


def dispatched_explanation(
    site: Site,
    case: CaseFacts,
    dispatcher: Sender | None,
    unit: Unit,
    where: Jurisdiction,
    queued_for: str | None,
    co_handlers: list[str],
) -> Explanation:
    """Why a dispatched case (人工分拨) went to ``unit``: the dispatcher chose it."""
    who = f"{dispatcher.id} ({dispatcher.name})" if dispatcher else "a dispatcher"
    why = f", queued for {queued_for}" if queued_for else ""
    co = f" Co-handlers (协办): {', '.join(co_handlers)}." if co_handlers else ""
    category = site.category(case.category)
    text = (
        f"Dispatched (人工分拨) from the dispatch queue{why}: dispatcher {who} assigned it to "
        f"{unit.id} ({unit.name}) of {where.name} ({where.id}, {where.tier}).{co} "
        f"Catalogue {site.version}."
    )
    return Explanation(
        rule=RoutingRule.DISPATCHED,
        unit_choice=UnitChoice.CHOSEN,
        unit_type=category.unit_type if category else unit.unit_types[0],
        text=text,
        path=path(site, case.grid_id, where.id),
    )
