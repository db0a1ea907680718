"""Engine, shared metadata, the inbox of processed event ids, the batch transaction,
and the bodies of cut-down dead letters.

Every processor's state lives in SQL (SQLite in the embedded runtime, PostgreSQL
with Kafka), each in tables of its own, all declared on :data:`metadata` so one
migration history covers them. A processor records the event ids it has
processed in :data:`inbox` in the same transaction as the state they changed: a
redelivered or re-published message is recognised there and skipped, which turns
at-least-once delivery into effectively-once processing.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    create_engine,
    event,
)
from sqlalchemy.dialects import postgresql, sqlite

from storage.types import JsonDocument, UtcDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)
MAX_ROWS = 1000
"""Most rows one multi-row statement writes; a larger batch takes several."""

inbox = Table(
    "inbox",
    metadata,
    Column("processor", String(64), primary_key=True),
    Column("event_id", String(64), primary_key=True),
    Column("processed_at", UtcDateTime, nullable=False, index=True),
)

dead_letter_bodies = Table(
    "dead_letter_bodies",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("topic", String(255), nullable=False),
    Column("partition", Integer, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("key", LargeBinary),
    Column("value", LargeBinary),
    Column("headers", JsonDocument, nullable=False),
    Column("stored_at", UtcDateTime, nullable=False),
)
"""The full bytes of records whose dead letter was too large to publish whole.

The letter carries a prefix and the value's SHA-256 (``digest``); the record is
kept here, in the transaction of the batch that refused it. Identical values are
kept once: the first record's topic, partition, offset, key and headers stay.
Headers are ``[{"key": ..., "base64": ...}]``.
"""


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite gets foreign keys on and WAL journaling.

    Statement parameters are hidden from error messages: they hold residents'
    names, phones and addresses, and error messages reach the logs.
    """
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            if ":memory:" not in url:
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


class Transaction:
    """Hands the connection of the batch in progress to the SQL adapters.

    The runtime opens one transaction per batch; adapters built on this object
    read and write through :attr:`conn`, so a batch's state changes and its inbox
    rows commit together, or not at all.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Connection | None = None

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        if self._conn is not None:
            raise RuntimeError("a transaction is already open")
        with self.engine.begin() as conn:
            self._conn = conn
            try:
                yield conn
            finally:
                self._conn = None

    @property
    def conn(self) -> Connection:
        if self._conn is None:
            raise RuntimeError("no transaction is open: adapters are used inside begin()")
        return self._conn


class Inbox:
    """Which event ids a processor has already processed: the one idempotency mechanism.

    A batch's ids are checked and recorded by one statement, in the batch's
    transaction, so they commit together with the state the batch changed.
    """

    def __init__(self, tx: Transaction, processor: str) -> None:
        self._tx = tx
        self._processor = processor

    def first_times(self, event_ids: Sequence[str], at: datetime) -> set[str]:
        """Record ``event_ids``; the ones not processed before (each id once)."""
        ids = list(dict.fromkeys(event_ids))
        if not ids:
            return set()
        key = ("inbox", self._tx.conn.dialect.name)
        stmt = _UPSERTS.get(key)
        if stmt is None:  # built once: see upsert() for why not VALUES per batch
            base = dialect_insert(self._tx.conn)(inbox)
            stmt = _UPSERTS[key] = base.on_conflict_do_nothing().returning(inbox.c.event_id)
        rows = [{"processor": self._processor, "event_id": e, "processed_at": at} for e in ids]
        return set(self._tx.conn.execute(stmt, rows).scalars())


_UPSERTS: dict[tuple[str, str], Any] = {}


def upsert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` into ``table``, replacing the rows with the same primary key.

    One statement, built once per table and dialect, executed over all the rows: on
    PostgreSQL as multi-row INSERTs of up to 1,000 rows (SQLAlchemy's
    "insertmanyvalues", which it uses for a statement with RETURNING), on SQLite as
    one prepared statement run in-process. Building the VALUES of a batch into the
    statement instead costs ten times more: SQLAlchemy compiles it anew each time.
    """
    if not rows:
        return
    key = (table.name, conn.dialect.name)
    stmt = _UPSERTS.get(key)
    if stmt is None:
        base = dialect_insert(conn)(table)
        keys = [c.name for c in table.primary_key.columns]
        stmt = base.on_conflict_do_update(
            index_elements=keys,
            set_={c.name: base.excluded[c.name] for c in table.columns if c.name not in keys},
        )
        if conn.dialect.name == "postgresql":
            stmt = stmt.returning(*table.primary_key.columns)
        _UPSERTS[key] = stmt
    result = conn.execute(stmt, list(rows))
    if conn.dialect.name == "postgresql":
        result.close()


def keep_dead_letter_body(
    conn: Connection,
    *,
    digest: str,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes]],
    at: datetime,
) -> None:
    """Keep a record's bytes under ``digest`` (once: a second copy changes nothing)."""
    row = {
        "digest": digest,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "key": key,
        "value": value,
        "headers": [{"key": k, "base64": base64.b64encode(v).decode("ascii")} for k, v in headers],
        "stored_at": at,
    }
    conn.execute(dialect_insert(conn)(dead_letter_bodies).on_conflict_do_nothing(), [row])


def dialect_insert(conn: Connection) -> Any:
    """The dialect's INSERT, which has ON CONFLICT (PostgreSQL and SQLite 3.24+)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert
    if conn.dialect.name == "sqlite":
        return sqlite.insert
    raise NotImplementedError(
        f"gridflow stores state on PostgreSQL or SQLite, not {conn.dialect.name}"
    )
