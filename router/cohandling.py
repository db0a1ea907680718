"""Lead and co-handlers (主办/协办): who works a case beside the unit that holds it.

A category may name department types that co-handle it (``co_handlers`` in the
catalogue), and a dispatcher may name co-handler units (``case.dispatch``). The lead
(主办) holds the case and works the loop; each co-handler (协办) is told on its own
topic (a ``case.dispatched`` whose assignment says ``role: co_handler``), does its
part and reports it (``case.report_part``); the lead's report that the case is
handled (``case.report_handled``) is refused until every co-handler has reported
(:data:`router.workflow.GUARDS`). Each co-handler has a clock of its own (``assist``,
its tier's resolve limit: :func:`escalator.clocks.assist_clocks`).

Co-handlers belong to one assignment: a new one (escalation, referral, return,
dispatch) chooses them again for its own tier, and their reports start over; a
rework (返工) is the lead's alone.
"""

from __future__ import annotations

from collections.abc import Iterable

from schemas.cases import Assignment, CoHandler, Role
from schemas.catalogue import Category, Site, Unit
from schemas.reports import CaseFacts, Tier

MAX_CO_HANDLERS = 8
"""At most this many co-handlers an assignment (Assignment.co_handlers' bound)."""


def from_category(site: Site, case: CaseFacts, category: Category, tier: Tier) -> list[CoHandler]:
    """The category's co-handlers for a lead at ``tier``: for each type it names, the unit
    of that type serving the case's grid at ``tier``, else one tier up; a type with no
    such unit there is left out (the lead works without it)."""
    out: list[CoHandler] = []
    for unit_type in category.co_handlers:
        for at in (tier, tier.parent()):
            where = site.serving(case.grid_id, at) if at is not None else None
            unit = site.unit_for(where.id, unit_type) if where is not None else None
            if where is not None and unit is not None and unit_type in unit.unit_types:
                out.append(_co(unit, where.tier, where.id, unit_type))
                break
    return _distinct(out)


def named(site: Site, unit_ids: Iterable[str]) -> list[CoHandler]:
    """The co-handlers a dispatcher named, as units of the catalogue (checked before)."""
    out = []
    for unit_id in unit_ids:
        unit = site.unit(unit_id)
        where = site.jurisdiction(unit.jurisdiction) if unit else None
        if unit is not None and where is not None:
            out.append(_co(unit, where.tier, where.id, unit.unit_types[0]))
    return _distinct(out)


def _co(unit: Unit, tier: Tier, jurisdiction_id: str, unit_type: str) -> CoHandler:
    return CoHandler(
        unit_id=unit.id,
        unit_name=unit.name,
        tier=tier,
        jurisdiction_id=jurisdiction_id,
        unit_type=unit_type,
    )


def _distinct(co: list[CoHandler]) -> list[CoHandler]:
    seen: set[str] = set()
    out = []
    for c in co:
        if c.unit_id not in seen:
            seen.add(c.unit_id)
            out.append(c)
    return out[:MAX_CO_HANDLERS]


def with_co_handlers(site: Site, case: CaseFacts, a: Assignment) -> Assignment:
    """``a`` with its category's co-handlers, when it holds the case to resolve it (at or
    above the owning tier: a holder that must refer it up works it alone)."""
    category = site.category(case.category)
    if category is None or not category.co_handlers or a.tier.rank < a.owner_tier.rank:
        return a
    co = [c for c in from_category(site, case, category, a.tier) if c.unit_id != a.unit_id]
    return with_these(a, co)


def with_these(a: Assignment, co: list[CoHandler]) -> Assignment:
    """``a`` with co-handlers ``co``, its explanation saying so."""
    if not co:
        return a
    a = a.model_copy(update={"co_handlers": co})
    if a.why is not None:
        text = (a.why.text + co_text(a))[:2000]
        a = a.model_copy(update={"why": a.why.model_copy(update={"text": text})})
    return a


def co_assignment(a: Assignment, co: CoHandler) -> Assignment:
    """The assignment as co-handler ``co`` receives it: its own unit and place, its role."""
    return a.model_copy(
        update={
            "unit_id": co.unit_id,
            "unit_name": co.unit_name,
            "tier": co.tier,
            "jurisdiction_id": co.jurisdiction_id,
            "role": Role.CO_HANDLER,
        }
    )


def co_text(a: Assignment) -> str:
    """The explanation's sentence on the co-handlers, if any."""
    if not a.co_handlers:
        return ""
    names = ", ".join(f"{c.unit_id} ({c.unit_type})" for c in a.co_handlers)
    return (
        f" Co-handlers (协办): {names}; the lead (主办) reports it handled once each has "
        f"reported its part."
    )
