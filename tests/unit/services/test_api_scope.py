"""The KPIs' scope (services.api.app.scope) admits exactly the cases Viewer.may_see does,
for every sender of the site, operations, and every place, unit and channel."""

from __future__ import annotations

from datetime import UTC, datetime

from archive.kpi import holds
from archive.projection import CaseRow
from services.api.app import scope
from services.api.auth import OPERATIONS, Viewer, viewer_of
from tests.support.sites import tiny_site


def test_the_scope_of_every_viewer_is_what_it_may_see() -> None:
    site = tiny_site()
    viewers = [viewer_of(s) for s in site.all_senders()] + [Viewer(OPERATIONS, OPERATIONS)]
    places = [j.id for j in site.jurisdictions] + [None, "nowhere"]
    units = [u.id for u in site.units] + [None]
    channels = ["hotline_12345", "grid_app", None]
    now = datetime(2026, 3, 2, tzinfo=UTC)
    checked = 0
    for who in viewers:
        where = scope(who, site)
        for grid in places:
            for unit in units:
                for channel in channels:
                    row = CaseRow("C", unit_id=unit, grid_id=grid, channel=channel)
                    sees = where is None or holds(where, row, now)
                    assert sees == who.may_see(site, unit, grid, channel), (who, row)
                    checked += sees
    assert checked > 0
