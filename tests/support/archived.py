"""Cases walked through the real router and archived by the real archive: the seeded
archive the query API and KPI tests read.

``story()`` opens cases on the tiny site (tests/support/sites.py) and moves them
with the holders', verifiers' and channels' commands; every event the router
writes (and each command) reaches the archive, in order, one batch per step.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from archive.core import Archive
from archive.kpi import HandlingClock
from archive.ports import ArchiveStore
from escalator.clocks import site_calendar
from router.core import Router
from router.memory import MemoryCaseStore
from schemas.catalogue import Site
from schemas.envelope import Envelope
from schemas.processing import Inbound
from schemas.topics import CASE_EVENTS


def archive_story(
    site: Site, store: ArchiveStore, steps: Iterable[tuple[Envelope, datetime]]
) -> list[Envelope]:
    """Run ``steps`` through a router and archive its inputs and story; the archived."""
    router = Router(site, MemoryCaseStore())
    clock = HandlingClock(site_calendar(site), site.tz, site.deadlines.business_hours_end)
    archive = Archive(store, clock)
    kept: list[Envelope] = []
    for message, now in steps:
        [outcome] = router.handle([Inbound(message, now)])
        batch = [message]
        if isinstance(outcome, list):
            batch += [e.message for e in outcome if e.topic == CASE_EVENTS.name]  # type: ignore[misc]
        archive.handle([Inbound(m, now) for m in batch])
        kept += batch
    return kept
