"""Where a case goes: which tier holds it, and which unit at that tier (调度分流).

Pure look-ups in the site catalogue. A case is routed by two things: its category
(which tier's duty it is, which department type owns it) and its grid (so which
concrete unit serves it at that tier).

Every placement says why (:class:`schemas.cases.Explanation`): the rule that chose
the tier, how the unit was chosen there (its type, or the jurisdiction's default
unit), and the jurisdictions walked from the case's grid to the serving one. The
explanation follows the decision; it never changes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from router.cohandling import with_co_handlers
from schemas.cases import (
    Assignment,
    AssignmentReason,
    Explanation,
    PathStep,
    RoutingRule,
    UnitChoice,
)
from schemas.catalogue import Category, Jurisdiction, RoutingMode, Site, Unit
from schemas.deadletter import FieldError, Rejected, RejectionReason
from schemas.reports import Case, Tier


@dataclass(frozen=True)
class Placement:
    """A unit at one tier, serving the jurisdiction that contains the case's grid."""

    unit: Unit
    tier: Tier
    jurisdiction_id: str
    why: Explanation | None = None  # None only where a caller builds one itself


def _unknown(loc: str, msg: str) -> FieldError:
    return FieldError(loc=loc, msg=msg, type="unknown_reference")


def category_of(site: Site, case: Case) -> Category:
    """The case's category as it applies in its grid (a routing override there may give
    it another owner type or tier: :meth:`Site.category_at`), or a rejection naming
    the unknown code."""
    category = site.category_at(case.category, case.grid_id)
    if category is None:
        msg = f"category {case.category!r} is not in site {site.id}"
        raise Rejected(
            RejectionReason.UNKNOWN_REFERENCE,
            f"case {case.case_id}: {msg}",
            [_unknown("category", msg)],
        )
    return category


def holder_tier(site: Site, category: Category, mode: RoutingMode | None = None) -> Tier:
    """The tier that first holds a case of ``category``, routed in ``mode`` (default:
    the site's; a routing override may set another: :meth:`Site.mode_at`).

    Flat routing (002) sends it straight to the owning tier. Stepwise routing (000,
    004) lets matters owned above the entry tier enter there: the street holds
    them and refers them up, under a refer deadline.
    """
    owner = category.tier
    entry = site.routing.entry_tier
    if (mode or site.routing.mode) is RoutingMode.FLAT or owner.rank <= entry.rank:
        return owner
    return entry


def initial_rule(site: Site, category: Category, mode: RoutingMode | None = None) -> RoutingRule:
    """The rule of a first dispatch: flat, the owner tier, or the entry tier."""
    if (mode or site.routing.mode) is RoutingMode.FLAT:
        return RoutingRule.FLAT
    if holder_tier(site, category, mode) is category.tier:
        return RoutingRule.OWNER_TIER
    return RoutingRule.ENTRY_TIER


def place(site: Site, case: Case, category: Category, tier: Tier, rule: RoutingRule) -> Placement:
    """The unit of the category's type serving the case's grid at ``tier`` (else the
    jurisdiction's default unit); a rejection when there is none. At the grid tier
    that is the innermost grid with units around the case's (nested grids).

    ``rule`` is why the case is placed at ``tier``; it goes into the explanation.

    The placement is a function of the catalogue, the grid, the category, the tier
    and the rule alone, so it is worked out once per such key and catalogue
    (:meth:`Site.memo`); its parts are immutable. Then a decision is a look-up."""
    key = ("place", case.grid_id, category.code, category.unit_type, tier, rule)
    found = site.memo(key, lambda: _place(site, case.grid_id, category, tier, rule))
    if found is None:
        raise Rejected(
            RejectionReason.UNROUTABLE,
            f"case {case.case_id}: no {tier} unit of type {category.unit_type} "
            f"serves grid {case.grid_id} in site {site.id}",
        )
    return found


def _place(
    site: Site, grid_id: str, category: Category, tier: Tier, rule: RoutingRule
) -> Placement | None:
    where = site.serving(grid_id, tier)
    unit = site.unit_for(where.id, category.unit_type) if where is not None else None
    if where is None or unit is None:
        return None
    typed = category.unit_type in unit.unit_types
    choice = UnitChoice.TYPED if typed else UnitChoice.DEFAULT
    text = " ".join(
        (
            _rule_text(rule, category, tier),
            _override_text(site, grid_id, category),
            _unit_text(choice, unit, where, category.unit_type),
            _nested_text(grid_id, where, tier),
            f"Catalogue {site.version}.",
        )
    )
    why = Explanation(
        rule=rule,
        unit_choice=choice,
        unit_type=category.unit_type,
        text=" ".join(text.split()),
        path=path(site, grid_id, where.id),
    )
    return Placement(unit=unit, tier=tier, jurisdiction_id=where.id, why=why)


def rework_explanation(site: Site, case: Case, held: Assignment) -> Explanation:
    """Why a rework assignment goes to the unit that held the case: the same unit."""
    category = site.category(case.category)
    unit_type = category.unit_type if category else (held.why.unit_type if held.why else "")
    where = site.jurisdiction(held.jurisdiction_id)
    place_name = f"{where.name} ({where.id}, {where.tier})" if where else held.jurisdiction_id
    text = (
        f"Rework (返工): verification (核查) failed, so the case goes back to the unit that "
        f"handled it. {held.unit_id} ({held.unit_name}) of {place_name} keeps it. "
        f"Catalogue {site.version}."
    )
    return Explanation(
        rule=RoutingRule.REWORK,
        unit_choice=UnitChoice.SAME,
        unit_type=unit_type,
        text=text,
        path=path(site, case.grid_id, held.jurisdiction_id),
    )


def path(site: Site, grid_id: str, jurisdiction_id: str) -> list[PathStep]:
    """The jurisdictions from ``grid_id`` up its parents to ``jurisdiction_id``, both
    included; just the jurisdiction when it does not contain the grid. Worked out once
    per pair and catalogue: the steps are immutable, and building them was a third of
    a routing decision."""
    steps = site.memo(
        ("path", grid_id, jurisdiction_id), lambda: _path(site, grid_id, jurisdiction_id)
    )
    return list(steps)


def _path(site: Site, grid_id: str, jurisdiction_id: str) -> tuple[PathStep, ...]:
    return tuple(_walk(site, grid_id, jurisdiction_id))


def _walk(site: Site, grid_id: str, jurisdiction_id: str) -> list[PathStep]:
    steps: list[PathStep] = []
    place = site.jurisdiction(grid_id)
    while place is not None and len(steps) < PATH_LIMIT:
        steps.append(PathStep(jurisdiction_id=place.id, tier=place.tier, name=place.name))
        if place.id == jurisdiction_id:
            return steps
        place = site.jurisdiction(place.parent) if place.parent else None
    last = site.jurisdiction(jurisdiction_id)
    return [PathStep(jurisdiction_id=last.id, tier=last.tier, name=last.name)] if last else []


PATH_LIMIT = 32
"""The longest path an explanation carries (Explanation.path's bound)."""


def _rule_text(rule: RoutingRule, category: Category, tier: Tier) -> str:
    matter = f"Category {category.code} ({category.name_zh}) is the {category.tier}'s duty"
    if rule is RoutingRule.OWNER_TIER:
        return f"First dispatch (调度分流), stepwise (逐级): {matter}, so the {tier} holds it."
    if rule is RoutingRule.ENTRY_TIER:
        return (
            f"First dispatch (调度分流), stepwise (逐级): {matter}, above the entry tier, "
            f"so the {tier} holds it and refers it up (上报) under a refer deadline."
        )
    if rule is RoutingRule.FLAT:
        return (
            f"First dispatch (调度分流), flat mode (扁平化): {matter}, so it goes straight "
            f"to the {tier}."
        )
    if rule is RoutingRule.REFERRED:
        return (
            f"Referral (上报): the holder reported it beyond its powers; one tier up, to "
            f"the {tier}."
        )
    return f"Escalation (升级): a deadline lapsed; one tier up, to the {tier}."


def _override_text(site: Site, grid_id: str, category: Category) -> str:
    o = site.routing_override(grid_id, category.code)
    if o is None:
        return ""
    where = site.jurisdiction(o.jurisdiction)
    at = f"{where.name} ({where.id}, {where.tier})" if where else o.jurisdiction
    sets = [
        *([f"owner type {o.unit_type}"] if o.unit_type else []),
        *([f"owner tier {o.tier}"] if o.tier else []),
        *([f"{o.mode} mode"] if o.mode else []),
    ]
    return (
        f"Routing override {o.name} of {at} applies: {', '.join(sets)} instead of the site's rule."
    )


def _unit_text(choice: UnitChoice, unit: Unit, where: Jurisdiction, unit_type: str) -> str:
    at = f"{where.name} ({where.id}, {where.tier})"
    if choice is UnitChoice.TYPED:
        return f"Unit {unit.id} ({unit.name}) is the {unit_type} unit of {at}."
    return (
        f"No {unit_type} unit serves {at}: its default unit (兜底) {unit.id} ({unit.name}) "
        f"takes it."
    )


def _nested_text(grid_id: str, where: Jurisdiction, tier: Tier) -> str:
    if tier is not Tier.GRID or where.id == grid_id:
        return ""
    return f"Grid {grid_id} has no units of its own: the grid it lies in, {where.id}, works it."


def initial_placement(site: Site, case: Case) -> tuple[Category, Placement]:
    """Category and first holder of a new case; rejects unknown codes and grids, both
    at once when both are wrong."""
    errors: list[FieldError] = []
    if site.category(case.category) is None:
        errors.append(_unknown("category", f"category {case.category!r} is not in site {site.id}"))
    if not site.is_grid(case.grid_id):
        errors.append(_unknown("grid_id", f"{case.grid_id!r} is not a grid of site {site.id}"))
    if errors:
        message = f"case {case.case_id}: " + "; ".join(e.msg for e in errors)
        raise Rejected(RejectionReason.UNKNOWN_REFERENCE, message, errors)
    category = category_of(site, case)
    mode = site.mode_at(case.grid_id, case.category)
    tier = holder_tier(site, category, mode)
    return category, place(site, case, category, tier, initial_rule(site, category, mode))


def first_assignment(site: Site, case: Case, now: datetime) -> Assignment:
    """The assignment that opens ``case`` (seq 1), with its explanation and the
    catalogue's version, and the category's co-handlers (协办, :mod:`router.cohandling`);
    rejects as :func:`initial_placement` does. The router and ``gridflow route
    --explain`` both make it here."""
    category, to = initial_placement(site, case)
    first = Assignment(
        unit_id=to.unit.id,
        unit_name=to.unit.name,
        tier=to.tier,
        owner_tier=category.tier,
        jurisdiction_id=to.jurisdiction_id,
        seq=1,
        reason=AssignmentReason.INITIAL,
        assigned_at=now,
        catalogue_version=site.version,
        why=to.why,
    )
    return with_co_handlers(site, case, first)
