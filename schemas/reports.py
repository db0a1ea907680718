"""What channels send (the raw report) and what intake makes of it (the case).

``RawReport`` is the native JSON shape an upstream channel (the 12345 hotline,
the grid worker's app, the web form, an Open311 gateway) produces to its own topic,
``gridflow.reports.<channel sender>``. Its JSON Schema is generated into
``schemas/json/`` so channels written in any language can validate before they send.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from schemas.edges import (
    Address,
    CaseId,
    CategoryCode,
    Description,
    ExternalId,
    Flag,
    Latitude,
    Longitude,
    MessageType,
    PersonName,
    Phone,
    PlaceId,
    RawAddress,
    RawCode,
    RawDescription,
    RawExternalId,
    RawPersonName,
    RawPhone,
    RawTitle,
    RawUrl,
    Time,
    Title,
    Url,
)
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


class RequestType(StrEnum):
    """What the resident asks for (诉求类型), as the 12345 hotline classifies a work order.

    It is orthogonal to the category (what the matter is about): a complaint about
    garbage and an enquiry about garbage share a category. Sites may give each its own
    limit (``deadlines.overrides`` in ``site.yaml``). A channel that does not classify
    leaves it out, and no request-type limit applies.
    """

    ENQUIRY = "enquiry"  # 咨询
    HELP = "help"  # 求助
    COMPLAINT = "complaint"  # 投诉
    REPORT = "report"  # 举报
    SUGGESTION = "suggestion"  # 建议


REQUEST_TYPE_DESCRIPTION = (
    "What the resident asks for (诉求类型): enquiry 咨询, help 求助, complaint 投诉, report "
    "举报, suggestion 建议. None when the channel does not classify it."
)


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

    address: Address | None = None
    lat: Latitude | None = None
    lon: Longitude | None = None


class Reporter(Model):
    """Who reported it. Personal data: never log it, never put it in a metric."""

    name: PersonName | None = None
    phone: Phone | None = None
    anonymous: Flag = False


class RawLocation(Location):
    """A location as a channel sends it: intake removes control characters from the address."""

    address: RawAddress | None = None  # type: ignore[assignment]  # wider than Location's


class RawReporter(Reporter):
    """A reporter as a channel sends it: intake cleans the name and the phone."""

    name: RawPersonName | None = None  # type: ignore[assignment]  # wider than Reporter's
    phone: RawPhone | None = None  # type: ignore[assignment]


class RawSource(Model):
    """What the channel needs of its report later, none of it the resident's: who of its
    own reported it, and where it wants the answer (docs/FORMATS.md). Intake refuses
    ids and URLs here that hold control characters."""

    worker_id: RawExternalId | None = Field(
        default=None, description="The grid worker (网格员) who reported it from the app."
    )
    callback_url: RawUrl | None = Field(
        default=None, description="Where the channel wants the answer (the hotline's 回复)."
    )
    callback_reference: RawExternalId | None = Field(
        default=None, description="The channel's reference to quote in the answer."
    )


class Source(Model):
    """A case's source: the format its channel sent, and the channel's :class:`RawSource`."""

    format: MessageType = Field(description="The format the channel sent (docs/FORMATS.md).")
    worker_id: ExternalId | None = None
    callback_url: Url | None = None
    callback_reference: ExternalId | None = None


def _grid_or_point(schema: dict[str, Any]) -> None:
    """The JSON Schema says what :meth:`RawReport._placed` checks: a grid id, or a
    location with both coordinates (each branch bounded as the fields are)."""
    lat = {"type": "number", "minimum": -90, "maximum": 90}
    lon = {"type": "number", "minimum": -180, "maximum": 180}
    point = {"type": "object", "required": ["lat", "lon"], "properties": {"lat": lat, "lon": lon}}
    schema["anyOf"] = [
        {"required": ["grid_id"], "properties": {"grid_id": {"type": "string"}}},
        {"required": ["location"], "properties": {"location": point}},
    ]


class RawReport(Model):
    """A report as a channel sends it (the native gridflow JSON format).

    Its text may hold control characters: intake removes them from free text and
    refuses ids and URLs that hold one, naming the field (see :mod:`intake`).

    It names its grid, or gives a point (``location.lat`` and ``location.lon``) that
    intake places in a grid from the site's boundaries; with both, the grid is taken
    as named. Its JSON Schema states the same rule (``anyOf``).
    """

    model_config = Model.model_config | {"json_schema_extra": _grid_or_point}
    FORMAT: ClassVar[str] = "native"

    format: Literal["native"] = Field(
        default="native", description="Optional: a report without one is native."
    )
    channel: Channel
    external_id: RawExternalId = Field(
        description="The channel's own id for this report (e.g. the 12345 work-order number). "
        "It is the idempotency key: resending the same report never opens a second case.",
    )
    reported_at: Time = Field(description="When the resident or worker reported it.")
    category: RawCode = Field(description="A category code from the site's catalogue.")
    grid_id: RawCode | None = Field(
        default=None,
        description="The grid (网格) the problem is in. It may be left out when location "
        "gives lat and lon: intake then places the point in its grid.",
    )
    description: RawDescription
    title: RawTitle | None = None
    urgency: Urgency = Urgency.NORMAL
    request_type: RequestType | None = Field(default=None, description=REQUEST_TYPE_DESCRIPTION)
    location: RawLocation | None = None
    reporter: RawReporter | None = None
    attachments: list[RawUrl] = Field(default_factory=list, max_length=20)
    source: RawSource | None = None

    @model_validator(mode="after")
    def _placed(self) -> RawReport:
        """A grid id, or a point; refused as ``grid_id`` missing, as it was when it was
        always required (checked once the fields themselves are valid)."""
        point = self.location is not None and None not in (self.location.lat, self.location.lon)
        if self.grid_id is None and not point:
            missing = PydanticCustomError(
                "missing", "grid_id is required unless location gives both lat and lon"
            )
            error = InitErrorDetails(type=missing, loc=("grid_id",), input=None)
            raise ValidationError.from_exception_data(type(self).__name__, [error])
        return self


class PointPlacement(Model):
    """How intake placed a report that gave a point and no grid (``Case.placement``).

    Every grid whose closed polygon contains the point, smallest id first; the case's
    grid is the first. More than one: the point was on a boundary they share, and
    the smallest id won by rule, not by what the resident meant. None, and
    ``off_map``: the point lies in no grid; the case's ``grid_id`` is then the site's
    whole area (the smallest jurisdiction holding every grid) and the router puts it
    in that area's command room's dispatch queue (人工分拨).
    """

    grids: list[PlaceId] = Field(max_length=16)
    on_boundary: Flag = Field(description="The point lies on a boundary between grids.")
    off_map: Flag = Field(
        default=False, description="The point lies in no grid of the site: manual dispatch."
    )


class CaseFacts(Model):
    """What routing, deadlines and figures need of a case: ids, codes and times.

    No personal data and no free text: this is what travels on the shared case
    story (``case.assigned``), which every processor reads.
    """

    case_id: CaseId
    channel: Channel
    external_id: ExternalId
    reported_at: Time
    received_at: Time
    category: CategoryCode
    grid_id: PlaceId
    urgency: Urgency
    request_type: RequestType | None = Field(default=None, description=REQUEST_TYPE_DESCRIPTION)

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

    title: Title
    description: Description
    location: Location | None = None
    reporter: Reporter | None = None
    attachments: list[Url] = Field(default_factory=list, max_length=20)
    placement: PointPlacement | None = Field(
        default=None,
        description="Set when intake placed the case from its point; None when the "
        "channel named the grid.",
    )
    source: Source | None = Field(
        default=None, description="The channel's format, its worker and its callback."
    )
