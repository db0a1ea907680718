"""SQL CaseStore: the ``router_cases`` table, on SQLite or PostgreSQL.

The ids, stage and counters are columns (to query by); the case and its current
assignment are JSON documents, dumped with pydantic's JSON mode. On read the
assignment and the case's facts are validated (so their datetimes come back
timezone-aware on either database); the rest of the case is carried unread.
A batch's files are loaded with one query and written back with one multi-row
upsert.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    String,
    Table,
    and_,
    bindparam,
    or_,
    select,
    text,
)
from sqlalchemy.engine import Row

from router.ports import (
    CaseFile,
    CaseStore,
    NearbyCase,
    OpenRequest,
    Probe,
    Queued,
    Suspension,
    point_of,
)
from schemas.cases import Assignment, Stage
from schemas.reports import CaseFacts
from storage.db import MAX_ROWS, Transaction, metadata, upsert
from storage.types import JsonDocument, UtcDateTime

cases = Table(
    "router_cases",
    metadata,
    Column("case_id", String(64), primary_key=True),
    Column("stage", String(16), nullable=False),
    Column("unit_id", String(160), nullable=False),
    Column("tier", String(16), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("escalations", Integer, nullable=False),
    Column("lapsed", Boolean, nullable=False),
    Column("rating", Integer, nullable=True),
    Column("case_json", JsonDocument, nullable=False),
    Column("assignment_json", JsonDocument, nullable=False),
    # a suspension or extension awaiting its decision, and a suspension in force
    Column("request_json", JsonDocument, nullable=True),
    Column("suspension_json", JsonDocument, nullable=True),
    # the units that returned it (退回), and its place in the dispatch queue (人工分拨)
    Column("returns_json", JsonDocument, nullable=True),
    Column("queue_json", JsonDocument, nullable=True),
    # how many times it went back to the unit (重办); revision 0008
    Column("reopenings", Integer, nullable=False, server_default=text("0")),
    # the near-duplicate lookup (router/duplicates.py); revision 0011
    Column("category", String(64), nullable=True),
    Column("lat", Float, nullable=True),
    Column("lon", Float, nullable=True),
    Column("reported_at", UtcDateTime, nullable=True),
    # the co-handlers (协办) that reported their part of the current assignment; 0013
    Column("parts_json", JsonDocument, nullable=True),
    Index(None, "unit_id", "stage"),  # a unit's open cases
    Index(None, "category", "lat"),  # open cases near a point
)


_FACTS = tuple(CaseFacts.model_fields)


def _row(f: CaseFile) -> dict[str, Any]:
    return {
        "case_id": f.case_id,
        "stage": f.stage.value,
        "unit_id": f.assignment.unit_id,
        "tier": f.assignment.tier.value,
        "seq": f.assignment.seq,
        "escalations": f.escalations,
        "lapsed": f.lapsed,
        "rating": f.rating,
        "case_json": f.document,
        "assignment_json": f.assignment.model_dump(mode="json"),
        "request_json": f.request.model_dump(mode="json") if f.request else None,
        "suspension_json": f.suspension.model_dump(mode="json") if f.suspension else None,
        "returns_json": list(f.returned_by) if f.returned_by else None,
        "queue_json": f.queued.model_dump(mode="json") if f.queued else None,
        "reopenings": f.reopenings,
        "category": f.case.category,
        "lat": point[0] if (point := point_of(f.document)) else None,
        "lon": point[1] if point else None,
        "reported_at": f.case.reported_at,
        "parts_json": list(f.parts) if f.parts else None,
    }


def _file(r: Row[Any]) -> CaseFile:
    doc = r.case_json
    return CaseFile(
        case=CaseFacts.model_validate({k: doc[k] for k in _FACTS}),
        document=doc,
        stage=Stage(r.stage),
        assignment=Assignment.model_validate(r.assignment_json),
        escalations=r.escalations,
        lapsed=bool(r.lapsed),
        rating=r.rating,
        request=OpenRequest.model_validate(r.request_json) if r.request_json else None,
        suspension=Suspension.model_validate(r.suspension_json) if r.suspension_json else None,
        returned_by=tuple(r.returns_json or ()),
        queued=Queued.model_validate(r.queue_json) if r.queue_json else None,
        reopenings=r.reopenings,
        parts=tuple(r.parts_json or ()),
    )


# FOR UPDATE (PostgreSQL; SQLite has one writer anyway): a case's messages normally
# reach one router instance (co-partitioning), but if a client partitions
# differently, a second instance waits for the first's commit instead of
# overwriting it.
_LOAD = (
    select(cases)
    .where(cases.c.case_id.in_(bindparam("ids", expanding=True)))
    .order_by(cases.c.case_id)  # rows locked in one order: two instances never deadlock
    .with_for_update()
)


_NEAR = (
    cases.c.case_id,
    cases.c.category,
    cases.c.lat,
    cases.c.lon,
    cases.c.reported_at,
    cases.c.unit_id,
)
_PROBES_A_QUERY = 200
"""Boxes OR-ed in one statement: a batch of 500 reports is three statements."""


class SqlCaseStore(CaseStore):
    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    def load(self, case_ids: Collection[str]) -> dict[str, CaseFile]:
        ids = sorted(set(case_ids))
        out: dict[str, CaseFile] = {}
        for start in range(0, len(ids), MAX_ROWS):
            rows = self._tx.conn.execute(_LOAD, {"ids": ids[start : start + MAX_ROWS]})
            out.update((r.case_id, _file(r)) for r in rows)
        return out

    def open_near(self, probes: Sequence[Probe]) -> list[NearbyCase]:
        out: list[NearbyCase] = []
        for start in range(0, len(probes), _PROBES_A_QUERY):
            boxes = [
                and_(
                    cases.c.category == p.category,
                    cases.c.lat.between(p.lat_min, p.lat_max),
                    cases.c.lon.between(p.lon_min, p.lon_max),
                    cases.c.reported_at.between(p.since, p.until),
                )
                for p in probes[start : start + _PROBES_A_QUERY]
            ]
            query = select(*_NEAR).where(cases.c.stage != Stage.CLOSED.value, or_(*boxes))
            out += [NearbyCase(**r._mapping) for r in self._tx.conn.execute(query)]
        return out

    def save(self, files: Sequence[CaseFile]) -> None:
        upsert(self._tx.conn, cases, [_row(f) for f in files])
