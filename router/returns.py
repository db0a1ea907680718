"""Where a returned case goes next (退回): the candidates routing allows, in order.

Pure look-ups in the site catalogue, like :mod:`router.routing`. A unit that
returns a case says it is not its own; the router sends it on to the first of
these that has not returned it:

1. at the returner's tier, the unit of the category's type serving the case's grid
   (the one routing picks first; it may be the returner itself);
2. at that tier, the serving jurisdiction's default unit (its command room or
   station, which takes what has no department of its own);
3. one tier up, the category's unit there, then that jurisdiction's default unit.

When none is left, or the case has been returned ``routing.max_returns`` times,
it goes to the command room's dispatch queue (人工分拨) instead
(:meth:`router.core.Router._return`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass

from schemas.catalogue import Category, Site, Unit
from schemas.reports import CaseFacts, Tier


@dataclass(frozen=True)
class Candidate:
    """A unit a returned case may go to, at one tier, serving the case's grid there."""

    unit: Unit
    tier: Tier
    jurisdiction_id: str


def candidates(site: Site, case: CaseFacts, category: Category, tier: Tier) -> Iterator[Candidate]:
    """The units a case held at ``tier`` may be sent on to, in order, each once."""
    seen: set[str] = set()
    for at in (tier, tier.parent()):
        if at is None:
            continue
        where = site.serving(case.grid_id, at)
        if where is None:
            continue
        typed = site.unit_for(where.id, category.unit_type)
        default = next((u for u in site.units if u.jurisdiction == where.id and u.default), None)
        for unit in (typed, default):
            if unit is not None and unit.id not in seen:
                seen.add(unit.id)
                yield Candidate(unit=unit, tier=at, jurisdiction_id=where.id)


def next_unit(
    site: Site, case: CaseFacts, category: Category, tier: Tier, returned_by: Collection[str]
) -> Candidate | None:
    """The first candidate that has not returned the case; None when every one has."""
    left = (p for p in candidates(site, case, category, tier) if p.unit.id not in returned_by)
    return next(left, None)
