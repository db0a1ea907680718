"""SQL DeadlineStore: the ``escalator_deadlines`` table, on SQLite or PostgreSQL."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Index,
    Integer,
    String,
    Table,
    bindparam,
    delete,
    false,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Row

from escalator.ports import Deadline, DeadlineStore
from schemas.cases import DeadlineKind
from schemas.reports import Tier
from services.storage.db import Transaction, metadata
from services.storage.types import UtcDateTime

deadlines = Table(
    "escalator_deadlines",
    metadata,
    Column("case_id", String(64), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("seq", Integer, nullable=False),
    Column("unit_id", String(160), nullable=False),
    Column("tier", String(16), nullable=False),
    Column("due_at", UtcDateTime, nullable=False),
    Column("warn_at", UtcDateTime, nullable=True),
    Column("working_days", Integer, nullable=False),
    Column("correlation_id", String(64), nullable=False),
    Column("warned", Boolean, nullable=False, default=False),
    Index(None, "due_at"),
    Index(None, "warned", "warn_at"),  # warnings_due: unwarned rows by warn_at
)


def _row(d: Deadline) -> dict[str, Any]:
    return {
        "case_id": d.case_id,
        "kind": d.kind.value,
        "seq": d.seq,
        "unit_id": d.unit_id,
        "tier": d.tier.value,
        "due_at": d.due_at,
        "warn_at": d.warn_at,
        "working_days": d.working_days,
        "correlation_id": d.correlation_id,
        "warned": d.warned,
    }


def _deadline(r: Row[Any]) -> Deadline:
    return Deadline(
        case_id=r.case_id,
        kind=DeadlineKind(r.kind),
        seq=r.seq,
        unit_id=r.unit_id,
        tier=Tier(r.tier),
        due_at=r.due_at,
        warn_at=r.warn_at,
        working_days=r.working_days,
        correlation_id=r.correlation_id,
        warned=bool(r.warned),
    )


def _exactly(d: Deadline) -> dict[str, Any]:
    return {"b_case": d.case_id, "b_kind": d.kind.value, "b_seq": d.seq, "b_due": d.due_at}


# Statements built once, values bound at execution: rebuilding them per call
# cost more than running them.
_c = deadlines.c
_INSERT = insert(deadlines)
_DROP_ALL = delete(deadlines).where(_c.case_id == bindparam("b_case"))
_DROP_ONE = _DROP_ALL.where(_c.kind == bindparam("b_kind"))
_DROP_KINDS = _DROP_ALL.where(_c.kind.in_(bindparam("b_kinds", expanding=True)))
# Exactly one deadline: its (case, kind) row, and only while it still holds the same
# assignment's deadline (seq, due_at), not one re-armed since it was read.
_EXACTLY = (
    _c.case_id == bindparam("b_case"),
    _c.kind == bindparam("b_kind"),
    _c.seq == bindparam("b_seq"),
    _c.due_at == bindparam("b_due", type_=UtcDateTime),
)
_REMOVE = delete(deadlines).where(*_EXACTLY)
_MARK = update(deadlines).where(*_EXACTLY, _c.warned == false()).values(warned=True)
_GET = select(deadlines).where(_c.case_id == bindparam("b_case")).order_by(_c.kind)
_DUE = (
    select(deadlines)
    .where(_c.due_at <= bindparam("now", type_=UtcDateTime))
    .order_by(_c.due_at, _c.case_id, _c.kind)
    .limit(bindparam("limit"))
)
_WARNINGS = (
    select(deadlines)
    .where(
        _c.warned == false(),  # "= false", not "IS false": the index can serve it
        _c.warn_at <= bindparam("now", type_=UtcDateTime),
        _c.due_at > bindparam("now", type_=UtcDateTime),
    )
    .order_by(_c.warn_at, _c.case_id, _c.kind)
    .limit(bindparam("limit"))
)


class SqlDeadlineStore(DeadlineStore):
    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    def put(self, deadline: Deadline) -> None:
        # DELETE then INSERT, not the dialects' ON CONFLICT DO UPDATE: SQLAlchemy 2.0
        # never caches those compiled (sqlalchemy#10445), ~1 ms a row. Nothing here
        # assumes one writer per case: any escalator instance's tick may remove or
        # mark a case's deadlines while this runs, but only by an exact match (see
        # remove), so it cannot touch the row inserted here. Two puts of one
        # (case, kind) racing (a partition handed over mid-batch) cannot leave two
        # rows: the second INSERT fails on the primary key and its transaction rolls back.
        self.drop(deadline.case_id, (deadline.kind,))
        self._tx.conn.execute(_INSERT, _row(deadline))

    def drop(self, case_id: str, kinds: Collection[DeadlineKind] | None = None) -> None:
        if kinds is None:
            self._tx.conn.execute(_DROP_ALL, {"b_case": case_id})
        elif len(kinds) == 1:  # the hot path (put): no expanding IN to render
            (kind,) = kinds
            self._tx.conn.execute(_DROP_ONE, {"b_case": case_id, "b_kind": kind.value})
        else:
            params = {"b_case": case_id, "b_kinds": [k.value for k in kinds]}
            self._tx.conn.execute(_DROP_KINDS, params)

    def due(self, now: datetime, limit: int) -> list[Deadline]:
        rows = self._tx.conn.execute(_DUE, {"now": now, "limit": limit})
        return [_deadline(r) for r in rows]

    def warnings_due(self, now: datetime, limit: int) -> list[Deadline]:
        rows = self._tx.conn.execute(_WARNINGS, {"now": now, "limit": limit})
        return [_deadline(r) for r in rows]

    def remove(self, deadline: Deadline) -> bool:
        return self._tx.conn.execute(_REMOVE, _exactly(deadline)).rowcount > 0

    def mark_warned(self, deadline: Deadline) -> bool:
        return self._tx.conn.execute(_MARK, _exactly(deadline)).rowcount > 0

    def get(self, case_id: str) -> list[Deadline]:
        return [_deadline(r) for r in self._tx.conn.execute(_GET, {"b_case": case_id})]
