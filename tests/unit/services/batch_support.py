"""A fake processor over the memory broker and SQLite, for the BatchRunner tests.

The processor writes a row per command it accepts, so what was committed and what
was rolled back can be read back from the database.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import Column, Engine, MetaData, String, Table, insert, select

from schemas.cases import CaseAccepted, StepPayload
from schemas.codec import decode, encode
from schemas.commands import AcceptCase
from schemas.deadletter import FieldError, MessageRejected, Rejected, RejectionReason
from schemas.envelope import Model
from schemas.processing import Inbound, Outcome, one_at_a_time
from schemas.topics import (
    CASE_EVENTS,
    CASE_UPDATES,
    CATALOGUE,
    DEADLETTER,
    Emit,
    Record,
    topic_named,
)
from services.metrics import Metrics
from services.runtime.batch import BatchRunner, Outgoing, Refused, outgoing
from services.runtime.clock import SimulatedClock
from services.runtime.memory import MemoryBroker, MemorySink
from services.settings import ErrorPolicy
from storage.db import Transaction, inbox
from tests.support.sites import SHANGHAI

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=SHANGHAI)
NAME = "fake"

_own = MetaData()
fake_state = Table(  # not on the shared metadata: the migrations must not see it
    "fake_state",
    _own,
    Column("case_id", String(64), primary_key=True),
    Column("note", String(64), nullable=False),
)


class FakeProcessor:
    """Accepts AcceptCase: writes a row, emits CaseAccepted. Notes steer it:
    'boom' raises after writing, 'refuse' raises Rejected before writing; 'surrogate'
    emits text that cannot be serialised, 'badkey' a key that cannot be encoded,
    'big' an output of 5,000 bytes and more, 'flushfail' one that holds REFUSED_MARK."""

    name = NAME
    topics = (CASE_UPDATES.name,)

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx
        self.seen: list[str] = []
        self.due: list[Emit] = []
        self.tick_limit = 1000

    def handle(self, batch: Sequence[Inbound]) -> list[Outcome]:
        return one_at_a_time(self._one, batch)

    def _one(self, message: Model, now: datetime) -> list[Emit]:
        assert isinstance(message, AcceptCase)
        note = message.payload.note or ""
        self.seen.append(message.event_id)
        if note == "refuse":
            error = FieldError(loc="payload.note", msg="not accepted here", type="conflict")
            raise Rejected(RejectionReason.CONFLICT, "case held elsewhere", [error])
        self.tx.conn.execute(insert(fake_state).values(case_id=message.case_id, note=note))
        if note == "boom":
            raise RuntimeError("the logic broke")
        event = CaseAccepted.derive(
            message.payload, producer=NAME, now=now, case_id=message.case_id, cause=message
        )
        key = message.case_id
        if note in _POISON_NOTES:  # model_copy does not validate: what a buggy logic can make
            payload = event.payload.model_copy(update={"note": _POISON_NOTES[note]})
            event = event.model_copy(update={"payload": payload})
        if note == "badkey":
            key = f"{message.case_id}\udc80"
        return [Emit(CASE_EVENTS.name, key, event)]

    def tick(self, now: datetime) -> list[Emit]:
        """Like the escalator: at most ``tick_limit`` due items a call, each once."""
        out, self.due = self.due[: self.tick_limit], self.due[self.tick_limit :]
        return out


REFUSED_MARK = "refused-at-flush"
_POISON_NOTES = {"surrogate": "half a pair \ud800", "big": "x" * 5000, "flushfail": REFUSED_MARK}


class BrokenSink:
    """Sends, then fails to get the broker's acknowledgement."""

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []

    def limit(self) -> int | None:
        return None

    def size(self, message: Outgoing) -> int:
        return len(message.value)

    def send(self, messages: Sequence[Outgoing]) -> None:
        self.sent.extend(messages)

    def flush(self) -> None:
        raise ConnectionError("no ack from the broker")


class RefusingSink(MemorySink):
    """A memory sink whose broker refuses, at flush, every message holding ``marker``
    (as Kafka does with RecordTooLargeError): the others are appended."""

    def __init__(
        self, broker: MemoryBroker, clock_now: Callable[[], datetime], marker: bytes
    ) -> None:
        super().__init__(broker, clock_now)
        self.marker = marker
        self.refusals = 0
        self._refused: dict[int, str] = {}
        self._sent = 0

    def send(self, messages: Sequence[Outgoing | Emit]) -> None:
        for item in messages:
            message = outgoing(item)
            if self.marker in message.value:
                self._refused[self._sent] = "RecordTooLargeError"
            else:
                super().send([message])
            self._sent += 1

    def flush(self) -> None:
        refused, self._refused, self._sent = self._refused, {}, 0
        if refused:
            self.refusals += len(refused)
            raise Refused(refused)


class Harness:
    """The fake processor's BatchRunner, its broker and database, and ways to read them."""

    def __init__(
        self,
        engine: Engine,
        on_error: ErrorPolicy = ErrorPolicy.DEADLETTER,
        max_message_bytes: int | None = None,
    ) -> None:
        _own.create_all(engine)
        self.engine = engine
        self.broker = MemoryBroker(max_message_bytes)
        self.broker.create_topics(t.name for t in CATALOGUE)
        self.clock = SimulatedClock(NOW)
        self.metrics = Metrics()
        self.tx = Transaction(engine)
        self.processor = FakeProcessor(self.tx)
        self.runner = BatchRunner(
            self.processor,
            self.tx,
            MemorySink(self.broker, self.clock.now),
            self.metrics,
            on_error,
        )

    def published(self, topic: str) -> list[tuple[bytes | None, Model]]:
        """(key, message) of every record on ``topic``."""
        return [(r.key, decode(topic_named(topic), r.value)) for r in self.broker.read(topic)]

    def letters(self) -> list[MessageRejected]:
        return [m for _, m in self.published(DEADLETTER.name)]  # type: ignore[misc]

    def state(self) -> dict[str, str]:
        with self.engine.connect() as conn:
            return dict(conn.execute(select(fake_state.c.case_id, fake_state.c.note)).all())

    def inbox(self) -> set[str]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(inbox.c.event_id).where(inbox.c.processor == NAME))
            return set(rows.scalars())

    def metric(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


def command(case_id: str, note: str = "ok") -> AcceptCase:
    """An AcceptCase whose note steers the fake processor."""
    step = StepPayload(unit_id="zs.urban", seq=1, at=NOW, note=note)
    return AcceptCase.derive(step, producer="unit", now=NOW, case_id=case_id, key=(note,))


def rec(
    value: bytes | Model | None,
    offset: int,
    partition: int = 2,
    topic: str = "",
    at: datetime = NOW,
) -> Record:
    raw = value if value is None or isinstance(value, bytes) else encode(value)
    return Record(
        topic=topic or CASE_UPDATES.name,
        value=raw,
        key=b"k",
        partition=partition,
        offset=offset,
        timestamp=at,
    )
