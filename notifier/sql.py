"""The outbox and the residents' contacts in SQL (SQLite or PostgreSQL).

``notifier_outbox`` holds one row per delivery, keyed by its idempotency key: the
notifier's batch inserts them in its transaction (a key already there is left
alone); the sender claims due rows under a lease and records each outcome in a
short transaction of its own. A claim is two statements that work on both
databases: select the due keys, then set the lease on those still free (the
``WHERE`` is checked again under the row lock, so two senders never hold one row;
PostgreSQL's ``SKIP LOCKED`` keeps them from waiting on each other), then read
back the rows that carry this claim's token.

``notifier_contacts`` keeps how to reach a case's reporter from its report until
it is closed. Both tables hold personal data (a resident's phone, email, callback
URL, and the text sent to them): README, "Who sees what".
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    Index,
    Integer,
    Select,
    String,
    Table,
    Text,
    and_,
    case,
    func,
    literal,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.engine import Row

from notifier.ports import (
    Claimed,
    Contact,
    Contacts,
    Outbox,
    OutboxEntry,
    OutboxRow,
    OutboxStatus,
)
from schemas.notifications import NotificationChannel
from storage.db import MAX_ROWS, Transaction, dialect_insert, metadata, upsert
from storage.types import UtcDateTime

outbox = Table(
    "notifier_outbox",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("channel", String(16), nullable=False),
    Column("recipient", String(160), nullable=False),
    Column("address", String(2048), nullable=False),
    Column("template", String(64), nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("case_id", String(64), nullable=True),
    Column("subject", String(500), nullable=True),
    Column("body", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_at", UtcDateTime, nullable=False),
    Column("lease_until", UtcDateTime, nullable=True),
    Column("lease_token", String(64), nullable=True),
    Column("http_status", Integer, nullable=True),
    Column("error", String(2000), nullable=True),
    Column("done_at", UtcDateTime, nullable=True),
    Index(None, "status", "next_at"),  # what is due
)

contacts = Table(
    "notifier_contacts",
    metadata,
    Column("case_id", String(64), primary_key=True),
    Column("channel", String(32), nullable=False),
    Column("phone", String(64), nullable=True),
    Column("email", String(320), nullable=True),
    Column("callback_url", String(2048), nullable=True),
    Column("external_id", String(128), nullable=True),
    Column("callback_reference", String(128), nullable=True),  # migration 0010
)

_PENDING = OutboxStatus.PENDING.value


def _entry(row: Row[Any]) -> OutboxEntry:
    return OutboxEntry(
        key=row.key,
        channel=NotificationChannel(row.channel),
        recipient=row.recipient,
        address=row.address,
        template=row.template,
        event_id=row.event_id,
        event_type=row.event_type,
        case_id=row.case_id,
        body=row.body,
        subject=row.subject,
        created_at=row.created_at,
    )


class SqlOutbox(Outbox):
    """The outbox on the connection of ``tx``'s open transaction."""

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx

    def enqueue(self, entries: Sequence[OutboxEntry]) -> None:
        if not entries:
            return
        conn = self.tx.conn
        stmt = dialect_insert(conn)(outbox).on_conflict_do_nothing()
        rows = [
            {
                "key": e.key,
                "channel": e.channel.value,
                "recipient": e.recipient,
                "address": e.address,
                "template": e.template,
                "event_id": e.event_id,
                "event_type": e.event_type,
                "case_id": e.case_id,
                "subject": e.subject,
                "body": e.body,
                "created_at": e.created_at,
                "status": _PENDING,
                "attempts": 0,
                "next_at": e.created_at,
                "lease_until": None,
                "lease_token": None,
                "http_status": None,
                "error": None,
                "done_at": None,
            }
            for e in dict((e.key, e) for e in entries).values()
        ]
        for i in range(0, len(rows), MAX_ROWS):
            conn.execute(stmt, rows[i : i + MAX_ROWS])

    def claim(
        self,
        now: datetime,
        limit: int,
        lease_seconds: float,
        token: str,
        skip: Collection[str] = (),
        room: Mapping[str, int] | None = None,
        per_address: int | None = None,
    ) -> list[Claimed]:
        conn = self.tx.conn
        free = or_(outbox.c.lease_until.is_(None), outbox.c.lease_until <= now)
        due = and_(outbox.c.status == _PENDING, outbox.c.next_at <= now, free)
        query = select(outbox.c.key).where(due)
        if skip:
            query = query.where(outbox.c.address.not_in(list(skip)))
        if per_address is None and not room:
            query = query.order_by(outbox.c.next_at).limit(limit)
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
        else:
            query = _per_address(query, limit, room or {}, per_address)
        # one statement: the due keys (locked, skipping those another sender locks), leased
        # if still free under the row lock, read back with their new attempt count
        rows = conn.execute(
            update(outbox)
            .where(outbox.c.key.in_(query.scalar_subquery()), outbox.c.status == _PENDING, free)
            .values(
                attempts=outbox.c.attempts + 1,
                lease_until=now + timedelta(seconds=lease_seconds),
                lease_token=token,
            )
            .returning(*outbox.c)
        ).all()
        rows.sort(key=lambda r: (r.next_at, r.key))
        return [Claimed(_entry(r), r.attempts, token) for r in rows]

    def _finish(self, key: str, token: str, **values: Any) -> bool:
        result = self.tx.conn.execute(
            update(outbox)
            .where(
                outbox.c.key == key,
                outbox.c.lease_token == token,
                outbox.c.status == _PENDING,
            )
            .values(lease_until=None, lease_token=None, **values)
        )
        return bool(result.rowcount)

    def release(self, key: str, token: str) -> bool:
        return self._finish(key, token, attempts=outbox.c.attempts - 1)

    def delivered_all(self, done: Sequence[tuple[str, str, int | None]], at: datetime) -> set[str]:
        """One statement per HTTP status (mostly one a round): rows still held by their
        claim's token."""
        groups: dict[int | None, list[tuple[str, str]]] = {}
        for key, token, http_status in done:
            groups.setdefault(http_status, []).append((key, token))
        held: set[str] = set()
        for http_status, pairs in groups.items():
            result = self.tx.conn.execute(
                update(outbox)
                .where(
                    tuple_(outbox.c.key, outbox.c.lease_token).in_(pairs),
                    outbox.c.status == _PENDING,
                )
                .values(
                    status=OutboxStatus.DELIVERED.value,
                    done_at=at,
                    http_status=http_status,
                    error=None,
                    lease_until=None,
                    lease_token=None,
                )
                .returning(outbox.c.key)
            )
            held.update(result.scalars())
        return held

    def delivered(self, key: str, token: str, at: datetime, http_status: int | None) -> bool:
        return self._finish(
            key,
            token,
            status=OutboxStatus.DELIVERED.value,
            done_at=at,
            http_status=http_status,
            error=None,
        )

    def retry(
        self, key: str, token: str, at: datetime, error: str, http_status: int | None
    ) -> bool:
        return self._finish(key, token, next_at=at, error=error[:2000], http_status=http_status)

    def dead(self, key: str, token: str, at: datetime, error: str, http_status: int | None) -> bool:
        return self._finish(
            key,
            token,
            status=OutboxStatus.DEAD.value,
            done_at=at,
            error=error[:2000],
            http_status=http_status,
        )

    def replay(self, now: datetime, keys: Collection[str] | None = None) -> int:
        stmt = update(outbox).where(outbox.c.status == OutboxStatus.DEAD.value)
        if keys is not None:
            stmt = stmt.where(outbox.c.key.in_(list(keys)))
        result = self.tx.conn.execute(
            stmt.values(status=_PENDING, attempts=0, next_at=now, done_at=None)
        )
        return int(result.rowcount)

    def rows(self, status: OutboxStatus | None = None, limit: int = 100) -> list[OutboxRow]:
        query = select(outbox)
        if status is not None:
            query = query.where(outbox.c.status == status.value)
        query = query.order_by(outbox.c.created_at.desc(), outbox.c.key).limit(limit)
        return [
            OutboxRow(
                _entry(r),
                OutboxStatus(r.status),
                r.attempts,
                r.next_at,
                r.lease_until,
                r.http_status,
                r.error,
                r.done_at,
            )
            for r in self.tx.conn.execute(query)
        ]

    def next_due(self) -> datetime | None:
        """The earliest pending ``next_at``, or lease end where a lease is later."""
        conn = self.tx.conn
        pending = outbox.c.status == _PENDING
        free = conn.execute(
            select(outbox.c.next_at)
            .where(pending, outbox.c.lease_until.is_(None))
            .order_by(outbox.c.next_at)
            .limit(1)
        ).scalar()
        leased = conn.execute(
            select(outbox.c.lease_until)
            .where(pending, outbox.c.lease_until.is_not(None))
            .order_by(outbox.c.lease_until)
            .limit(1)
        ).scalar()
        times = [t for t in (free, leased) if t is not None]
        return min(times, default=None)


SCAN = 50
"""A claim ranks at most ``SCAN x limit`` of the oldest due rows by address."""


def _per_address(
    due: Select[Any], limit: int, room: Mapping[str, int], per_address: int | None
) -> Select[Any]:
    """The oldest due keys, at most each address's room of one address: the oldest
    ``SCAN x limit`` due rows, numbered within their address, those under the room.

    A window function cannot take ``FOR UPDATE``, so these rows are not locked: the
    claim's ``UPDATE`` locks them and checks again that they are free, so two senders
    still never hold one row (the second waits on the first's lock, then finds it taken).
    """
    oldest = (
        due.add_columns(outbox.c.address, outbox.c.next_at)
        .order_by(outbox.c.next_at)
        .limit(SCAN * limit)
        .subquery()
    )
    number = (
        func.row_number()
        .over(partition_by=oldest.c.address, order_by=(oldest.c.next_at, oldest.c.key))
        .label("n")
    )
    ranked = select(oldest.c.key, oldest.c.next_at, oldest.c.address, number).subquery()
    cap: Any = literal(per_address if per_address is not None else 1_000_000)
    if room:
        cap = case(dict(room), value=ranked.c.address, else_=cap)
    return select(ranked.c.key).where(ranked.c.n <= cap).order_by(ranked.c.next_at).limit(limit)


class SqlContacts(Contacts):
    def __init__(self, tx: Transaction) -> None:
        self.tx = tx

    def remember(self, found: Mapping[str, Contact]) -> None:
        rows = [
            {
                "case_id": case_id,
                "channel": c.channel,
                "phone": c.phone,
                "email": c.email,
                "callback_url": c.callback_url,
                "external_id": c.external_id,
                "callback_reference": c.callback_reference,
            }
            for case_id, c in found.items()
        ]
        for i in range(0, len(rows), MAX_ROWS):
            upsert(self.tx.conn, contacts, rows[i : i + MAX_ROWS])

    def recall(self, case_ids: Collection[str]) -> dict[str, Contact]:
        ids = list(case_ids)
        out: dict[str, Contact] = {}
        for i in range(0, len(ids), MAX_ROWS):
            query = select(contacts).where(contacts.c.case_id.in_(ids[i : i + MAX_ROWS]))
            for r in self.tx.conn.execute(query):
                out[r.case_id] = Contact(
                    r.channel, r.phone, r.email, r.callback_url, r.external_id, r.callback_reference
                )
        return out

    def forget(self, case_ids: Collection[str]) -> None:
        ids = list(case_ids)
        for i in range(0, len(ids), MAX_ROWS):
            chunk = ids[i : i + MAX_ROWS]
            self.tx.conn.execute(contacts.delete().where(contacts.c.case_id.in_(chunk)))
