"""Every category of every sample site reaches its owner, from a sample of its grids.

The pattern of test_bundled_site.py (庄市街道) on the sites sized like the seeds: seed
004's district and seed 001's street are stepwise (a matter owned above the street
enters at the street and is referred up, tier by tier); seed 002's city is flat (it
goes straight to the owning tier). Seed 001's third-level grids have no unit: their
grid-tier matters go to the second-level grid's leader.
"""

from __future__ import annotations

from functools import cache

import pytest

from router.core import Router
from router.memory import MemoryCaseStore
from schemas.cases import Assignment, CaseDispatched
from schemas.catalogue import BUNDLED_SITES, Category, RoutingMode, Site, load_site
from schemas.reports import Tier
from schemas.topics import Emit
from tests.unit.router.support import LATER, T0, act, case, received, refer_up

SITES = ("pidu", "yichang", "maigaoqiao")


@cache
def _site(name: str) -> Site:
    return load_site(BUNDLED_SITES / name)


def _sample_grids(site: Site) -> list[str]:
    """The first, a middle and the last grid, and a nested one where there are any."""
    grids = [j.id for j in site.jurisdictions if j.tier is Tier.GRID]
    sample = [grids[0], grids[len(grids) // 2], grids[-1]]
    nested = [g for g in grids if site.jurisdiction(site.jurisdiction(g).parent).tier is Tier.GRID]  # type: ignore[arg-type, union-attr]
    return sample + nested[len(nested) // 3 : len(nested) // 3 + 1]


def _assignment(out: list[Emit]) -> Assignment:
    (emit,) = [e for e in out if isinstance(e.message, CaseDispatched)]
    message = emit.message
    assert isinstance(message, CaseDispatched)
    assert emit.topic == f"gridflow.assignments.{message.payload.assignment.unit_id}"
    return message.payload.assignment


def _owns(site: Site, a: Assignment, category: Category, grid: str) -> None:
    """``a`` is held at the owning tier, by a unit of the category's own type there."""
    unit = site.unit(a.unit_id)
    assert unit is not None and category.unit_type in unit.unit_types, (a.unit_id, category.code)
    assert a.tier is category.tier is a.owner_tier
    place = site.serving(grid, category.tier)
    assert place is not None and a.jurisdiction_id == place.id == unit.jurisdiction
    assert site.within(grid, place.id)


CASES = [(name, c.code) for name in SITES for c in _site(name).categories]


@pytest.mark.parametrize(("name", "code"), CASES, ids=[f"{n}:{c}" for n, c in CASES])
def test_every_category_reaches_its_owner(name: str, code: str) -> None:
    site = _site(name)
    category = site.category(code)
    assert category is not None
    router = Router(site, MemoryCaseStore())
    entry = site.routing.entry_tier
    for n, grid in enumerate(_sample_grids(site)):
        case_id = f"GF-{n}"
        a = _assignment(act(router, received(case(case_id, category.code, grid)), T0))
        if site.routing.mode is RoutingMode.FLAT or category.tier.rank <= entry.rank:
            _owns(site, a, category, grid)
            continue
        # stepwise: the street holds it (its unit of the type, else its command room)
        # and refers it up, tier by tier
        street = site.serving(grid, Tier.STREET)
        assert street is not None
        holder = site.unit_for(street.id, category.unit_type)
        assert holder is not None
        assert (a.unit_id, a.tier, a.owner_tier) == (holder.id, Tier.STREET, category.tier)
        while a.tier is not category.tier:
            a = _assignment(act(router, refer_up(case_id, a.unit_id, a.seq, a.seq), LATER))
        _owns(site, a, category, grid)
