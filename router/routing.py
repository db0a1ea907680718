"""Where a case goes: which tier holds it, and which unit at that tier (调度分流).

Pure look-ups in the site catalogue. A case is routed by two things: its category
(which tier's duty it is, which department type owns it) and its grid (so which
concrete unit serves it at that tier).
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.catalogue import Category, RoutingMode, Site, Unit
from schemas.deadletter import FieldError, Rejected, RejectionReason
from schemas.reports import Case, Tier


@dataclass(frozen=True)
class Placement:
    """A unit at one tier, serving the jurisdiction that contains the case's grid."""

    unit: Unit
    tier: Tier
    jurisdiction_id: str


def _unknown(loc: str, msg: str) -> FieldError:
    return FieldError(loc=loc, msg=msg, type="unknown_reference")


def category_of(site: Site, case: Case) -> Category:
    """The case's category, or a rejection naming the unknown code."""
    category = site.category(case.category)
    if category is None:
        msg = f"category {case.category!r} is not in site {site.id}"
        raise Rejected(
            RejectionReason.UNKNOWN_REFERENCE,
            f"case {case.case_id}: {msg}",
            [_unknown("category", msg)],
        )
    return category


def holder_tier(site: Site, category: Category) -> Tier:
    """The tier that first holds a case of ``category``.

    Flat routing (002) sends it straight to the owning tier. Stepwise routing (000,
    004) lets matters owned above the entry tier enter there: the street holds
    them and refers them up, under a refer deadline.
    """
    owner = category.tier
    entry = site.routing.entry_tier
    if site.routing.mode is RoutingMode.FLAT or owner.rank <= entry.rank:
        return owner
    return entry


def place(site: Site, case: Case, category: Category, tier: Tier) -> Placement:
    """The unit of the category's type serving the case's grid at ``tier`` (else the
    jurisdiction's default unit); a rejection when there is none. At the grid tier
    that is the innermost grid with units around the case's (nested grids)."""
    where = site.serving(case.grid_id, tier)
    unit = site.unit_for(where.id, category.unit_type) if where is not None else None
    if where is None or unit is None:
        raise Rejected(
            RejectionReason.UNROUTABLE,
            f"case {case.case_id}: no {tier} unit of type {category.unit_type} "
            f"serves grid {case.grid_id} in site {site.id}",
        )
    return Placement(unit=unit, tier=tier, jurisdiction_id=where.id)


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
    return category, place(site, case, category, holder_tier(site, category))
