"""SQL CaseStore: the ``router_cases`` table, on SQLite or PostgreSQL.

The ids, stage and counters are columns (to query by); the case and its current
assignment are JSON documents, dumped with pydantic's JSON mode and validated
back on read, so their datetimes come back timezone-aware on either database.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Index,
    Integer,
    String,
    Table,
    bindparam,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Row

from router.ports import CaseFile, CaseStore
from schemas.cases import Assignment, Stage
from schemas.reports import Case
from services.storage.db import Transaction, metadata
from services.storage.types import JsonDocument

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
    Index(None, "unit_id", "stage"),  # a unit's open cases
)


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
        "case_json": f.case.model_dump(mode="json"),
        "assignment_json": f.assignment.model_dump(mode="json"),
    }


def _file(r: Row[Any]) -> CaseFile:
    return CaseFile(
        case=Case.model_validate(r.case_json),
        stage=Stage(r.stage),
        assignment=Assignment.model_validate(r.assignment_json),
        escalations=r.escalations,
        lapsed=bool(r.lapsed),
        rating=r.rating,
    )


# Built once with bound parameters, so each compiles once and is reused per message.
# FOR UPDATE (PostgreSQL; SQLite has one writer anyway): a case's messages normally
# reach one router instance (co-partitioning), but if a client partitions
# differently, a second instance waits for the first's commit instead of
# overwriting it.
_GET = select(cases).where(cases.c.case_id == bindparam("key")).with_for_update()
_UPDATE = (
    update(cases)
    .where(cases.c.case_id == bindparam("key"))
    .values({c.name: bindparam(f"new_{c.name}") for c in cases.c if c.name != "case_id"})
)
_INSERT = insert(cases)


class SqlCaseStore(CaseStore):
    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    def get(self, case_id: str) -> CaseFile | None:
        row = self._tx.conn.execute(_GET, {"key": case_id}).first()
        return _file(row) if row is not None else None

    def put(self, file: CaseFile) -> None:
        row = _row(file)
        conn = self._tx.conn
        params = {f"new_{k}": v for k, v in row.items() if k != "case_id"}
        if conn.execute(_UPDATE, {"key": file.case_id, **params}).rowcount == 0:
            conn.execute(_INSERT, row)
