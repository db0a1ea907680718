"""One tiny site catalogue for the tests of every processor.

    city c > district d > street s > communities s-a, s-b > grids s-a-g1, s-a-g2, s-b-g1

Each place has one default unit: c.hotline, d.command, s.command, s-a.station,
s-b.station and the grid leaders s-a-g1.leader, s-a-g2.leader, s-b-g1.leader. Three
typed units sit above them: c.water (water_supply), d.env (environment) and s.urban
(urban_management). There is a category at every tier, and urban.garbage is a
second street matter for urban management.

Senders besides the units: verifiers s.verify (the street) and s-a.verify (community
A), supervisor d.supervise (the district), approvers (command rooms) s.approve,
d.approve and s-a.approve, and the channels grid-app, hotline and web.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from schemas.catalogue import (
    Category,
    Deadlines,
    Jurisdiction,
    Routing,
    RoutingMode,
    Sender,
    SenderRole,
    Site,
    TierDeadlines,
    Unit,
)
from schemas.reports import Channel, Tier

SHANGHAI = ZoneInfo("Asia/Shanghai")
"""The test sites' timezone (the bundled site's too); the code takes it from the site."""

PLACES = [
    ("c", "City", Tier.CITY, None),
    ("d", "District", Tier.DISTRICT, "c"),
    ("s", "Street", Tier.STREET, "d"),
    ("s-a", "Community A", Tier.COMMUNITY, "s"),
    ("s-b", "Community B", Tier.COMMUNITY, "s"),
    ("s-a-g1", "Grid A1", Tier.GRID, "s-a"),
    ("s-a-g2", "Grid A2", Tier.GRID, "s-a"),
    ("s-b-g1", "Grid B1", Tier.GRID, "s-b"),
]
DEFAULT_UNIT = {
    Tier.CITY: "hotline",
    Tier.DISTRICT: "command",
    Tier.STREET: "command",
    Tier.COMMUNITY: "station",
    Tier.GRID: "leader",
}
TYPED_UNITS = [
    ("c.water", "City water", "c", "water_supply"),
    ("d.env", "District environment", "d", "environment"),
    ("s.urban", "Street urban management", "s", "urban_management"),
]
CATEGORIES = [
    ("grid.noise", "Noise", "噪音扰民", Tier.GRID, "general"),
    ("community.mediation", "Mediation", "邻里纠纷", Tier.COMMUNITY, "general"),
    ("street.parking", "Parking", "违章停车", Tier.STREET, "urban_management"),
    ("urban.garbage", "Garbage", "垃圾堆放", Tier.STREET, "urban_management"),
    ("district.pollution", "Pollution", "环境污染", Tier.DISTRICT, "environment"),
    ("city.water", "Water supply", "供水", Tier.CITY, "water_supply"),
]
SENDERS = [
    Sender(id="s.verify", name="Street verifier", role=SenderRole.VERIFIER, jurisdiction="s"),
    Sender(id="s-a.verify", name="A verifier", role=SenderRole.VERIFIER, jurisdiction="s-a"),
    Sender(
        id="d.supervise", name="District supervisor", role=SenderRole.SUPERVISOR, jurisdiction="d"
    ),
    # command rooms deciding suspensions and extensions: the street's, the district's, and
    # community A's (whose area holds grid s-a-g1 but not a street department)
    Sender(id="s.approve", name="Street command room", role=SenderRole.APPROVER, jurisdiction="s"),
    Sender(
        id="d.approve", name="District command centre", role=SenderRole.APPROVER, jurisdiction="d"
    ),
    Sender(id="s-a.approve", name="A command room", role=SenderRole.APPROVER, jurisdiction="s-a"),
    Sender(id="grid-app", name="Grid app", role=SenderRole.CHANNEL, channel=Channel.GRID_APP),
    Sender(id="hotline", name="Hotline", role=SenderRole.CHANNEL, channel=Channel.HOTLINE_12345),
    Sender(id="web", name="Web", role=SenderRole.CHANNEL, channel=Channel.WEB),
]
SAME_FOR_EVERY_TIER = {"accept": 0, "resolve": 3, "refer": 1}


def tiny_site(
    *,
    mode: RoutingMode = RoutingMode.STEPWISE,
    tiers: Mapping[Tier, Mapping[str, int]] | None = None,
    warn_before_hours: float | None = 4,
    unit_webhooks: Mapping[str, str] | None = None,
    **policy: Any,
) -> Site:
    """The tiny site; ``tiers`` replaces the working-day limits (the same at every tier
    by default) and ``unit_webhooks`` gives units by id a webhook URL. ``policy`` adds
    deadline policies (``warnings``, ``overrides``, ``reminder_every``) as site.yaml
    writes them; ``warnings`` replaces the older ``warn_before_hours``."""
    hooks = unit_webhooks or {}
    units = [
        Unit(
            id=f"{pid}.{DEFAULT_UNIT[tier]}",
            name=f"{name} {DEFAULT_UNIT[tier]}",
            jurisdiction=pid,
            unit_types=["general"],
            default=True,
            webhook=hooks.get(f"{pid}.{DEFAULT_UNIT[tier]}"),
        )
        for pid, name, tier, _ in PLACES
    ]
    units += [
        Unit(id=uid, name=name, jurisdiction=pid, unit_types=[kind], webhook=hooks.get(uid))
        for uid, name, pid, kind in TYPED_UNITS
    ]
    unknown = set(hooks) - {u.id for u in units}
    if unknown:
        raise ValueError(f"no units {sorted(unknown)} in the tiny site")
    limits = tiers or {t: SAME_FOR_EVERY_TIER for t in Tier}
    return Site(
        id="tiny",
        name="Tiny",
        routing=Routing(mode=mode, entry_tier=Tier.STREET),
        deadlines=Deadlines.model_validate(
            {
                "warn_before_hours": None if "warnings" in policy else warn_before_hours,
                "tiers": {t: TierDeadlines(**days) for t, days in limits.items()},
                **policy,
            }
        ),
        jurisdictions=[
            Jurisdiction(id=pid, name=name, tier=tier, parent=parent)
            for pid, name, tier, parent in PLACES
        ],
        units=units,
        categories=[
            Category(
                code=code,
                name=name,
                name_zh=name_zh,
                group=code.split(".")[0],
                tier=tier,
                unit_type=kind,
            )
            for code, name, name_zh, tier, kind in CATEGORIES
        ],
        senders=SENDERS,
    )
