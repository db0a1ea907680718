"""The archive's read queries: a case and its history, a unit's open and overdue cases,
the dispatch queue, the rows the KPIs are computed from. SQL only; no HTTP here, so
the CLI (``gridflow case ...``) and the HTTP API ask the same questions the same way.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from archive.ports import ArchivedEvent
from archive.projection import CaseRow
from archive.sql import archive_cases, archive_events
from schemas.cases import Stage

PERSONAL = frozenset(
    {"reporter", "location", "placement", "title", "description", "attachments", "note", "comment"}
)
"""Payload fields that are, or may quote, a resident's personal data or free text."""

LIMIT = 1000
"""Most rows a list returns."""

_C = archive_cases.c
_CASE = [_C[f.name] for f in fields(CaseRow)]
"""archive_cases's columns in CaseRow's field order: rows build positionally (faster)."""


def _row(r: Any) -> CaseRow:
    return CaseRow(*r)


def case_row(conn: Connection, case_id: str) -> CaseRow | None:
    found = conn.execute(select(*_CASE).where(_C.case_id == case_id)).first()
    return _row(found) if found else None


def cases_by_external_id(
    conn: Connection, external_id: str, channel: str | None = None
) -> list[CaseRow]:
    """The cases of a channel's own number (a hotline work order, 工单号)."""
    stmt = select(*_CASE).where(_C.external_id == external_id)
    if channel is not None:
        stmt = stmt.where(_C.channel == channel)
    return [_row(r) for r in conn.execute(stmt.order_by(_C.case_id).limit(LIMIT))]


def history(conn: Connection, case_id: str) -> list[ArchivedEvent]:
    """Every archived event of the case, by occurred_at then event id."""
    e = archive_events.c
    names = [f.name for f in fields(ArchivedEvent)]
    stmt = (
        select(*(e[n] for n in names))
        .where(e.case_id == case_id)
        .order_by(e.occurred_at, e.event_id)
    )
    return [ArchivedEvent(**r._mapping) for r in conn.execute(stmt)]


def open_cases(
    conn: Connection, unit_id: str | None = None, overdue_at: datetime | None = None
) -> list[CaseRow]:
    """Open cases (every stage but closed), of ``unit_id`` if given; with ``overdue_at``,
    only those whose current due time has passed by then (逾期)."""
    stmt = select(*_CASE).where(_C.stage != Stage.CLOSED.value)
    if unit_id is not None:
        stmt = stmt.where(_C.unit_id == unit_id)
    if overdue_at is not None:
        stmt = stmt.where(_C.due_at < overdue_at)
    stmt = stmt.order_by(_C.due_at, _C.case_id).limit(LIMIT)
    return [_row(r) for r in conn.execute(stmt)]


def dispatch_queue(conn: Connection) -> list[CaseRow]:
    """The cases waiting in a command room's dispatch queue (人工分拨), oldest first."""
    stmt = (
        select(*_CASE)
        .where(_C.stage == Stage.QUEUED.value)
        .order_by(_C.stage_at, _C.case_id)
        .limit(LIMIT)
    )
    return [_row(r) for r in conn.execute(stmt)]


def all_cases(conn: Connection, chunk: int = 10_000) -> Iterator[CaseRow]:
    """Every case row, streamed (the KPIs' input)."""
    result = conn.execution_options(stream_results=True, yield_per=chunk).execute(select(*_CASE))
    for r in result:
        yield _row(r)


def redacted(payload: Any) -> Any:
    """``payload`` with every personal field (:data:`PERSONAL`) blanked, at any depth."""
    if isinstance(payload, Mapping):
        return {k: (None if k in PERSONAL else redacted(v)) for k, v in payload.items()}
    if isinstance(payload, list):
        return [redacted(v) for v in payload]
    return payload
