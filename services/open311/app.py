"""The GeoReport v2 routes (FastAPI), JSON and XML, and errors as the specification has them.

Paths end with the format, ``.json`` or ``.xml``. Errors are the specification's
list, ``[{"code": 400, "description": ...}]`` or ``<errors><error>``: 400 for a
missing or invalid parameter (every field the validation refused, each its own
error), 403 for a missing or unknown ``api_key``, 404 for an unknown jurisdiction,
service, request, token or path. 503 says the broker did not acknowledge a POST: it
was not accepted, and the client may send it again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import FastAPI, Form, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import Response

from intake.core import case_id_for, to_case
from intake.formats import renamed, to_raw
from schemas.codec import field_errors
from schemas.deadletter import Rejected
from schemas.formats import REQUEST_TYPES_ZH, URGENCIES_ZH, Open311Request
from schemas.reports import RequestType, Urgency
from services.open311.gateway import (
    Gateway,
    Jurisdiction,
    Unavailable,
    case_of_token,
    find_requests,
    token_for,
)
from services.open311.render import Format, answer, errors, format_of

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
ATTRIBUTES = ("request_type", "urgency")
MAX_IDEMPOTENCY_KEY = 255
"""Longest ``Idempotency-Key`` a client may name a POST with (a UUID is 36)."""


class Refusal(Exception):
    """An answer in the specification's error list."""

    def __init__(self, status: int, *descriptions: str) -> None:
        super().__init__(descriptions[0] if descriptions else str(status))
        self.status = status
        self.descriptions = list(descriptions)


FmtPath = Annotated[Format, Path(description="json or xml")]
JurisdictionQuery = Annotated[
    str | None,
    Query(description="The site; required when the endpoint serves several."),
]


def _jurisdiction(gateway: Gateway, jurisdiction_id: str | None) -> Jurisdiction:
    if jurisdiction_id in (None, ""):
        if len(gateway.jurisdictions) == 1:
            return next(iter(gateway.jurisdictions.values()))
        raise Refusal(
            400,
            "jurisdiction_id is required: this endpoint serves "
            + ", ".join(sorted(gateway.jurisdictions)),
        )
    found = gateway.jurisdictions.get(jurisdiction_id)  # type: ignore[arg-type]
    if found is None:
        raise Refusal(404, f"jurisdiction_id {jurisdiction_id!r} not found")
    return found


def _service(j: Jurisdiction, code: str) -> dict[str, Any]:
    category = j.service(code)
    assert category is not None
    return {
        "service_code": category.code,
        "service_name": category.name_zh,
        "description": category.name,
        "metadata": True,
        "type": "realtime",
        "keywords": category.code.replace(".", ",").replace("_", " "),
        "group": category.group,
    }


def _definition(code: str) -> dict[str, Any]:
    request_types = [{"key": str(t), "name": f"{zh} {t}"} for zh, t in REQUEST_TYPES_ZH.items()]
    urgencies = [{"key": str(u), "name": str(u)} for u in Urgency]
    return {
        "service_code": code,
        "attributes": [
            {
                "variable": True,
                "code": "request_type",
                "datatype": "singlevaluelist",
                "required": False,
                "datatype_description": "What the resident asks for (诉求类型).",
                "order": 1,
                "description": "Request type: it selects the deadline (咨询 a working day, ...).",
                "values": request_types,
            },
            {
                "variable": True,
                "code": "urgency",
                "datatype": "singlevaluelist",
                "required": False,
                "datatype_description": "normal, or urgent (紧急: hours, not days).",
                "order": 2,
                "description": "Urgency: an urgent request gets the site's urgent deadline.",
                "values": urgencies,
            },
        ],
    }


def _attributes(form: list[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    unknown: list[str] = []
    for name, value in form:
        if name.startswith("attribute[") and name.endswith("]"):
            code = name[len("attribute[") : -1]
            if code in ATTRIBUTES:
                out[code] = value
            else:
                unknown.append(name)
    if unknown:
        raise Refusal(
            400,
            *(
                f"{n}: not an attribute of this service (known: request_type, urgency)"
                for n in unknown
            ),
        )
    return out


def _check_attributes(attributes: dict[str, str]) -> None:
    problems = []
    vocabularies = {
        "request_type": (REQUEST_TYPES_ZH, {str(t) for t in RequestType}),
        "urgency": (URGENCIES_ZH, {str(u) for u in Urgency}),
    }
    for code, value in attributes.items():
        words, known = vocabularies[code]
        if value.strip() not in words and value.strip().lower() not in known:
            problems.append(f"attribute[{code}]: must be one of {', '.join(sorted(known))}")
    if problems:
        raise Refusal(400, *problems)


def create_app(gateway: Gateway) -> FastAPI:
    """The gateway's FastAPI app; its OpenAPI document is ``/openapi.json``."""
    app = FastAPI(
        title="gridflow Open311 GeoReport v2",
        version="2",
        description="Residents' service requests in, as reports of a channel of a site; "
        "their status from the archive. " + SPECIFICATION,
    )

    @app.exception_handler(Refusal)
    async def _refused(request: Request, exc: Refusal) -> Response:
        return errors(format_of(request.url.path), exc.status, exc.descriptions)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        found = []
        for e in exc.errors():
            loc = ".".join(str(p) for p in e.get("loc", ())[1:]) or "request"
            found.append(f"{loc}: {e.get('msg', 'invalid')}")
        path = request.url.path
        status = 404 if any(e.get("loc", ("",))[0] == "path" for e in exc.errors()) else 400
        return errors(format_of(path), status, found)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        # an unknown path is 404, a method a path does not take 405: both in the error list
        return errors(format_of(request.url.path), exc.status_code, [str(exc.detail)])

    @app.get("/discovery.{fmt}", summary="Service discovery")
    def discovery(fmt: FmtPath) -> Response:
        body = {
            "changeset": gateway.started_at,
            "contact": gateway.contact,
            "key_service": "Ask the operator of this endpoint for an api_key.",
            "endpoints": [
                {
                    "specification": SPECIFICATION,
                    "url": gateway.base_url,
                    "changeset": gateway.started_at,
                    "type": "production",
                    "formats": ["application/json", "text/xml"],
                }
            ],
        }
        return answer(fmt, "discovery", None, body)

    @app.get("/services.{fmt}", summary="The services: the site's categories")
    def services(fmt: FmtPath, jurisdiction_id: JurisdictionQuery = None) -> Response:
        j = _jurisdiction(gateway, jurisdiction_id)
        body = [_service(j, c.code) for c in j.site.categories]
        return answer(fmt, "services", "service", body)

    @app.get("/services/{service_code}.{fmt}", summary="A service's definition")
    def service_definition(
        service_code: str, fmt: FmtPath, jurisdiction_id: JurisdictionQuery = None
    ) -> Response:
        j = _jurisdiction(gateway, jurisdiction_id)
        if j.service(service_code) is None:
            raise Refusal(404, f"service_code {service_code!r} not found in {j.id}")
        return answer(fmt, "service_definition", None, _definition(service_code))

    @app.post("/requests.{fmt}", summary="Report a problem (a service request)")
    async def post_request(
        request: Request,
        fmt: FmtPath,
        api_key: Annotated[str | None, Form()] = None,
        jurisdiction_id: Annotated[str | None, Form()] = None,
        service_code: Annotated[str | None, Form()] = None,
        lat: Annotated[str | None, Form()] = None,
        long: Annotated[str | None, Form()] = None,
        address_string: Annotated[str | None, Form()] = None,
        address_id: Annotated[str | None, Form()] = None,
        email: Annotated[str | None, Form()] = None,
        device_id: Annotated[str | None, Form()] = None,
        account_id: Annotated[str | None, Form()] = None,
        first_name: Annotated[str | None, Form()] = None,
        last_name: Annotated[str | None, Form()] = None,
        phone: Annotated[str | None, Form()] = None,
        description: Annotated[str | None, Form()] = None,
        media_url: Annotated[str | None, Form()] = None,
        attribute_request_type: Annotated[str | None, Form(alias="attribute[request_type]")] = None,
        attribute_urgency: Annotated[str | None, Form(alias="attribute[urgency]")] = None,
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                description="the same on each attempt of one request: a retry after a "
                "lost answer gets the same token and case, not a second case",
            ),
        ] = None,
    ) -> Response:
        form = [(k, v) for k, v in (await request.form()).multi_items() if isinstance(v, str)]
        received_at = gateway.clock()
        j = _jurisdiction(gateway, jurisdiction_id)
        sender = gateway.sender_for(api_key, j)
        if sender is None or sender.channel is None:
            raise Refusal(403, "api_key is missing or not valid")
        attributes = _attributes(form)
        if service_code in (None, ""):
            raise Refusal(400, "service_code: is required")
        if j.service(service_code) is None:
            raise Refusal(400, f"service_code: {service_code!r} is no service of {j.id}")
        _check_attributes(attributes)
        if lat in (None, "") or long in (None, ""):
            raise Refusal(
                400,
                "lat and long: are required, gridflow places a request by its point "
                "(an address_string alone cannot be placed)",
            )
        if idempotency_key is not None:
            if not 0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY:
                raise Refusal(
                    400, f"Idempotency-Key: must be 1 to {MAX_IDEMPOTENCY_KEY} characters"
                )
            _printable("Idempotency-Key", idempotency_key)
        token = token_for(sender.id, urlencode(form).encode(), received_at, idempotency_key)
        fields: dict[str, Any] = {
            "format": Open311Request.FORMAT,
            "token": token,
            "requested_datetime": received_at,
            "jurisdiction_id": j.id,
            "service_code": service_code,
            "lat": _number(lat, "lat"),
            "long": _number(long, "long"),
            "address_string": address_string,
            "address_id": address_id,
            "email": email,
            "device_id": device_id,
            "account_id": account_id,
            "first_name": first_name,
            "last_name": last_name,
            "phone": phone,
            "description": description,
            "media_url": media_url,
            "attributes": attributes,
        }
        fields = {k: v for k, v in fields.items() if v not in (None, "")}
        try:
            message = Open311Request.model_validate(fields)
        except ValidationError as exc:
            raise Refusal(400, *(f"{e.loc}: {e.msg}" for e in field_errors(exc))) from None
        try:
            to_case(to_raw(message, sender.channel), j.site, received_at)
        except Rejected as refused:
            named = renamed(refused, message)
            raise Refusal(400, *(f"{e.loc}: {e.msg}" for e in named.errors or [named])) from None
        value = message.model_dump_json(exclude_none=True).encode()
        key = f"{sender.channel}:{token}".encode()
        try:
            await run_in_threadpool(gateway.publisher.publish, j.topic_of(sender), key, value)
        except Unavailable as exc:
            return errors(fmt, 503, [f"not accepted, send it again: {exc}"])
        answer_body = [
            {
                "service_request_id": case_id_for(sender.channel, token),
                "token": token,
                "service_notice": "Accepted; the case number is the service_request_id.",
                "account_id": account_id,
            }
        ]
        return answer(fmt, "service_requests", "request", answer_body)

    @app.get("/tokens/{token_id}.{fmt}", summary="The request a token became")
    def token(token_id: str, fmt: FmtPath, jurisdiction_id: JurisdictionQuery = None) -> Response:
        j = _jurisdiction(gateway, jurisdiction_id)
        case_id = case_of_token(j, token_id)
        if case_id is None:
            raise Refusal(404, f"token {token_id!r} not found (or not yet processed)")
        body = [{"service_request_id": case_id, "token": token_id}]
        return answer(fmt, "service_requests", "request", body)

    @app.get("/requests.{fmt}", summary="Service requests and their status")
    def requests(
        fmt: FmtPath,
        jurisdiction_id: JurisdictionQuery = None,
        service_request_id: str | None = None,
        service_code: str | None = None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        status: str | None = None,
    ) -> Response:
        j = _jurisdiction(gateway, jurisdiction_id)
        statuses = _list(status)
        if bad := [s for s in statuses if s not in ("open", "closed")]:
            raise Refusal(400, *(f"status: {s!r} is neither open nor closed" for s in bad))
        for name, moment in (("start_date", start_date), ("end_date", end_date)):
            if moment is not None and moment.tzinfo is None:
                raise Refusal(400, f"{name}: must carry a UTC offset (e.g. 2026-09-21T00:00:00Z)")
        if start_date and end_date and start_date > end_date:
            raise Refusal(400, "start_date: is after end_date")
        if start_date is None and end_date is None and not service_request_id:
            end_date = gateway.clock()
        rows = find_requests(
            j,
            ids=_list(service_request_id, "service_request_id"),
            codes=_list(service_code, "service_code"),
            statuses=statuses,
            start=start_date,
            end=end_date,
        )
        return answer(fmt, "service_requests", "request", rows)

    @app.get("/requests/{service_request_id}.{fmt}", summary="One service request")
    def one_request(
        service_request_id: str, fmt: FmtPath, jurisdiction_id: JurisdictionQuery = None
    ) -> Response:
        j = _jurisdiction(gateway, jurisdiction_id)
        rows = find_requests(j, ids=[_printable("service_request_id", service_request_id)])
        if not rows:
            raise Refusal(404, f"service_request_id {service_request_id!r} not found")
        return answer(fmt, "service_requests", "request", rows)

    @app.middleware("http")
    async def _bounded(request: Request, call_next: Any) -> Response:
        """A body over the limit is refused by its size, before it is read or parsed."""
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > gateway.max_bytes):
            return errors(
                format_of(request.url.path),
                400,
                [f"the request body is over the limit of {gateway.max_bytes} bytes"],
            )
        return await call_next(request)

    return app


def _list(value: str | None, name: str = "value") -> list[str]:
    return [_printable(name, v.strip()) for v in (value or "").split(",") if v.strip()]


def _printable(name: str, value: str) -> str:
    """``value``, refused (400) when it holds a control character: no id or code of
    gridflow holds one, and the database would refuse it (a NUL) with a server error."""
    if any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in value):
        raise Refusal(400, f"{name}: must not contain control characters")
    return value


def _number(value: str | None, name: str) -> float | None:
    if value is None or value.strip() == "":
        return None
    try:
        number = float(value)
    except ValueError:
        raise Refusal(400, f"{name}: must be a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise Refusal(400, f"{name}: must be a finite number")
    return number
