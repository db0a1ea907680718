"""A new State Council notice, taken up while the processes run.

An operator adds a year to the site's ``calendar.yaml`` (beside ``site.yaml``). The
router and the escalator each hold a :class:`SiteCalendarWatch`, which looks at the
file at most every ``GRIDFLOW_CALENDAR_RELOAD_SECONDS``. When its size or modification
time changed, it loads the whole site directory again, so the new schedule passes the
same validation as at start (a notice against the statutory holidays, the site's own
days against it). Then the processor counts on the new calendar:

- the router, for the due times of the assignments it makes from then on;
- the escalator, for the deadlines it arms, and to count its provisional deadlines
  again (:mod:`escalator.reschedule`), each announced once as ``deadline.rescheduled``.

A file that does not load is logged (with the reason) and counted in
``gridflow_calendar_reloads_total{outcome="refused"}``, and the calendar in use stays
as it is until the file is fixed. Only the calendar is taken up: other changes to the
site need a restart. The bundled notices and the ``chinese_calendar`` package change
with a release, which restarts the processes anyway.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client import Counter

from escalator.calendar import WorkingCalendar
from escalator.clocks import site_calendar
from schemas.calendar import SITE_CALENDAR_FILE
from schemas.catalogue import CatalogueError, Site, load_site

log = logging.getLogger(__name__)

RELOADS = Counter(
    "gridflow_calendar_reloads_total",
    "Changes to the site's calendar.yaml seen while running, by outcome: taken up, or "
    "refused (the file did not load; the calendar in use stays).",
    ["outcome"],
    registry=None,  # services.metrics.Metrics registers it on each process's registry
)


class SiteCalendarWatch:
    """The site's calendar, again, whenever its ``calendar.yaml`` changed.

    :meth:`changed` is cheap enough to call every batch and every tick: it does
    nothing until ``period`` seconds passed since its last look, then one ``stat``.
    """

    def __init__(
        self,
        site: Site,
        directory: Path,
        period: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._site_id = site.id
        self._directory = Path(directory)
        self._period = period
        self._monotonic = monotonic
        self._looked = monotonic()
        self._seen = self._stamp()

    def _stamp(self) -> tuple[int, int] | None:
        try:
            st = (self._directory / SITE_CALENDAR_FILE).stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def changed(self) -> WorkingCalendar | None:
        """The calendar counted from the file as it is now, when it changed since the
        last look and loads; else None."""
        now = self._monotonic()
        if now - self._looked < self._period:
            return None
        self._looked = now
        stamp = self._stamp()
        if stamp == self._seen:
            return None
        self._seen = stamp
        try:
            site = load_site(self._directory)
            if site.id != self._site_id:
                raise CatalogueError(f"the directory now holds site {site.id}, not {self._site_id}")
        except (ValueError, OSError) as exc:  # CatalogueError, CalendarError, unreadable
            RELOADS.labels("refused").inc()
            log.error(
                "calendar change refused: the calendar in use stays",
                extra={"file": str(self._directory / SITE_CALENDAR_FILE), "reason": str(exc)},
            )
            return None
        RELOADS.labels("taken").inc()
        years = sorted(site.calendar.years) if site.calendar is not None else []
        log.info("calendar change taken up", extra={"site_years": years})
        return site_calendar(site)
