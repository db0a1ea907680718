"""SQL DeadlineStore: the ``escalator_deadlines`` table, on SQLite or PostgreSQL.

A batch of the case story costs one SELECT of its cases' rows (with their paused
ones, from the small ``escalator_paused`` table: a UNION ALL), then at most one DELETE of
exactly the rows it removed or changed and one multi-row INSERT of the new ones
(each chunked at :data:`storage.db.MAX_ROWS` rows; a suspension or a resume adds
the same pair on the paused table). A tick's removals and
warning marks are one DELETE and one UPDATE, each with RETURNING (PostgreSQL, and
SQLite since 3.35), so it learns which rows it really took.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

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
    func,
    insert,
    null,
    select,
    text,
    true,
    tuple_,
    type_coerce,
    update,
)
from sqlalchemy.engine import Row

from escalator.ports import Deadline, DeadlineStore
from schemas.cases import DeadlineKind, LimitUnit
from schemas.reports import Tier
from storage.db import MAX_ROWS, Transaction, metadata
from storage.types import UtcDateTime

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
    # counted on a year no official schedule covered (escalator.calendar), and when its
    # clock began, so that it can be counted again once the schedule is known
    Column("provisional", Boolean, nullable=False, default=False, server_default=false()),
    Column("started_at", UtcDateTime, nullable=True),
    # the limit's unit (working_days holds its amount) and the site override that set
    # it, so a lapse names its clock and a provisional one can be counted again
    Column(
        "unit", String(16), nullable=False, default="working_days", server_default="working_days"
    ),
    Column("policy", String(64), nullable=True),
    Index(None, "due_at"),
    Index(None, "warned", "warn_at"),  # warnings_due: unwarned rows by warn_at
    # provisional(): the few provisional rows by slot, without walking the others
    Index(
        "ix_escalator_deadlines_provisional",
        "case_id",
        "kind",
        postgresql_where=text("provisional"),
        sqlite_where=text("provisional = 1"),
    ),
)

# Deadlines a suspension stopped (escalator.suspension), kept apart: a tick's look-ups
# (due, warnings, provisional, next due) read escalator_deadlines alone and never
# meet them, whatever their due_at. The same columns, with when it stopped and the
# time it had left; a case's batch loads both tables, and a resume moves the row back.
paused = Table(
    "escalator_paused",
    metadata,
    *(c._copy() for c in deadlines.columns),
    Column("paused_at", UtcDateTime, nullable=False),
    Column("remaining_seconds", Integer, nullable=False),
)

T = TypeVar("T")
_Exact = tuple[str, str, int, datetime]


def _row(d: Deadline) -> dict[str, Any]:
    return {
        "case_id": d.case_id,
        "kind": d.slot,
        "seq": d.seq,
        "unit_id": d.unit_id,
        "tier": d.tier.value,
        "due_at": d.due_at,
        "warn_at": d.warn_at,
        "working_days": d.working_days,
        "correlation_id": d.correlation_id,
        "warned": d.warned,
        "provisional": d.provisional,
        "started_at": d.started_at,
        "unit": d.unit.value,
        "policy": d.policy,
    }


def _deadline(r: Row[Any]) -> Deadline:
    kind, _, part = r.kind.partition(".")  # the slot: a co-handler's is assist.<part>
    return Deadline(
        case_id=r.case_id,
        kind=DeadlineKind(kind),
        part=int(part) if part else 0,
        seq=r.seq,
        unit_id=r.unit_id,
        tier=Tier(r.tier),
        due_at=r.due_at,
        warn_at=r.warn_at,
        working_days=r.working_days,
        correlation_id=r.correlation_id,
        warned=bool(r.warned),
        provisional=bool(r.provisional),
        started_at=r.started_at,
        unit=LimitUnit(r.unit),
        policy=r.policy,
    )


def _paused_row(d: Deadline) -> dict[str, Any]:
    return {**_row(d), "paused_at": d.paused_at, "remaining_seconds": d.remaining_seconds}


def _paused(r: Row[Any]) -> Deadline:
    return replace(_deadline(r), paused_at=r.paused_at, remaining_seconds=r.remaining_seconds)


def _exact(d: Deadline) -> _Exact:
    return (d.case_id, d.slot, d.seq, d.due_at)


def _matching(exact: Sequence[_Exact]) -> dict[str, Any]:
    """The parameters of :data:`_EXACTLY` for these exact keys."""
    return {"b_cases": list(dict.fromkeys(k[0] for k in exact)), "b_exact": list(exact)}


def _chunks(items: Sequence[T]) -> Iterator[Sequence[T]]:
    """Slices of at most MAX_ROWS: SQLite binds at most 32,766 parameters a statement."""
    for start in range(0, len(items), MAX_ROWS):
        yield items[start : start + MAX_ROWS]


# Statements built once, values bound at execution (the IN lists expand then):
# rebuilding them per call cost more than running them.
_c = deadlines.c
# Exactly these deadlines: each one's (case, kind) row, and only while it still holds
# the same assignment's deadline (seq, due_at), not one re-armed since it was read.
# SQLite scans the whole table for a row-value IN alone: the plain IN on case_id
# beside it is what lets it search the primary key.
_EXACTLY = (
    _c.case_id.in_(bindparam("b_cases", expanding=True)),
    tuple_(_c.case_id, _c.kind, _c.seq, _c.due_at).in_(bindparam("b_exact", expanding=True)),
)
_TAKEN = (_c.case_id, _c.kind, _c.seq, _c.due_at)
_p = paused.c
# A batch's rows, running and paused, in one statement: the paused table is small, and
# a case is in one of the two per (case, kind). The running rows have no pause.
_LOAD = (
    select(
        deadlines,
        type_coerce(null(), UtcDateTime).label("paused_at"),
        type_coerce(null(), Integer).label("remaining_seconds"),
    )
    .where(_c.case_id.in_(bindparam("b_cases", expanding=True)))
    .union_all(select(paused).where(_p.case_id.in_(bindparam("b_cases", expanding=True))))
    .order_by("case_id", "kind")
)
# Executed with a list of rows, SQLAlchemy renders this as one multi-row INSERT (its
# "insertmanyvalues", compiled once), on SQLite too only because of the RETURNING,
# whose rows are not needed. insert().values(rows) renders the same statement but
# compiles it anew each time: ten times slower for a batch of 1000 rows.
_INSERT = insert(deadlines).returning(_c.case_id)
_DROP = delete(deadlines).where(*_EXACTLY)
_PAUSED_INSERT = insert(paused).returning(_p.case_id)
_PAUSED_DROP = delete(paused).where(
    _p.case_id.in_(bindparam("b_cases", expanding=True)),
    tuple_(_p.case_id, _p.kind, _p.seq, _p.due_at).in_(bindparam("b_exact", expanding=True)),
)
_REMOVE = _DROP.returning(*_TAKEN)
_MARK = (
    update(deadlines)
    # "IS NOT true": no index serves it, so SQLite searches the primary key for the
    # exact rows instead of walking the warned index over every unwarned row
    .where(*_EXACTLY, _c.warned.is_not(true()))
    .values(warned=True)
    .returning(*_TAKEN)
)
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
# The next moment a tick has work, in one statement of two index lookups: the least
# due_at (its index), and the least warn_at of the unwarned rows (the (warned, warn_at)
# index, as warnings_due reads it). Two scalars, compared in Python: SQLite has no
# LEAST, and its two-argument min() is NULL when either side is.
_NEXT_DUE = select(
    select(func.min(_c.due_at)).scalar_subquery().label("due"),
    select(func.min(_c.warn_at)).where(_c.warned == false()).scalar_subquery().label("warn"),
)

_PROVISIONAL = (
    select(deadlines)
    .where(_c.provisional == true())
    .order_by(_c.case_id, _c.kind)
    .limit(bindparam("limit"))
)
_PROVISIONAL_AFTER = (
    select(deadlines)
    .where(
        _c.provisional == true(),
        tuple_(_c.case_id, _c.kind) > tuple_(bindparam("a_case"), bindparam("a_kind")),
    )
    .order_by(_c.case_id, _c.kind)
    .limit(bindparam("limit"))
)
# One row, exactly as read (seq, due_at), takes its new times: a rescheduling is rare
# (once per provisional deadline, when a schedule arrives), so one statement a row.
_RESCHEDULE = (
    update(deadlines)
    .where(
        _c.case_id == bindparam("o_case"),
        _c.kind == bindparam("o_kind"),
        _c.seq == bindparam("o_seq"),
        _c.due_at == bindparam("o_due", type_=UtcDateTime),
    )
    .values(
        due_at=bindparam("n_due", type_=UtcDateTime),
        warn_at=bindparam("n_warn", type_=UtcDateTime),
        warned=bindparam("n_warned"),
        provisional=bindparam("n_provisional"),
    )
    .returning(_c.case_id)
)


# One row's warning sent: exactly as read (seq, due_at, warn_at, not yet warned), it
# takes its next warning moment, or is warned once none is left. One statement a row,
# as each row's next moment is its own.
_ADVANCE = (
    update(deadlines)
    .where(
        _c.case_id == bindparam("o_case"),
        _c.kind == bindparam("o_kind"),
        _c.seq == bindparam("o_seq"),
        _c.due_at == bindparam("o_due", type_=UtcDateTime),
        _c.warn_at == bindparam("o_warn", type_=UtcDateTime),
        _c.warned.is_not(true()),
    )
    .values(warn_at=bindparam("n_warn", type_=UtcDateTime), warned=bindparam("n_warned"))
    .returning(_c.case_id)
)


class SqlDeadlineStore(DeadlineStore):
    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    def load(self, case_ids: Collection[str]) -> dict[str, list[Deadline]]:
        ids = list(dict.fromkeys(case_ids))
        out: dict[str, list[Deadline]] = {c: [] for c in ids}
        for chunk in _chunks(ids):
            for r in self._tx.conn.execute(_LOAD, {"b_cases": list(chunk)}):
                out[r.case_id].append(_paused(r) if r.paused_at is not None else _deadline(r))
        return out

    def write(self, removed: Sequence[Deadline], added: Sequence[Deadline]) -> None:
        # Nothing here assumes one writer per case: any escalator instance's tick may
        # remove or mark a case's rows meanwhile, and this DELETE matches exactly, so a
        # row taken by a tick is not resurrected and a marked one still goes. Two
        # batches arming one (case, kind) at once (a partition handed over mid-batch)
        # cannot leave two rows: the second INSERT fails on the primary key and its
        # transaction rolls back.
        # A paused deadline lives in escalator_paused: it is removed from there and
        # added there, so pausing and resuming are a DELETE here and an INSERT there.
        conn = self._tx.conn
        for table, drop in ((False, _DROP), (True, _PAUSED_DROP)):
            gone = [_exact(d) for d in removed if (d.paused_at is not None) is table]
            for chunk in _chunks(gone):
                conn.execute(drop, _matching(chunk))
        running = [_row(d) for d in added if d.paused_at is None]
        for rows in _chunks(running):
            conn.execute(_INSERT, list(rows))
        stopped = [_paused_row(d) for d in added if d.paused_at is not None]
        for rows in _chunks(stopped):
            conn.execute(_PAUSED_INSERT, list(rows))

    def due(self, now: datetime, limit: int) -> list[Deadline]:
        rows = self._tx.conn.execute(_DUE, {"now": now, "limit": limit})
        return [_deadline(r) for r in rows]

    def warnings_due(self, now: datetime, limit: int) -> list[Deadline]:
        rows = self._tx.conn.execute(_WARNINGS, {"now": now, "limit": limit})
        return [_deadline(r) for r in rows]

    def remove(self, deadlines: Sequence[Deadline]) -> list[Deadline]:
        return self._taking(_REMOVE, deadlines)

    def next_due(self) -> datetime | None:
        row = self._tx.conn.execute(_NEXT_DUE).one()
        return min((t for t in (row.due, row.warn) if t is not None), default=None)

    def advance_warnings(self, pairs: Sequence[tuple[Deadline, Deadline]]) -> list[Deadline]:
        # The last warning of each row (the only one, on a site warning once) is one
        # UPDATE for them all, as before; a row with a next moment of its own, one each.
        last = [old for old, new in pairs if new.warned]
        ending = {d.exact for d in last}
        marked = {d.exact for d in self._taking(_MARK, last)} if last else set()
        moved = {d.exact for d in self._moving([p for p in pairs if p[0].exact not in ending])}
        return [old for old, _ in pairs if old.exact in marked | moved]

    def _moving(self, pairs: Sequence[tuple[Deadline, Deadline]]) -> list[Deadline]:
        out = []
        for old, new in pairs:
            params = {
                "o_case": old.case_id,
                "o_kind": old.slot,
                "o_seq": old.seq,
                "o_due": old.due_at,
                "o_warn": old.warn_at,
                "n_warn": new.warn_at,
                "n_warned": new.warned,
            }
            if self._tx.conn.execute(_ADVANCE, params).first() is not None:
                out.append(old)
        return out

    def mark_warned(self, deadlines: Sequence[Deadline]) -> list[Deadline]:
        return self._taking(_MARK, deadlines)

    def provisional(self, after: tuple[str, str] | None, limit: int) -> list[Deadline]:
        if after is None:
            rows = self._tx.conn.execute(_PROVISIONAL, {"limit": limit})
        else:
            params = {"a_case": after[0], "a_kind": str(after[1]), "limit": limit}
            rows = self._tx.conn.execute(_PROVISIONAL_AFTER, params)
        return [_deadline(r) for r in rows]

    def reschedule(self, pairs: Sequence[tuple[Deadline, Deadline]]) -> list[Deadline]:
        out = []
        for old, new in pairs:
            if (old.case_id, old.slot) != (new.case_id, new.slot):
                raise ValueError("a deadline is rescheduled in its own (case, kind) slot")
            params = {
                "o_case": old.case_id,
                "o_kind": old.slot,
                "o_seq": old.seq,
                "o_due": old.due_at,
                "n_due": new.due_at,
                "n_warn": new.warn_at,
                "n_warned": new.warned,
                "n_provisional": new.provisional,
            }
            if self._tx.conn.execute(_RESCHEDULE, params).first() is not None:
                out.append(new)
        return out

    def _taking(self, stmt: Any, wanted: Sequence[Deadline]) -> list[Deadline]:
        """Run ``stmt`` on exactly ``wanted``; the ones its RETURNING reported, in order."""
        by_exact = {_exact(d): d for d in wanted}
        taken: set[_Exact] = set()
        for chunk in _chunks(list(by_exact)):
            rows = self._tx.conn.execute(stmt, _matching(chunk))
            taken.update((r.case_id, r.kind, r.seq, r.due_at) for r in rows)
        return [d for key, d in by_exact.items() if key in taken]
