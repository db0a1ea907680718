"""Engine, shared metadata, the inbox of processed event ids, and the batch transaction.

Every processor's state lives in SQL (SQLite in the embedded runtime, PostgreSQL
with Kafka), each in tables of its own, all declared on :data:`metadata` so one
migration history covers them. A processor records the event ids it has
processed in :data:`inbox` in the same transaction as the state they changed: a
redelivered or re-published message is recognised there and skipped, which turns
at-least-once delivery into effectively-once processing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    String,
    Table,
    bindparam,
    create_engine,
    event,
    text,
)

from services.storage.types import UtcDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

inbox = Table(
    "inbox",
    metadata,
    Column("processor", String(64), primary_key=True),
    Column("event_id", String(64), primary_key=True),
    Column("processed_at", UtcDateTime, nullable=False, index=True),
)


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
    """Which event ids a processor has already processed."""

    def __init__(self, tx: Transaction, processor: str) -> None:
        self._tx = tx
        self._processor = processor

    # Plain text, so it compiles once: SQLAlchemy 2.0 does not cache the dialects'
    # insert().on_conflict_do_nothing() (sqlalchemy#10445), and this runs per message.
    _FIRST_TIME = text(
        "INSERT INTO inbox (processor, event_id, processed_at) VALUES (:p, :e, :t) "
        "ON CONFLICT DO NOTHING"
    ).bindparams(bindparam("t", type_=UtcDateTime()))

    def first_time(self, event_id: str, at: datetime) -> bool:
        """Record ``event_id``; True when it had not been processed before."""
        params = {"p": self._processor, "e": event_id, "t": at}
        return self._tx.conn.execute(self._FIRST_TIME, params).rowcount == 1
