"""A tiny site for intake's tests: city > district > street > 2 communities > 4 grids."""

from __future__ import annotations

from datetime import datetime

import pytest

from schemas.catalogue import Category, Deadlines, Jurisdiction, Site, TierDeadlines, Unit
from schemas.envelope import SHANGHAI
from schemas.reports import Tier

NOW = datetime(2024, 6, 3, 10, 0, tzinfo=SHANGHAI)


def tiny_site() -> Site:
    places = [
        Jurisdiction(id="c", name="City", tier=Tier.CITY),
        Jurisdiction(id="d", name="District", tier=Tier.DISTRICT, parent="c"),
        Jurisdiction(id="s", name="Street", tier=Tier.STREET, parent="d"),
        Jurisdiction(id="s-a", name="Community A", tier=Tier.COMMUNITY, parent="s"),
        Jurisdiction(id="s-b", name="Community B", tier=Tier.COMMUNITY, parent="s"),
        *(
            Jurisdiction(id=f"s-{c}-g{n}", name=f"Grid {c}{n}", tier=Tier.GRID, parent=f"s-{c}")
            for c in "ab"
            for n in (1, 2)
        ),
    ]
    units = [
        Unit(id=f"{p.id}.default", name=p.name, jurisdiction=p.id, unit_types=["x"], default=True)
        for p in places
    ]
    return Site(
        id="tiny",
        name="Tiny",
        deadlines=Deadlines(tiers={t: TierDeadlines(accept=0, resolve=3, refer=1) for t in Tier}),
        jurisdictions=places,
        units=units,
        categories=[
            Category(
                code="urban.garbage",
                name="Garbage",
                name_zh="垃圾",
                group="城建",
                tier=Tier.STREET,
                unit_type="x",
            ),
        ],
    )


@pytest.fixture(scope="session")
def small_site() -> Site:
    return tiny_site()
