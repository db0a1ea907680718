"""The processor registry: every processor, how it is built, and how it runs.

This is the one place that knows the five processors: their names (also their
consumer groups), whether they tick, whether they keep state in the database,
their batch size, their metrics port, and how each is built with its adapters.
Both runtimes, the CLI and the metrics read it from here.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from escalator.ports import CalendarSource
from notifier.subscriptions import Subscriptions, load_subscriptions
from schemas.catalogue import Site, SiteSource
from schemas.processing import MAX_VALUE_BYTES
from services.runtime.processor import Processor
from storage.db import Transaction

METRICS_BASE_PORT = 9401


@dataclass(frozen=True)
class Parts:
    """What a processor is built from. ``tx`` is None for one without state."""

    site: Site
    tx: Transaction | None
    resources: ExitStack
    """Where what needs closing is registered."""
    subscriptions: Subscriptions | None = None
    max_bytes: int = MAX_VALUE_BYTES
    """The largest record value intake reads (``GRIDFLOW_INTAKE_MAX_BYTES``)."""
    site_dir: Path | None = None
    """The directory the site was loaded from: its calendar.yaml is watched."""
    calendar_reload_seconds: float = 0
    """How often to look at it (``GRIDFLOW_CALENDAR_RELOAD_SECONDS``); 0: never."""
    site_reload_seconds: float = 0
    """How often intake and the router look at the whole site directory
    (``GRIDFLOW_SITE_RELOAD_SECONDS``); 0: never."""


@dataclass(frozen=True)
class ProcessorSpec:
    name: str
    build: Callable[[Parts], Processor]
    ticks: bool = False
    """Its ``tick`` has work to do: the runtimes let time pass for it."""
    stateful: bool = True
    """It keeps state (or an inbox) in the database; intake does not."""
    batch_size: int | None = None
    """Most records a batch, when it must be smaller than the setting."""

    def tx(self, make: Callable[[], Transaction]) -> Transaction | None:
        return make() if self.stateful else None


def _intake(p: Parts) -> Processor:
    from intake.core import Intake

    return Intake(p.site, p.max_bytes, sites=_sites(p, "intake"))


def _router(p: Parts) -> Processor:
    from router.core import Router
    from router.sql import SqlCaseStore

    assert p.tx is not None
    return Router(p.site, SqlCaseStore(p.tx), calendars=_calendars(p), sites=_sites(p, "router"))


def _sites(p: Parts, processor: str) -> SiteSource | None:
    """A watch on the site directory, when the site came from one (services/site_watch.py)."""
    if p.site_dir is None or p.site_reload_seconds <= 0:
        return None
    from services.site_watch import SiteWatch

    return SiteWatch(p.site, p.site_dir, p.site_reload_seconds, processor)


def _calendars(p: Parts) -> CalendarSource | None:
    """A watch on the site's calendar.yaml, when the site came from a directory."""
    if p.site_dir is None or p.calendar_reload_seconds <= 0:
        return None
    from services.calendar_watch import SiteCalendarWatch

    return SiteCalendarWatch(p.site, p.site_dir, p.calendar_reload_seconds)


def _escalator(p: Parts) -> Processor:
    from escalator.clocks import site_calendar
    from escalator.core import Escalator
    from escalator.sql import SqlDeadlineStore

    assert p.tx is not None
    return Escalator(p.site, site_calendar(p.site), SqlDeadlineStore(p.tx), calendars=_calendars(p))


def _notifier(p: Parts) -> Processor:
    from notifier.core import Notifier
    from notifier.sql import SqlContacts, SqlOutbox

    assert p.tx is not None
    subs = p.subscriptions if p.subscriptions is not None else load_subscriptions(None, p.site)
    # it only queues deliveries; the sender (services/runtime/sender.py) makes them
    return Notifier(subs, p.site, SqlOutbox(p.tx), SqlContacts(p.tx))


def _archive(p: Parts) -> Processor:
    from archive.core import Archive
    from archive.kpi import HandlingClock
    from archive.sql import SqlArchiveStore
    from escalator.clocks import site_calendar

    assert p.tx is not None
    clock = HandlingClock(site_calendar(p.site), p.site.tz, p.site.deadlines.business_hours_end)
    return Archive(SqlArchiveStore(p.tx), clock)


REGISTRY: dict[str, ProcessorSpec] = {
    s.name: s
    for s in (
        ProcessorSpec("intake", _intake, stateful=False),
        ProcessorSpec("router", _router),
        ProcessorSpec("escalator", _escalator, ticks=True),
        ProcessorSpec("notifier", _notifier),
        ProcessorSpec("archive", _archive),
    )
}
PROCESSORS: tuple[str, ...] = tuple(REGISTRY)


def spec(name: str) -> ProcessorSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"no processor named {name!r}: choose one of {PROCESSORS}") from None


def metrics_port(name: str, setting: int | None) -> int:
    """The Prometheus port of one processor run alone: the setting, else its default."""
    if setting is not None:
        return setting
    return METRICS_BASE_PORT + PROCESSORS.index(name)


def cluster_ports(setting: int | None) -> dict[str, int]:
    """Ports for all processors on one host (``gridflow up``): the setting (default
    9401) for the first and the next ones in registry order; 0 turns them all off."""
    base = METRICS_BASE_PORT if setting is None else setting
    return {name: base + i if base else 0 for i, name in enumerate(PROCESSORS)}
