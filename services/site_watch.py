"""A changed catalogue, taken up while the processes run (issue 9, point 3).

The router and intake each hold a :class:`SiteWatch` on the directory their site
was loaded from. At most every ``GRIDFLOW_SITE_RELOAD_SECONDS`` it looks at the
site's files (one ``stat`` each: :data:`WATCHED`); when any changed, it loads the
whole directory again, through the same validation as at start. The processor
asks between batches (:class:`schemas.catalogue.SiteSource`), never inside one,
so a batch is routed on one catalogue, and every assignment names its version.

Three outcomes, each logged and counted in ``gridflow_site_reloads_total``:

- ``taken``: the new catalogue is in force from the next batch on.
- ``refused``: it did not load (unknown parent, duplicate code, a category no unit
  owns...); the reason is logged, and the catalogue in use stays until the files
  are fixed.
- ``waiting``: it loads, but needs topics or ACLs the one in use did not (a new
  unit, a new sender). Those are provisioned by ``gridflow site reload``, run as
  the admin (:mod:`services.cli_site`), which then writes :data:`RELOAD_MARKER`
  naming the version it provisioned. The watch takes the catalogue up once the
  marker names its version, so no case is sent to a topic that does not exist yet
  (or that a broker's auto-creation made with the wrong configuration), and no
  processor needs the admin's rights.

Every process of a multi-process deployment reads the same site directory (a
shared volume, or the same files rolled out to each host); the marker travels
with it, so one ``gridflow site reload`` reaches every router and intake, each
within its period.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path

from prometheus_client import Counter, Gauge

from schemas.calendar import SITE_CALENDAR_FILE
from schemas.catalogue import CatalogueError, Site, load_site
from schemas.geo import BOUNDARIES_FILE

log = logging.getLogger(__name__)

RELOAD_MARKER = "reload.json"
"""Written by ``gridflow site reload`` in the site directory: the version it checked
and provisioned. Not to be edited by hand."""

WATCHED = (
    "site.yaml",
    "jurisdictions.yaml",
    "units.yaml",
    "categories.yaml",
    "senders.yaml",
    SITE_CALENDAR_FILE,
    BOUNDARIES_FILE,
    RELOAD_MARKER,
)
"""The files whose change makes the watch load the site again."""

RELOADS = Counter(
    "gridflow_site_reloads",
    "Changes to the site catalogue seen while running, by processor and outcome: taken "
    "up; refused (it did not load, the catalogue in use stays); waiting (it needs "
    "topics or ACLs: gridflow site reload provisions them).",
    ["processor", "outcome"],
    registry=None,  # services.metrics.Metrics registers it on each process's registry
)
CATALOGUE = Gauge(
    "gridflow_site_catalogue",
    "Always 1; the labels name the catalogue version a processor routes by.",
    ["processor", "version"],
    registry=None,
)


def provisioning(old: Site, new: Site) -> list[str]:
    """What ``new`` needs on the broker that ``old`` did not: topics and ACL grants,
    each as a line of text. Empty: ``new`` can be taken up as it is."""
    from schemas.access import grants
    from services.processors import PROCESSORS
    from services.topics import site_topics

    topics = {t.name for t in site_topics(old)}
    granted = set(grants(old, PROCESSORS))
    return [
        *(f"topic {t.name}" for t in site_topics(new) if t.name not in topics),
        *(
            f"acl {g.principal} {g.operation} {g.resource} {g.name}"
            for g in sorted(set(grants(new, PROCESSORS)) - granted, key=str)
        ),
    ]


def marked_version(directory: Path) -> str | None:
    """The version ``gridflow site reload`` provisioned last in ``directory``, if any."""
    try:
        data = json.loads((directory / RELOAD_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    version = data.get("version") if isinstance(data, dict) else None
    return version if isinstance(version, str) else None


def write_marker(directory: Path, site: Site, at: datetime, provisioned: Iterable[str]) -> Path:
    """Record that ``site``'s version is checked and provisioned: the watches take it up.

    Written to a temporary file and renamed, so a watch never reads half of it."""
    path = directory / RELOAD_MARKER
    body = {
        "site": site.id,
        "version": site.version,
        "at": at.isoformat(),
        "provisioned": sorted(provisioned),
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(body, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


class SiteWatch:
    """The site's catalogue, again, whenever its files changed and it loads.

    :meth:`changed` is cheap enough to call every batch: it does nothing until
    ``period`` seconds passed since its last look, then a ``stat`` per file.
    """

    def __init__(
        self,
        site: Site,
        directory: Path,
        period: float,
        processor: str,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._site = site
        self._directory = Path(directory)
        self._period = period
        self._processor = processor
        self._monotonic = monotonic
        self._looked = monotonic()
        self._seen = self._stamp()
        CATALOGUE.labels(processor, site.version).set(1)

    @property
    def site(self) -> Site:
        """The catalogue in force."""
        return self._site

    def _stamp(self) -> tuple[tuple[int, int] | None, ...]:
        out: list[tuple[int, int] | None] = []
        for name in WATCHED:
            try:
                st = (self._directory / name).stat()
            except FileNotFoundError:
                out.append(None)
            else:
                out.append((st.st_mtime_ns, st.st_size))
        return tuple(out)

    def changed(self) -> Site | None:
        """The catalogue as the files say now, when they changed since the last look,
        it loads, and what it needs is provisioned; else None."""
        now = self._monotonic()
        if now - self._looked < self._period:
            return None
        self._looked = now
        stamp = self._stamp()
        if stamp == self._seen:
            return None
        self._seen = stamp
        return self._load()

    def _load(self) -> Site | None:
        old = self._site
        try:
            new = load_site(self._directory)
            if new.id != old.id:
                raise CatalogueError(f"the directory now holds site {new.id}, not {old.id}")
        except (ValueError, OSError) as exc:  # CatalogueError, an unreadable file
            self._count("refused")
            log.error(
                "site change refused: the catalogue in use stays",
                extra=self._fields(old) | {"directory": str(self._directory), "reason": str(exc)},
            )
            return None
        if new.version == old.version:
            return None  # touched, not changed (or the marker of the version in use)
        needs = provisioning(old, new)
        if needs and marked_version(self._directory) != new.version:
            self._count("waiting")
            log.warning(
                "site change waits for gridflow site reload: it needs topics or ACLs",
                extra=self._fields(old)
                | {"new_version": new.version, "needs": needs[:20], "needs_count": len(needs)},
            )
            return None
        self._count("taken")
        CATALOGUE.remove(self._processor, old.version)
        CATALOGUE.labels(self._processor, new.version).set(1)
        self._site = new
        log.info(
            "site change taken up",
            extra=self._fields(old) | {"new_version": new.version, "units": len(new.units)},
        )
        return new

    def _count(self, outcome: str) -> None:
        RELOADS.labels(self._processor, outcome).inc()

    def _fields(self, site: Site) -> dict[str, object]:
        return {"processor": self._processor, "site": site.id, "version": site.version}
