"""The command-room page (指挥大屏): read-only and live, in Chinese with English.

``GET /room`` is the page: its frame, and the site's grids drawn as SVG from
``boundaries.geojson`` on the server, so no map library or outside tile server is
needed (the network is closed). It holds no case data. ``GET /room/data`` is what the
page polls every few seconds, with the command room's bearer token, which the page
takes from the URL fragment (``/room#token=...``, never sent to the server or logged)
and keeps in the tab's sessionStorage. The data holds only the cases the room's
jurisdiction contains (``Viewer.may_see``) and never a resident's personal data:

- open and overdue cases by unit and tier, and by grid for the map. Overdue (超时) is
  past its current due time now, or with a deadline that lapsed (it escalated);
- the dispatch queue (人工分拨);
- the three rates for today and this month so far, in the site's timezone: 办结率
  (completion), 及时办结率 (on-time completion) and 满意率 (satisfaction), each
  exactly as archive/kpi.py defines it and counted by ``archive.sql.kpi_figures``,
  the one source of every KPI (so 及时办结率 is over the cases due in the period, open
  ones included, and is "—" on a day nothing fell due);
- the latest escalations (升级).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import shapely
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import Connection, Integer, case, func, or_, select

from archive.kpi import By, Period, totals
from archive.sql import archive_cases, archive_events, kpi_figures
from schemas.cases import CaseEscalated, Stage
from schemas.catalogue import Site
from services.api import queries
from services.api.app import Conn, OfSite, Who, scope
from services.api.auth import Viewer

HERE = Path(__file__).resolve().parent
POLL_SECONDS = 5
ESCALATIONS_SHOWN = 20
MAP_WIDTH = 640
STATIC = {"room.js": "text/javascript", "room.css": "text/css"}
TIER_NAMES = {
    "grid": "网格 grid",
    "community": "社区 community",
    "street": "街道 street",
    "district": "区 district",
    "city": "市 city",
}

_templates = Environment(
    loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"])
)
room = APIRouter(prefix="/room", tags=["room"])
_C = archive_cases.c


@room.get("", response_class=HTMLResponse, summary="The command-room page (指挥大屏)")
def page(request: Request) -> HTMLResponse:
    the_site: Site = request.app.state.site
    html = _templates.get_template("room.html").render(
        site=the_site, svg=grid_svg(the_site), poll_seconds=POLL_SECONDS, tiers=TIER_NAMES
    )
    return HTMLResponse(html)


@room.get("/static/{name}", include_in_schema=False)
def static(name: str) -> Response:
    if name not in STATIC:
        raise HTTPException(404, f"no static file {name!r}")
    return Response((HERE / "static" / name).read_bytes(), media_type=STATIC[name])


@room.get("/data", summary="What the command-room page shows, for a command room")
def data(who: Who, conn: Conn, the_site: OfSite) -> dict[str, Any]:
    if not who.is_room:
        raise HTTPException(403, f"{who.id} may not see the command room: command rooms only")
    now = datetime.now(the_site.tz)
    return {
        "generated_at": now.isoformat(),
        "viewer": who.id,
        **open_and_overdue(conn, the_site, who, now),
        "queue": dispatch_queue(conn, the_site, who),
        "rates": {
            "today": rates(conn, the_site, who, Period.DAY, now),
            "month": rates(conn, the_site, who, Period.MONTH, now),
        },
        "escalations": escalations(conn, the_site, who),
    }


# --- the figures ------------------------------------------------------------------


def _sees(who: Viewer, the_site: Site, unit_id: str | None, grid_id: str | None) -> bool:
    return who.may_see(the_site, unit_id, grid_id, None)


def _unit_name(the_site: Site, unit_id: str | None) -> str:
    unit = the_site.unit(unit_id) if unit_id else None
    return unit.name if unit is not None else (unit_id or "—")


@dataclass
class _Counts:
    open: int = 0
    overdue: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def add(self, n: int, late: int) -> None:
        self.open += n
        self.overdue += late

    def as_dict(self) -> dict[str, Any]:
        return {"open": self.open, "overdue": self.overdue, **self.extra}


def open_and_overdue(
    conn: Connection, the_site: Site, who: Viewer, now: datetime
) -> dict[str, Any]:
    """Open and overdue cases by unit (with its tier), by tier and by grid: one grouped
    query, its groups kept where the room may see them."""
    late = or_(_C.due_at < now.astimezone(UTC), _C.lapsed_deadlines > 0)
    rows = conn.execute(
        select(
            _C.unit_id,
            _C.tier,
            _C.grid_id,
            func.count(),
            func.sum(case((late, 1), else_=0).cast(Integer)),
        )
        .where(_C.stage != Stage.CLOSED.value)
        .group_by(_C.unit_id, _C.tier, _C.grid_id)
    ).all()
    units: dict[str, _Counts] = {}
    tiers: dict[str, _Counts] = {t: _Counts() for t in TIER_NAMES}
    grids: dict[str, _Counts] = {}
    for unit_id, tier, grid_id, n, overdue in rows:
        if not _sees(who, the_site, unit_id, grid_id):
            continue
        overdue = int(overdue or 0)
        key = unit_id or "—"
        if key not in units:
            units[key] = _Counts(
                extra={"unit_id": key, "name": _unit_name(the_site, unit_id), "tier": tier}
            )
        units[key].add(n, overdue)
        tiers.setdefault(tier or "unknown", _Counts()).add(n, overdue)
        if grid_id:
            grids.setdefault(grid_id, _Counts()).add(n, overdue)
    by_unit = sorted(
        (c.as_dict() for c in units.values()), key=lambda u: (-u["overdue"], -u["open"])
    )
    return {
        "totals": {
            "open": sum(c.open for c in tiers.values()),
            "overdue": sum(c.overdue for c in tiers.values()),
        },
        "by_tier": {t: c.as_dict() for t, c in tiers.items()},
        "by_unit": by_unit,
        "grids": {g: c.as_dict() for g, c in sorted(grids.items())},
    }


def rates(
    conn: Connection, the_site: Site, who: Viewer, period: Period, now: datetime
) -> dict[str, Any]:
    """The rates of today or this month (local) as of ``now``: archive/kpi.py's figures,
    counted by the database over the cases the room may see. The period runs to its
    end, not to ``now``: a case due later in it that is closed already counts (as the
    KPIs count it), one still open does not yet."""
    today = now.astimezone(the_site.tz).date()
    if period is Period.DAY:
        since = last = today
    else:
        since = today.replace(day=1)
        last = (since + timedelta(days=31)).replace(day=1) - timedelta(days=1)
    found = kpi_figures(conn, By.ALL, period, now, the_site.tz, since, last, scope(who, the_site))
    f = totals(found)

    def share(rate: float | None) -> float | None:
        return None if rate is None else round(rate, 4)

    return {
        "from": datetime.combine(since, time(0), the_site.tz).isoformat(),
        "received": f.received,
        "closed": f.closed,
        "due": f.completion_due,
        "rated": f.ratings,
        "completion": share(f.completion_rate),
        "on_time": share(f.on_time_rate),
        "satisfaction": share(f.satisfaction_rate),
    }


def dispatch_queue(conn: Connection, the_site: Site, who: Viewer) -> list[dict[str, Any]]:
    return [
        {
            "case_id": r.case_id,
            "category": r.category,
            "grid_id": r.grid_id,
            "last_unit": _unit_name(the_site, r.unit_id),
            "since": r.stage_at.isoformat() if r.stage_at else None,
        }
        for r in queries.dispatch_queue(conn)
        if _sees(who, the_site, r.unit_id, r.grid_id)
    ]


def escalations(conn: Connection, the_site: Site, who: Viewer) -> list[dict[str, Any]]:
    """The latest escalations the room may see, newest first; ids and tiers only."""
    e = archive_events.c
    rows = conn.execute(
        select(e.case_id, e.occurred_at, e.payload, _C.grid_id, _C.unit_id)
        .join(archive_cases, _C.case_id == e.case_id)
        .where(e.type == CaseEscalated.TYPE)
        .order_by(e.occurred_at.desc(), e.event_id)
        .limit(ESCALATIONS_SHOWN * 10)
    ).all()
    out = []
    for case_id, at, payload, grid_id, unit_id in rows:
        if not _sees(who, the_site, unit_id, grid_id):
            continue
        to_unit = payload.get("to_unit_id")
        out.append(
            {
                "case_id": case_id,
                "at": at.astimezone(the_site.tz).isoformat(),
                "from_tier": payload.get("from_tier"),
                "to_tier": payload.get("to_tier"),
                "to_unit": _unit_name(the_site, to_unit) if to_unit else "督办 supervised",
                "grid_id": grid_id,
            }
        )
        if len(out) == ESCALATIONS_SHOWN:
            break
    return out


# --- the map ----------------------------------------------------------------------


@dataclass(frozen=True)
class GridShape:
    grid_id: str
    name: str
    path: str


def grid_svg(the_site: Site) -> dict[str, Any] | None:
    """The site's grids as SVG paths in one viewBox (an equirectangular projection,
    longitude scaled by the cosine of the middle latitude); None without boundaries."""
    grid_map = the_site.grid_map
    if grid_map is None or not grid_map.grids:
        return None
    shapes = {g: grid_map.shapes[g] for g in grid_map.grids}
    minx, miny, maxx, maxy = shapely.total_bounds(list(shapes.values()))
    kx = math.cos(math.radians((miny + maxy) / 2))
    scale = MAP_WIDTH / max((maxx - minx) * kx, 1e-9)
    height = (maxy - miny) * scale

    def point(lon: float, lat: float) -> str:
        return f"{(lon - minx) * kx * scale:.1f},{(maxy - lat) * scale:.1f}"

    names = {j.id: j.name for j in the_site.jurisdictions}
    out = []
    for grid_id, shape in shapes.items():
        parts = []
        for polygon in getattr(shape, "geoms", [shape]):
            for ring in [polygon.exterior, *polygon.interiors]:
                coords = list(ring.coords)
                parts.append("M" + " L".join(point(x, y) for x, y in coords) + " Z")
        out.append(GridShape(grid_id, names.get(grid_id, grid_id), " ".join(parts)))
    return {"width": MAP_WIDTH, "height": round(height, 1), "grids": out}
