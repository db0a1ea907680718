"""The query HTTP API: ``create_app(settings)``, one APIRouter per area.

Areas: ``/cases`` (a case and its whole history, by case id or by the channel's
work-order number), ``/units`` (a unit's open and overdue cases), ``/queue`` (the
dispatch queue), ``/kpi`` (the figures of archive/kpi.py over the cases the sender
may see). Every route needs a
bearer token (services/api/auth.py) and shows only what its sender may see; the
OpenAPI document is at ``/openapi.json``. Another area mounts with
``app.include_router(...)`` in :func:`create_app`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import MISSING, asdict, fields
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, create_model
from sqlalchemy import Connection, Engine

from archive.kpi import By, Condition, Figures, OneOf, Period
from archive.projection import CaseRow
from archive.sql import kpi_figures
from schemas.catalogue import SenderRole, Site, load_site
from services.api import queries
from services.api.auth import OPERATIONS, Tokens, Viewer
from services.settings import Settings
from storage.db import make_engine

# --- the response models ----------------------------------------------------------

KPI_FIELDS = list(Figures("", "").as_dict())
CaseSummary: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "CaseSummary",
    __doc__="One case as the archive projects it (archive_cases): ids, codes, times, "
    "counters; never personal data.",
    **{f.name: (Any, ... if f.default is MISSING else f.default) for f in fields(CaseRow)},
)


class HistoryEvent(BaseModel):
    event_id: str
    type: str
    occurred_at: datetime
    producer: str
    causation_id: str | None
    payload: Any = Field(description="The event's payload; personal fields blank unless allowed.")


class CaseDetail(BaseModel):
    case: CaseSummary  # type: ignore[valid-type]
    history: list[HistoryEvent]
    personal_data: bool = Field(description="Whether personal fields are shown.")


class CaseList(BaseModel):
    cases: list[CaseSummary]  # type: ignore[valid-type]
    count: int


class Problem(BaseModel):
    detail: str


REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No token, or a token not configured."},
    403: {"model": Problem, "description": "The token's sender may not see this."},
    404: {"model": Problem, "description": "No such case among those the sender may see."},
}

# --- dependencies -----------------------------------------------------------------

_bearer = HTTPBearer(auto_error=False)


def viewer(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Viewer:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(401, "a bearer token is required", {"WWW-Authenticate": "Bearer"})
    found = request.app.state.tokens.viewer(credentials.credentials)
    if found is None:
        raise HTTPException(401, "the token is not configured", {"WWW-Authenticate": "Bearer"})
    return found


def connection(request: Request) -> Iterator[Connection]:
    engine: Engine = request.app.state.engine
    with engine.connect() as conn:
        yield conn


def site(request: Request) -> Site:
    return request.app.state.site


Who = Annotated[Viewer, Depends(viewer)]
Conn = Annotated[Connection, Depends(connection)]
OfSite = Annotated[Site, Depends(site)]


def summary(row: CaseRow) -> dict[str, Any]:
    return asdict(row)


def _visible(who: Viewer, the_site: Site, row: CaseRow) -> bool:
    return who.may_see(the_site, row.unit_id, row.grid_id, row.channel)


def scope(who: Viewer, the_site: Site) -> Condition | None:
    """:meth:`Viewer.may_see` as a condition on case rows, for queries that count in
    SQL (the KPIs): the unit it is, the channel it speaks for, or the places within its
    jurisdiction; None for operations, which sees everything."""
    if who.role == OPERATIONS:
        return None
    if who.role == SenderRole.UNIT:
        return OneOf("unit_id", frozenset({who.id}))
    if who.role == SenderRole.CHANNEL:
        return OneOf("channel", frozenset({who.channel} if who.channel else ()))
    area = who.jurisdiction
    places = (j.id for j in the_site.jurisdictions)
    return OneOf("grid_id", frozenset(p for p in places if area and the_site.within(p, area)))


# --- /cases -----------------------------------------------------------------------

cases = APIRouter(prefix="/cases", tags=["cases"], responses=REFUSALS)


TEXT = r"^[^\x00-\x1f\x7f]+$"
"""Ids and numbers in paths and queries: printable text (no NUL, no control character)."""
CaseId = Annotated[str, Path(min_length=1, max_length=64, pattern=TEXT)]
UnitPath = Annotated[str, Path(min_length=1, max_length=160, pattern=TEXT)]


@cases.get("/{case_id}", response_model=CaseDetail, summary="A case and its whole history")
def get_case(case_id: CaseId, who: Who, conn: Conn, the_site: OfSite) -> dict[str, Any]:
    row = queries.case_row(conn, case_id)
    if row is None or not _visible(who, the_site, row):
        raise HTTPException(404, f"no case {case_id} among the cases {who.id} may see")
    events = queries.history(conn, case_id)
    personal = who.sees_personal_data
    return {
        "case": summary(row),
        "history": [
            {
                "event_id": e.event_id,
                "type": e.type,
                "occurred_at": e.occurred_at,
                "producer": e.producer,
                "causation_id": e.causation_id,
                "payload": e.payload if personal else queries.redacted(e.payload),
            }
            for e in events
        ],
        "personal_data": personal,
    }


@cases.get("", response_model=CaseList, summary="Cases by the channel's work-order number")
def find_cases(
    who: Who,
    conn: Conn,
    the_site: OfSite,
    external_id: Annotated[str, Query(min_length=1, max_length=128, pattern=TEXT)],
    channel: Annotated[str | None, Query(max_length=32, pattern=TEXT)] = None,
) -> dict[str, Any]:
    rows = queries.cases_by_external_id(conn, external_id, channel)
    found = [summary(r) for r in rows if _visible(who, the_site, r)]
    return {"cases": found, "count": len(found)}


# --- /units -----------------------------------------------------------------------

units = APIRouter(prefix="/units", tags=["units"], responses=REFUSALS)


@units.get("/{unit_id}/cases", response_model=CaseList, summary="A unit's open or overdue cases")
def unit_cases(
    unit_id: UnitPath,
    who: Who,
    conn: Conn,
    the_site: OfSite,
    overdue: Annotated[bool, Query(description="Only those past their due time now.")] = False,
) -> dict[str, Any]:
    if the_site.unit(unit_id) is None:
        raise HTTPException(404, f"{unit_id!r} is not a unit of site {the_site.id}")
    if not who.may_see_unit(the_site, unit_id):
        raise HTTPException(
            403, f"{who.id} may not see {unit_id}'s cases: a unit sees its own only"
        )
    at = datetime.now(UTC) if overdue else None
    rows = queries.open_cases(conn, unit_id, at)
    return {"cases": [summary(r) for r in rows], "count": len(rows)}


# --- /queue -----------------------------------------------------------------------

queue = APIRouter(prefix="/queue", tags=["queue"], responses=REFUSALS)


@queue.get("", response_model=CaseList, summary="The dispatch queue (人工分拨)")
def dispatch_queue(who: Who, conn: Conn, the_site: OfSite) -> dict[str, Any]:
    if not who.is_room:
        raise HTTPException(403, f"{who.id} may not see the dispatch queue: command rooms only")
    rows = [r for r in queries.dispatch_queue(conn) if _visible(who, the_site, r)]
    return {"cases": [summary(r) for r in rows], "count": len(rows)}


# --- /kpi ------------------------------------------------------------------------

kpis = APIRouter(prefix="/kpi", tags=["kpi"], responses=REFUSALS)

KpiFigures: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "KpiFigures",
    __doc__="The figures of one group in one period (archive/kpi.py; docs/ARCHITECTURE.md).",
    group=(str, ...),
    period=(str, ...),
    **{name: (Any, None) for name in KPI_FIELDS if name not in ("group", "period")},
)


class KpiList(BaseModel):
    figures: list[KpiFigures]  # type: ignore[valid-type]
    as_of: datetime


@kpis.get("", response_model=KpiList, summary="The KPIs of the cases the sender may see")
def get_kpis(
    who: Who,
    conn: Conn,
    the_site: OfSite,
    by: By = By.UNIT,
    period: Period = Period.MONTH,
    since: date | None = None,
    until: date | None = None,
) -> dict[str, Any]:
    now = datetime.now(UTC)
    found = kpi_figures(conn, by, period, now, the_site.tz, since, until, scope(who, the_site))
    return {"figures": [f.as_dict() for f in found], "as_of": now}


ROUTERS = [cases, units, queue, kpis]
"""Every area, in the order they are mounted."""


def create_app(settings: Settings, engine: Engine | None = None, site: Site | None = None):
    """The API over the archive at ``settings.database_url`` (or ``engine``)."""
    app = FastAPI(
        title="gridflow query API",
        version="1",
        description=__doc__,
    )
    app.state.site = site or load_site(settings.site)
    app.state.engine = engine or make_engine(settings.database_url)
    app.state.tokens = Tokens(app.state.site, settings.api_tokens)
    for router in ROUTERS:
        app.include_router(router)
    from services.api.room import room  # 指挥大屏; here, since it imports this module

    app.include_router(room)
    return app


def serve(settings: Settings) -> None:
    """Serve the query API on ``settings.api_host``:``settings.api_port``."""
    import uvicorn

    uvicorn.run(create_app(settings), host=settings.api_host, port=settings.api_port)
