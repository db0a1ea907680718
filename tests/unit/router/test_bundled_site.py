"""Every category of the bundled site (庄市街道) routes, from grids across the street."""

from __future__ import annotations

import pytest

from router.core import Router
from router.memory import MemoryCaseStore
from schemas.cases import Assignment, CaseDispatched, Role
from schemas.catalogue import Category, RoutingMode, Site, load_site
from schemas.reports import Tier
from schemas.topics import Emit
from tests.unit.router.support import LATER, T0, act, case, received, refer_up

GRIDS = ("zs-xzl-g01", "zs-dxc-g12", "zs-gm-g07", "zs-xh-g10")
_SITE = load_site()


def _assignment(out: list[Emit]) -> Assignment:
    (emit,) = [  # the lead's: a co-handler (协办) gets a copy of its own
        e
        for e in out
        if isinstance(e.message, CaseDispatched) and e.message.payload.assignment.role is Role.LEAD
    ]
    message = emit.message
    assert isinstance(message, CaseDispatched)
    assert emit.topic == f"gridflow.assignments.{message.payload.assignment.unit_id}"
    return message.payload.assignment


def _owns(site: Site, a: Assignment, category: Category, grid: str) -> None:
    """``a`` is held at the owning tier, by a unit of the category's own type there."""
    unit = site.unit(a.unit_id)
    assert unit is not None and category.unit_type in unit.unit_types
    assert a.tier is category.tier is a.owner_tier
    place = site.ancestor(grid, category.tier)
    assert place is not None and a.jurisdiction_id == place.id == unit.jurisdiction


@pytest.mark.parametrize("category", _SITE.categories, ids=lambda c: c.code)
def test_every_category_reaches_its_owner(category: Category) -> None:
    site = _SITE
    router = Router(site, MemoryCaseStore())
    for n, grid in enumerate(GRIDS):
        case_id = f"GF-{n}"
        a = _assignment(act(router, received(case(case_id, category.code, grid)), T0))
        here = site.category_at(category.code, grid)  # as a routing override there has it
        assert here is not None
        flat = site.mode_at(grid, category.code) is RoutingMode.FLAT
        if here.tier.rank <= Tier.STREET.rank or flat:
            _owns(site, a, here, grid)
            continue
        # stepwise: the street command room holds it and refers it up, tier by tier
        assert (a.unit_id, a.tier, a.owner_tier) == ("zs.command", Tier.STREET, here.tier)
        while a.tier is not here.tier:
            a = _assignment(act(router, refer_up(case_id, a.unit_id, a.seq, a.seq), LATER))
        _owns(site, a, here, grid)
