"""The report formats channels may send besides the native one, each as its channel has it.

A channel's report topic (``gridflow.reports.<channel sender>``) carries any of these;
the ``format`` field says which (a report without one is the native
:class:`schemas.reports.RawReport`). Intake maps each to the native report
(:mod:`intake.formats`) and from there every format shares one validation path.
The mapping of every field, and which fields are assumptions, is docs/FORMATS.md.

- :class:`WorkOrder12345`: a 12345 hotline work order (工单),
  ``format: "hotline_12345.work_order"``;
- :class:`GridAppReport`: a grid worker's app report (网格员上报), ``format: "grid_app.report"``;
- :class:`Open311Request`: an Open311 GeoReport v2 service request, ``format: "open311.request"``,
  as the HTTP gateway (:mod:`services.open311`) produces it from the POST's form.

Like the native report, their text may hold control characters: intake removes them
from free text and refuses ids and URLs holding one. No field here is logged.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

from schemas.edges import (
    Flag,
    Latitude,
    Longitude,
    RawAddress,
    RawCode,
    RawDescription,
    RawExternalId,
    RawPersonName,
    RawPhone,
    RawTitle,
    RawUrl,
    Time,
)
from schemas.envelope import Model
from schemas.reports import REQUEST_TYPE_DESCRIPTION, RawReport, RequestType, Urgency

REQUEST_TYPES_ZH: dict[str, RequestType] = {
    "咨询": RequestType.ENQUIRY,
    "求助": RequestType.HELP,
    "投诉": RequestType.COMPLAINT,
    "举报": RequestType.REPORT,
    "建议": RequestType.SUGGESTION,
}
"""The hotline's own words for the request types (诉求类型)."""

URGENCIES_ZH: dict[str, Urgency] = {
    "一般": Urgency.NORMAL,
    "普通": Urgency.NORMAL,
    "紧急": Urgency.URGENT,
    "加急": Urgency.URGENT,
    "特急": Urgency.URGENT,
}
"""The hotline's words for urgency (紧急程度): 特急 and 加急 are as urgent as 紧急 here,
since the sites' deadline policies know two levels (an assumption, docs/FORMATS.md)."""


def _vocabulary(words: dict[str, Any], kind: str) -> Any:
    def read(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        word = value.strip()
        if word in words:
            return words[word]
        known = {str(v) for v in words.values()}
        if word.lower() in known:
            return word.lower()
        raise PydanticCustomError(
            kind,
            "must be one of {choices}",
            {"choices": ", ".join([*sorted(known), *words])},
        )

    return BeforeValidator(read)


HotlineRequestType = Annotated[
    RequestType,
    _vocabulary(REQUEST_TYPES_ZH, "request_type"),
    Field(json_schema_extra={"enum": [*(str(t) for t in RequestType), *REQUEST_TYPES_ZH]}),
]
HotlineUrgency = Annotated[
    Urgency,
    _vocabulary(URGENCIES_ZH, "urgency"),
    Field(json_schema_extra={"enum": [*(str(u) for u in Urgency), *URGENCIES_ZH]}),
]


class Callback(Model):
    """Where the hotline wants the answer (办理结果回复): its reply endpoint for this order."""

    url: RawUrl = Field(description="The hotline's endpoint for the answer (http or https).")
    reference: RawExternalId | None = Field(
        default=None, description="The hotline's own reference to quote in the answer."
    )


class WorkOrder12345(Model):
    """A 12345 hotline work order (工单), as the hotline's platform dispatches it.

    Modelled on how such orders are usually laid out (工单编号, 来电时间, 来电人, 联系电话,
    诉求内容, 诉求类型, 事项分类, 事发地址, 所属街道, 紧急程度, 回复): which fields are
    assumptions is docs/FORMATS.md. The hotline geocodes the address, or names the grid.
    """

    FORMAT: ClassVar[str] = "hotline_12345.work_order"

    format: Literal["hotline_12345.work_order"]
    order_no: RawExternalId = Field(description="工单编号: the order number; the idempotency key.")
    call_time: Time = Field(description="来电时间: when the resident called.")
    caller: RawPersonName | None = Field(default=None, description="来电人: the caller's name.")
    phone: RawPhone | None = Field(default=None, description="联系电话: the caller's phone.")
    confidential: Flag = Field(
        default=False,
        description="保密: the caller asked to stay anonymous; name and phone are not kept.",
    )
    content: RawDescription = Field(description="诉求内容: the request in the caller's words.")
    summary: RawTitle | None = Field(default=None, description="标题: the operator's summary.")
    request_type: HotlineRequestType = Field(description="诉求类型. " + REQUEST_TYPE_DESCRIPTION)
    category: RawCode = Field(description="事项分类: a category code of the site's catalogue.")
    address: RawAddress | None = Field(default=None, description="事发地址: where it happens.")
    street: RawAddress | None = Field(
        default=None, description="所属街道: the street (街道) the hotline assigned it to, by name."
    )
    grid_id: RawCode | None = Field(
        default=None, description="网格编码, when the hotline knows it."
    )
    lat: Latitude | None = Field(default=None, description="The geocoded address's latitude.")
    lon: Longitude | None = Field(default=None, description="The geocoded address's longitude.")
    urgency: HotlineUrgency = Field(default=Urgency.NORMAL, description="紧急程度.")
    attachments: list[RawUrl] = Field(default_factory=list, max_length=20)
    callback: Callback | None = Field(
        default=None, description="回复: where the hotline wants the answer for this order."
    )


class Point(Model):
    lat: Latitude
    lon: Longitude


class GridAppReport(Model):
    """What a grid worker (网格员) reports from the patrol app (巡查上报): always a point,
    usually photos, and the worker's own id."""

    FORMAT: ClassVar[str] = "grid_app.report"

    format: Literal["grid_app.report"]
    report_id: RawExternalId = Field(description="The app's id of this report.")
    worker_id: RawCode = Field(description="The reporting grid worker's id (网格员编号).")
    found_at: Time = Field(description="When the worker found it (发现时间).")
    point: Point = Field(description="Where the worker stood, from the phone's GPS (WGS84).")
    grid_id: RawCode | None = Field(
        default=None, description="The worker's grid, when the app names it; else the point's."
    )
    category: RawCode = Field(description="A category code of the site's catalogue.")
    description: RawDescription
    title: RawTitle | None = None
    urgency: Urgency = Urgency.NORMAL
    photos: list[RawUrl] = Field(default_factory=list, max_length=9, description="Photo links.")
    address: RawAddress | None = Field(
        default=None, description="The app's reverse-geocoded address."
    )


class Open311Attributes(Model):
    """The attributes every service defines (``GET services/{code}``): the deadline's
    selectors, in English or Chinese words."""

    request_type: RawCode | None = Field(default=None, description=REQUEST_TYPE_DESCRIPTION)
    urgency: RawCode | None = Field(default=None, description="normal, or urgent (紧急).")


class Open311Request(Model):
    """An Open311 GeoReport v2 service request (``POST requests``), its form fields as
    the specification names them, plus the gateway's token and receipt time."""

    FORMAT: ClassVar[str] = "open311.request"

    format: Literal["open311.request"]
    token: RawExternalId = Field(description="The gateway's token for this request.")
    requested_datetime: Time = Field(description="When the gateway received the request.")
    jurisdiction_id: RawCode | None = None
    service_code: RawCode = Field(description="The service: a category code of the site.")
    lat: Latitude | None = None
    long: Longitude | None = None
    address_string: RawAddress | None = None
    address_id: RawCode | None = None
    email: RawAddress | None = None
    device_id: RawCode | None = None
    account_id: RawCode | None = None
    first_name: RawPersonName | None = None
    last_name: RawPersonName | None = None
    phone: RawPhone | None = None
    description: RawDescription | None = None
    media_url: RawUrl | None = None
    attributes: Open311Attributes = Field(
        default_factory=Open311Attributes,
        description="The attribute[code]=value pairs of the service definition.",
    )


FORMATS: tuple[type[Model], ...] = (WorkOrder12345, GridAppReport, Open311Request)
"""Every non-native format, in the order the docs list them."""

REPORT_FORMATS: tuple[type[Model], ...] = (RawReport, *FORMATS)
"""What a report topic carries: the native report and every other format."""
