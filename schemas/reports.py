"""What channels send (the raw report) and what intake makes of it (the case).

``RawReport`` is the native JSON shape an upstream channel (the 12345 hotline,
the grid worker's app, the web form, an Open311 gateway) produces to
``gridflow.reports.raw``. Its JSON Schema is generated into ``schemas/json/`` so
channels written in any language can validate before they send.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import AwareDatetime, Field

from schemas.envelope import Model


class Channel(StrEnum):
    """Where a report came from (发现上报 channels)."""

    HOTLINE_12345 = "hotline_12345"
    GRID_APP = "grid_app"
    WEB = "web"
    OPEN311 = "open311"
    MAYOR_MAILBOX = "mayor_mailbox"
    WINDOW = "window"


class Urgency(StrEnum):
    NORMAL = "normal"
    URGENT = "urgent"


class Tier(StrEnum):
    """The jurisdiction ladder, lowest first (网格 < 社区 < 街道 < 区 < 市)."""

    GRID = "grid"
    COMMUNITY = "community"
    STREET = "street"
    DISTRICT = "district"
    CITY = "city"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def parent(self) -> Tier | None:
        return _PARENTS[self]


_RANKS = {tier: rank for rank, tier in enumerate(Tier)}
_PARENTS = dict(zip(Tier, [*list(Tier)[1:], None], strict=True))


class Location(Model):
    """Where the problem is. ``address`` is personal data: never log it."""

    address: str | None = Field(default=None, max_length=500)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)


class Reporter(Model):
    """Who reported it. Personal data: never log it, never put it in a metric."""

    name: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=32)
    anonymous: bool = False


class RawReport(Model):
    """A report as a channel sends it (the native gridflow JSON format)."""

    channel: Channel
    external_id: str = Field(
        min_length=1,
        max_length=128,
        description="The channel's own id for this report (e.g. the 12345 work-order number). "
        "It is the idempotency key: resending the same report never opens a second case.",
    )
    reported_at: AwareDatetime = Field(description="When the resident or worker reported it.")
    category: str = Field(
        min_length=1, max_length=64, description="A category code from the site's catalogue."
    )
    grid_id: str = Field(
        min_length=1, max_length=64, description="The grid (网格) the problem is in."
    )
    description: str = Field(min_length=1, max_length=4000)
    title: str | None = Field(default=None, max_length=200)
    urgency: Urgency = Urgency.NORMAL
    location: Location | None = None
    reporter: Reporter | None = None
    attachments: list[str] = Field(default_factory=list, max_length=20)


class CaseFacts(Model):
    """What routing, deadlines and figures need of a case: ids, codes and times.

    No personal data and no free text: this is what travels on the shared case
    story (``case.assigned``), which every processor reads.
    """

    case_id: str
    channel: Channel
    external_id: str
    reported_at: AwareDatetime
    received_at: AwareDatetime
    category: str
    grid_id: str
    urgency: Urgency

    @classmethod
    def of(cls, case: CaseFacts) -> CaseFacts:
        """The facts of ``case`` alone (a full :class:`Case` is a CaseFacts too)."""
        if type(case) is cls:
            return case
        return cls.model_construct(**{name: getattr(case, name) for name in cls.model_fields})


class Case(CaseFacts):
    """An accepted, normalised report: the facts plus what the resident said.

    The reporter, the location and the free text are personal data or may quote
    it: the full case goes only to the holding unit's topic and to the archive.
    """

    title: str
    description: str
    location: Location | None = None
    reporter: Reporter | None = None
    attachments: list[str] = Field(default_factory=list)
